#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/masking.hpp"
#include "ranklens/ops/softmax.hpp"

namespace ops_test_softmax {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("softmax rows sum to one and match exp(x)/Σexp(x), even for huge logits", "[ops][softmax]") {
  auto step = tape();
  Tensor<double, Shape<2, 3>> t(Shape<2, 3>{}, {1, 2, 3, 1000, 1001, 1002});
  auto y = softmax(constant(t));
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(y.value()(0, 2) == Approx(std::exp(3.0) / z));
  CHECK(y.value()(1, 2) == Approx(std::exp(3.0) / z));  // shift invariance, no overflow
  auto ly = log_softmax(constant(t));
  CHECK(ly.value()(0, 0) == Approx(1 - std::log(z)));
}

TEST_CASE("softmax and log_softmax pass the gradient check", "[ops][softmax][gradcheck]") {
  std::mt19937_64 rng(5);
  auto x = random_tensor(Shape<dyn, 3, 7>{2}, rng, -3, 3);
  auto single = random_tensor(Shape<4, 1>{}, rng);
  CHECK(check_gradients([](auto v) { return softmax(v); }, x));
  CHECK(check_gradients([](auto v) { return log_softmax(v); }, x));
  CHECK(check_gradients([](auto v) { return softmax(v); }, single));
  CHECK(check_gradients([](auto v) { return log_softmax(transpose(v)); }, x));
}

TEST_CASE("masked attention scores: softmax after a −inf causal mask, also in anomaly mode", "[ops][softmax][anomaly]") {
  std::mt19937_64 rng(6);
  auto scores = random_tensor(Shape<dyn, 5, 5>{2}, rng);
  auto guard = detect_anomaly();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(check_gradients([inf](auto v) { return softmax(causal_mask_fill(v, -inf)); }, scores));
  auto step = tape();
  auto p = softmax(causal_mask_fill(constant(scores), -inf));
  CHECK(p.value()(0, 0, 0) == 1.0);
  CHECK(p.value()(1, 2, 3) == 0.0);
}

}  // namespace ops_test_softmax
