#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/conv1d.hpp"

namespace nn_test_conv1d {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("Conv1D computes x·W + b with W stored (In, Out), as HF GPT-2", "[nn][conv1d]") {
  std::mt19937 rng(0);
  Conv1D<3, 2> layer(rng);
  static_assert(std::is_same_v<decltype(layer.weight)::shape_type, Shape<3, 2>>);
  layer.weight.value() = Tensor<float, Shape<3, 2>>(Shape<3, 2>{}, {1, 0,  //
                                                                     0, 1,  //
                                                                     2, -1});
  layer.bias.value() = Tensor<float, Shape<2>>(Shape<2>{}, {0.5f, -0.5f});
  auto step = tape();
  Tensor<float, Shape<dyn, dyn, 3>> x(Shape<dyn, dyn, 3>{1, 2}, {1, 2, 3, 4, 5, 6});
  auto y = layer(constant(x));
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, dyn, 2>>);
  CHECK(y.value()(0, 0, 0) == Approx(1 + 6 + 0.5));
  CHECK(y.value()(0, 1, 1) == Approx(5 - 6 - 0.5));
}

TEST_CASE("Conv1D starts with N(0, 0.02²) weights and a zero bias", "[nn][conv1d][init]") {
  std::mt19937 rng(1);
  Conv1D<64, 64> layer(rng);
  double sum = 0, squares = 0;
  for (float w : layer.weight.value().span()) sum += w, squares += double(w) * w;
  const double n = 64 * 64, mean = sum / n;
  CHECK(std::abs(mean) < 0.002);
  CHECK(std::sqrt(squares / n - mean * mean) == Approx(0.02).epsilon(0.05));
  for (float b : layer.bias.value().span()) CHECK(b == 0.0f);
}

TEST_CASE("Conv1D passes the gradient check for input, weight and bias", "[nn][conv1d][gradcheck]") {
  std::mt19937 rng(2);
  Conv1D<5, 3, double> layer(rng);
  nn_test::randomize_parameters(layer, 3);
  auto x = nn_test::random_input<5>(2, 3, 4);
  CHECK(check_gradients([&](auto v) { return layer(v); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return layer(constant(x)); }, layer.weight, layer.bias));
}

TEST_CASE("Conv1D rejects a dynamic input width that is not In", "[nn][conv1d]") {
  std::mt19937 rng(0);
  Conv1D<4, 2> layer(rng);
  auto step = tape();
  Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{2, 5}, 0.0f);
  REQUIRE_THROWS_WITH(layer(constant(x)), Catch::Contains("Conv1D<4, 2>") && Catch::Contains("(dyn=2, dyn=5)"));
}

}  // namespace nn_test_conv1d
