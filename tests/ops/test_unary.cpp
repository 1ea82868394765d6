#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/unary.hpp"

namespace ops_test_unary {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
// Applies f to the values 0.5, -1.25, 2 and returns the results.
template <class F>
std::array<double, 3> at_three_points(F&& f) {
  auto step = tape();
  Tensor<double, Shape<3>> x(Shape<3>{}, {0.5, -1.25, 2.0});
  auto y = f(constant(x));
  return {y.value()(0), y.value()(1), y.value()(2)};
}
}  // namespace

TEST_CASE("unary ops compute the textbook formulas", "[ops][unary]") {
  const double xs[3] = {0.5, -1.25, 2.0};
  auto expect = [&](auto f, auto reference) {
    auto got = at_three_points(f);
    for (int i = 0; i < 3; ++i) CHECK(got[std::size_t(i)] == Approx(reference(xs[i])).epsilon(1e-14));
  };
  expect([](auto x) { return exp(x); }, [](double v) { return std::exp(v); });
  expect([](auto x) { return tanh(x); }, [](double v) { return std::tanh(v); });
  expect([](auto x) { return sigmoid(x); }, [](double v) { return 1 / (1 + std::exp(-v)); });
  expect([](auto x) { return relu(x); }, [](double v) { return v > 0 ? v : 0; });
  expect([](auto x) { return silu(x); }, [](double v) { return v / (1 + std::exp(-v)); });
  expect([](auto x) { return gelu(x); }, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  expect([](auto x) { return gelu(x, gelu_approximation::tanh); }, [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  });
  expect([](auto x) { return square(x); }, [](double v) { return v * v; });
}

TEST_CASE("log, sqrt and rsqrt on positive inputs", "[ops][unary]") {
  auto step = tape();
  Tensor<double, Shape<2>> x(Shape<2>{}, {4.0, 0.25});
  auto v = constant(x);
  CHECK(log(v).value()(0) == Approx(std::log(4.0)));
  CHECK(sqrt(v).value()(1) == Approx(0.5));
  CHECK(rsqrt(v).value()(0) == Approx(0.5));
}

TEST_CASE("every unary op passes the gradient check, on odd shapes and strided inputs", "[ops][unary][gradcheck]") {
  std::mt19937_64 rng(3);
  auto x = random_tensor(Shape<dyn, 1, 7>{3}, rng, -2.0, 2.0);
  auto positive = random_tensor(Shape<5, dyn>{3}, rng, 0.5, 2.0);
  CHECK(check_gradients([](auto v) { return exp(v); }, x));
  CHECK(check_gradients([](auto v) { return tanh(v); }, x));
  CHECK(check_gradients([](auto v) { return sigmoid(v); }, x));
  CHECK(check_gradients([](auto v) { return silu(v); }, x));
  CHECK(check_gradients([](auto v) { return gelu(v); }, x));
  CHECK(check_gradients([](auto v) { return gelu(v, gelu_approximation::tanh); }, x));
  CHECK(check_gradients([](auto v) { return softplus(v); }, x));
  CHECK(check_gradients([](auto v) { return square(v); }, x));
  CHECK(check_gradients([](auto v) { return log(v); }, positive));
  CHECK(check_gradients([](auto v) { return sqrt(v); }, positive));
  CHECK(check_gradients([](auto v) { return rsqrt(v); }, positive));
  CHECK(check_gradients([](auto v) { return exp(transpose(v)); }, positive));  // strided input
}

TEST_CASE("relu and abs gradients away from the kink", "[ops][unary][gradcheck]") {
  Tensor<double, Shape<4>> x(Shape<4>{}, {-1.5, -0.2, 0.3, 2.0});
  CHECK(check_gradients([](auto v) { return relu(v); }, x));
  CHECK(check_gradients([](auto v) { return abs(v); }, x));
}

}  // namespace ops_test_unary
