#include <catch2/catch.hpp>

#include <vector>

#include "ranklens/core/tensor.hpp"
#include "ranklens/interp/induction_scores.hpp"

namespace interp_test_induction_scores {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using Patterns = Tensor<double, Shape<dyn, dyn, dyn, dyn>>;

namespace {

Patterns zero_patterns(index_t batch, index_t heads, index_t seq) {
  Patterns p(Shape<dyn, dyn, dyn, dyn>{batch, heads, seq, seq});
  for (index_t b = 0; b < batch; ++b)
    for (index_t h = 0; h < heads; ++h)
      for (index_t i = 0; i < seq; ++i)
        for (index_t j = 0; j < seq; ++j) p(b, h, i, j) = 0;
  return p;
}

// Head 0 attends uniformly to keys 0..i; head 1 is a perfect induction head (key i − L + 1 in
// the second half, key 0 before); head 2 always attends to the previous token.
Patterns three_heads(index_t batch, index_t half) {
  const index_t seq = 2 * half;
  Patterns p = zero_patterns(batch, 3, seq);
  for (index_t b = 0; b < batch; ++b)
    for (index_t i = 0; i < seq; ++i) {
      for (index_t j = 0; j <= i; ++j) p(b, 0, i, j) = 1.0 / double(i + 1);
      p(b, 1, i, i >= half ? i - half + 1 : 0) = 1;
      p(b, 2, i, i >= 1 ? i - 1 : 0) = 1;
    }
  return p;
}

}  // namespace

TEST_CASE("repeated random tokens repeat the first half exactly and depend only on the seed", "[interp][induction]") {
  const auto tokens = interp::repeated_random_tokens(5, 7, 3, 11);
  REQUIRE(tokens.size() == 3 * 14);
  for (index_t b = 0; b < 3; ++b)
    for (index_t t = 0; t < 7; ++t) {
      CHECK(tokens[std::size_t(b * 14 + t)] == tokens[std::size_t(b * 14 + 7 + t)]);
      CHECK(tokens[std::size_t(b * 14 + t)] >= 0);
      CHECK(tokens[std::size_t(b * 14 + t)] < 5);
    }
  CHECK(tokens == interp::repeated_random_tokens(5, 7, 3, 11));
  CHECK(tokens != interp::repeated_random_tokens(5, 7, 3, 12));
}

TEST_CASE("induction scores: a perfect induction head scores 1, a previous-token head 1, uniform attention 1 over i", "[interp][induction]") {
  const index_t half = 6, batch = 2;
  const interp::head_scores scores = interp::induction_scores(three_heads(batch, half), half);
  double uniform_induction = 0, uniform_previous = 0;
  for (index_t i = half; i < 2 * half; ++i) uniform_induction += 1.0 / double(i + 1) / double(half);
  for (index_t i = 1; i < 2 * half; ++i) uniform_previous += 1.0 / double(i + 1) / double(2 * half - 1);
  CHECK(scores.induction[0] == Approx(uniform_induction));
  CHECK(scores.previous_token[0] == Approx(uniform_previous));
  CHECK(scores.induction[1] == Approx(1.0));
  CHECK(scores.previous_token[1] == Approx(1.0 / double(2 * half - 1)));  // only at i = 1 is key 0 the previous token
  CHECK(scores.induction[2] == Approx(0.0));
  CHECK(scores.previous_token[2] == Approx(1.0));
}

TEST_CASE("induction scores reject patterns of the wrong length", "[interp][induction]") {
  CHECK_THROWS_WITH(interp::induction_scores(zero_patterns(1, 1, 10), 4), Catch::Contains("expected (batch, heads, 8, 8)"));
  CHECK_THROWS_AS(interp::induction_scores(zero_patterns(1, 1, 2), 1), value_error);
}

TEST_CASE("statistical induction score: attention mass on keys whose preceding token equals the query's token", "[interp][induction]") {
  // tokens 0 1 0 0 1: query 3 (token 0) has matches j = 1 (x0 = 0), j = 3 (x2 = 0), j = 4 is
  // beyond it; query 4 (token 1) has j = 2 (x1 = 1).
  const std::vector<std::int32_t> tokens{0, 1, 0, 0, 1};
  Patterns p = zero_patterns(1, 2, 5);
  for (index_t i = 0; i < 5; ++i) {
    for (index_t j = 0; j <= i; ++j) p(0, 0, i, j) = 1.0 / double(i + 1);  // head 0: uniform
    p(0, 1, i, 0) = 1;                                                      // head 1: the first token
  }
  // Queries with a match: i = 2 (token 0: j = 1), i = 3 (j = 1, 3), i = 4 (j = 2); i = 1 (token 1) has none.
  p(0, 1, 2, 0) = 0, p(0, 1, 2, 1) = 1;
  p(0, 1, 3, 0) = 0.5, p(0, 1, 3, 3) = 0.5;
  const interp::head_scores scores = interp::statistical_induction_scores(p, tokens);
  CHECK(scores.induction[0] == Approx((1.0 / 3 + 2.0 / 4 + 1.0 / 5) / 3));
  CHECK(scores.induction[1] == Approx((1.0 + 0.5 + 0.0) / 3));
  CHECK(scores.previous_token[0] == Approx((1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 5) / 4));
  CHECK_THROWS_AS(interp::statistical_induction_scores(p, std::vector<std::int32_t>{0, 1}), shape_error);
}

}  // namespace interp_test_induction_scores
