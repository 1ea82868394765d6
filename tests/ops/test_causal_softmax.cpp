#include <catch2/catch.hpp>

#include <limits>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/causal_softmax.hpp"
#include "ranklens/ops/masking.hpp"
#include "ranklens/ops/softmax.hpp"

namespace ops_test_causal_softmax {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("causal_softmax equals scale, causal mask and softmax done one by one", "[ops][softmax][attention]") {
  std::mt19937_64 rng(12);
  auto scores = random_tensor(Shape<dyn, 3, 6, 6>{2}, rng, -3, 3);
  auto step = tape();
  const auto x = constant(scores);
  auto fused = causal_softmax(x, 0.7);
  auto reference = softmax(causal_mask_fill(x * 0.7, -std::numeric_limits<double>::infinity()));
  for (index_t i = 0; i < fused.numel(); ++i) CHECK(fused.value().data()[i] == Approx(reference.value().data()[i]).margin(1e-15));
  CHECK(fused.value()(1, 2, 0, 1) == 0.0);  // a key after the query gets no weight
}

TEST_CASE("causal_softmax passes the gradient check", "[ops][softmax][attention][gradcheck]") {
  std::mt19937_64 rng(13);
  auto scores = random_tensor(Shape<dyn, 5, 5>{3}, rng, -2, 2);
  CHECK(check_gradients([](auto v) { return causal_softmax(v, 0.5); }, scores));
  CHECK(check_gradients([](auto v) { return causal_softmax(transpose(v), 1.0); }, scores));
}

TEST_CASE("causal_softmax refuses scores that are not square", "[ops][softmax][attention]") {
  auto step = tape();
  Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{3, 4}, 0.0f);
  REQUIRE_THROWS_AS(causal_softmax(constant(x), 1.0f), shape_error);
}

}  // namespace ops_test_causal_softmax
