#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/normalization.hpp"

namespace ops_test_normalization {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("layer_norm and rms_norm match their definitions", "[ops][norm]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 4>> t(Shape<dyn, 4>{1}, {1, 2, 3, 6});
  Tensor<double, Shape<4>> w(Shape<4>{}, {1, 2, 1, 1});
  Tensor<double, Shape<4>> b(Shape<4>{}, {0, 0, 0.5, 0});
  auto ln = layer_norm(constant(t), constant(w), constant(b), 1e-5);
  const double mu = 3, var = (4 + 1 + 0 + 9) / 4.0;
  CHECK(ln.value()(0, 1) == Approx(2 * (2 - mu) / std::sqrt(var + 1e-5)));
  CHECK(ln.value()(0, 2) == Approx(0.5));
  auto rn = rms_norm(constant(t), constant(w), 1e-6);
  const double ms = (1 + 4 + 9 + 36) / 4.0;
  CHECK(rn.value()(0, 3) == Approx(6 / std::sqrt(ms + 1e-6)));
  CHECK(rn.value()(0, 1) == Approx(2 * 2 / std::sqrt(ms + 1e-6)));
}

TEST_CASE("norms pass the gradient check for input, weight and bias", "[ops][norm][gradcheck]") {
  std::mt19937_64 rng(10);
  auto x = random_tensor(Shape<dyn, dyn, 7>{2, 3}, rng, -2, 2);
  auto w = random_tensor(Shape<7>{}, rng, 0.5, 1.5);
  auto b = random_tensor(Shape<7>{}, rng);
  CHECK(check_gradients([](auto v, auto g, auto s) { return layer_norm(v, g, s); }, x, w, b));
  CHECK(check_gradients([](auto v, auto g) { return rms_norm(v, g); }, x, w));
  auto one_feature = random_tensor(Shape<3, 1>{}, rng);
  auto w1 = random_tensor(Shape<1>{}, rng);
  CHECK(check_gradients([](auto v, auto g) { return rms_norm(v, g); }, one_feature, w1));
}

TEST_CASE("a norm weight of the wrong width is rejected", "[ops][norm]") {
  auto step = tape();
  Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{2, 4}, 1.0f);
  Tensor<float, Shape<dyn>> w(Shape<dyn>{3}, 1.0f);
  REQUIRE_THROWS_WITH(rms_norm(constant(x), constant(w)), Catch::Contains("rms_norm") && Catch::Contains("(dyn=3)"));
}

}  // namespace ops_test_normalization
