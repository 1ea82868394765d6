#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/swiglu.hpp"
#include "ranklens/ops/unary.hpp"

namespace ops_test_arithmetic {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("add broadcasts a row over a batch and sums its gradient back", "[ops][arithmetic]") {
  auto step = tape();
  Tensor<float, Shape<dyn, 3>> x(Shape<dyn, 3>{2}, {1, 2, 3, 4, 5, 6});
  Tensor<float, Shape<3>> b(Shape<3>{}, {10, 20, 30});
  auto xv = variable(x);
  auto bv = variable(b);
  auto y = xv + bv;
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, 3>>);
  CHECK(y.value()(1, 2) == 36.0f);
  Tensor<float, Shape<dyn, 3>> seed(Shape<dyn, 3>{2}, 1.0f);
  backward(y, seed.view());
  CHECK(bv.grad()(0) == 2.0f);
  CHECK(xv.grad()(1, 1) == 1.0f);
}

TEST_CASE("add rejects run-time shapes that do not broadcast, naming both", "[ops][arithmetic]") {
  auto step = tape();
  Tensor<float, Shape<dyn, 3>> x(Shape<dyn, 3>{2}, 0.0f);
  Tensor<float, Shape<dyn, 3>> z(Shape<dyn, 3>{3}, 0.0f);
  REQUIRE_THROWS_WITH(variable(x) + variable(z), Catch::Contains("add") && Catch::Contains("(dyn=2, 3)") && Catch::Contains("(dyn=3, 3)"));
}

TEST_CASE("binary ops and scalar forms pass the gradient check with broadcasting", "[ops][arithmetic][gradcheck]") {
  std::mt19937_64 rng(1);
  auto a = random_tensor(Shape<dyn, 1, 5>{3}, rng);
  auto b = random_tensor(Shape<4, 5>{}, rng, 0.5, 1.5);
  CHECK(check_gradients([](auto x, auto y) { return x + y; }, a, b));
  CHECK(check_gradients([](auto x, auto y) { return x - y; }, a, b));
  CHECK(check_gradients([](auto x, auto y) { return x * y; }, a, b));
  CHECK(check_gradients([](auto x, auto y) { return x / y; }, a, b));
  CHECK(check_gradients([](auto x) { return 2.0 / (3.0 * x - 7.0); }, b));
  CHECK(check_gradients([](auto x) { return -x + 1.5; }, a));
}

TEST_CASE("each layout path (same shape, row broadcast, general) differentiates", "[ops][arithmetic][gradcheck]") {
  std::mt19937_64 rng(11);
  auto x = random_tensor(Shape<dyn, 4, 5>{3}, rng);
  auto same = random_tensor(Shape<dyn, 4, 5>{3}, rng, 0.5, 1.5);
  auto row = random_tensor(Shape<4, 5>{}, rng, 0.5, 1.5);
  auto padded_row = random_tensor(Shape<1, 1, 5>{}, rng, 0.5, 1.5);
  auto column = random_tensor(Shape<dyn, 4, 1>{3}, rng, 0.5, 1.5);
  for (auto* other : {&same}) {
    CHECK(check_gradients([](auto a, auto b) { return a * b; }, x, *other));
    CHECK(check_gradients([](auto a, auto b) { return a / b; }, x, *other));
  }
  CHECK(check_gradients([](auto a, auto b) { return a - b; }, x, row));
  CHECK(check_gradients([](auto a, auto b) { return a / b; }, x, row));
  CHECK(check_gradients([](auto a, auto b) { return a * b; }, x, padded_row));
  CHECK(check_gradients([](auto a, auto b) { return b / a; }, x, column));   // a broadcast left operand
  CHECK(check_gradients([](auto a, auto b) { return a + b; }, x, column));
}

TEST_CASE("swiglu equals silu(gate) * up and passes the gradient check in every layout", "[ops][arithmetic][gradcheck]") {
  std::mt19937_64 rng(12);
  auto gate = random_tensor(Shape<dyn, 4, 37>{3}, rng, -6.0, 6.0);  // 37: a vector tail
  auto up = random_tensor(Shape<dyn, 4, 37>{3}, rng);
  auto row = random_tensor(Shape<4, 37>{}, rng);
  auto column = random_tensor(Shape<dyn, 4, 1>{3}, rng);
  {
    auto step = tape();
    const auto fused = swiglu(constant(gate), constant(up)).value();
    const auto reference = (silu(constant(gate)) * constant(up)).value();
    for (index_t i = 0; i < 3; ++i)
      for (index_t j = 0; j < 4; ++j)
        for (index_t k = 0; k < 37; ++k) CHECK(fused(i, j, k) == Approx(reference(i, j, k)).epsilon(1e-14).margin(1e-300));
  }
  CHECK(check_gradients([](auto g, auto u) { return swiglu(g, u); }, gate, up));
  CHECK(check_gradients([](auto g, auto u) { return swiglu(g, u); }, gate, row));
  CHECK(check_gradients([](auto g, auto u) { return swiglu(g, u); }, gate, column));
}

TEST_CASE("the gradient check fails on a wrong derivative", "[autograd][gradcheck]") {
  std::mt19937_64 rng(2);
  auto a = random_tensor(Shape<3>{}, rng);
  // x·x recorded as if its derivative were x (not 2x): the harness must notice.
  auto wrong_square = [](auto x) {
    using V = decltype(x);
    auto out = new_var<double, Shape<3>>(x.shape(), any_requires_grad(x));
    for (int i = 0; i < 3; ++i) out.mutable_data()[i] = x.value()(i) * x.value()(i);
    record("wrong_square", out, [](const auto& o, const V& in) {
      for (int i = 0; i < 3; ++i) in.grad_accumulator().data()[i] += o.grad()(i) * in.value()(i);
    }, x);
    return out;
  };
  auto r = check_gradients(wrong_square, a);
  CHECK_FALSE(r.ok);
  CHECK(r.worst_error > 0.1);
}

}  // namespace ops_test_arithmetic
