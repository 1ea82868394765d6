#include <catch2/catch.hpp>

#include <random>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/nn/linear.hpp"

namespace nn_test_linear {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("Linear computes x·Wᵀ + b with W stored (Out, In)", "[nn][linear]") {
  std::mt19937 rng(0);
  Linear<3, 2> layer(rng);
  layer.weight.value() = Tensor<float, Shape<2, 3>>(Shape<2, 3>{}, {1, 0, 2, 0, 1, -1});
  layer.bias->value() = Tensor<float, Shape<2>>(Shape<2>{}, {0.5f, -0.5f});
  auto step = tape();
  Tensor<float, Shape<dyn, dyn, 3>> x(Shape<dyn, dyn, 3>{1, 2}, {1, 2, 3, 4, 5, 6});
  auto y = layer(constant(x));
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, dyn, 2>>);
  CHECK(y.value()(0, 0, 0) == Approx(1 + 6 + 0.5));
  CHECK(y.value()(0, 1, 1) == Approx(5 - 6 - 0.5));
}

TEST_CASE("Linear's default weights are the same with every standard library", "[nn][linear][init]") {
  // U(±1/√3) from std::mt19937(5489), whose raw outputs the standard fixes (3499211612,
  // 581869302, 3890346734, ...; tests/core/test_distributions.cpp): weight = fma(2b, u, −b) in
  // float with b = 1/√3 and u = (output >> 8)·2^-24, worked out in exact rational arithmetic.
  std::mt19937 rng(5489);
  Linear<3, 2> layer(rng);
  CHECK(layer.weight.value()(0, 0) == 0.3634115755558014f);
  CHECK(layer.weight.value()(0, 1) == -0.4209149479866028f);
  CHECK(layer.weight.value()(0, 2) == 0.4685680866241455f);
}

TEST_CASE("Linear rejects a dynamic input width that is not In", "[nn][linear]") {
  std::mt19937 rng(0);
  Linear<4, 2> layer(rng);
  auto step = tape();
  Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{2, 5}, 0.0f);
  REQUIRE_THROWS_WITH(layer(constant(x)), Catch::Contains("Linear<4, 2>") && Catch::Contains("(dyn=2, dyn=5)"));
}

TEST_CASE("Linear accumulates weight and bias gradients, a frozen layer gets none", "[nn][linear][autograd]") {
  std::mt19937 rng(1);
  Linear<5, 3, double> layer(rng);
  std::mt19937_64 r64(2);
  auto x = random_tensor(Shape<dyn, 5>{4}, r64);
  auto seed = random_tensor(Shape<dyn, 3>{4}, r64);
  {
    auto step = tape();
    backward(layer(constant(x)), seed.view());
  }
  // db = column sums of the seed; dW = seedᵀ·x
  for (int o = 0; o < 3; ++o) {
    double db = 0;
    for (int i = 0; i < 4; ++i) db += seed(i, o);
    CHECK(layer.bias->grad()(o) == Approx(db));
    for (int k = 0; k < 5; ++k) {
      double dw = 0;
      for (int i = 0; i < 4; ++i) dw += seed(i, o) * x(i, k);
      CHECK(layer.weight.grad()(o, k) == Approx(dw));
    }
  }
  layer.weight.zero_grad();
  layer.bias->zero_grad();
  layer.weight.freeze();
  {
    auto step = tape();
    backward(layer(constant(x)), seed.view());
  }
  CHECK(layer.weight.grad()(0, 0) == 0.0);
  CHECK(layer.bias->grad()(0) != 0.0);
}

}  // namespace nn_test_linear
