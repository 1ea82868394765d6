// Specification of data/entropy_rate.hpp: exact entropy rates of chains and unifilar HMMs,
// block-entropy bounds and a Monte Carlo estimate for the rest.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

#include "ranklens/data/entropy_rate.hpp"
#include "ranklens/data/hmm_examples.hpp"

namespace data_test_entropy_rate {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("a Markov chain's entropy rate is sum_i pi_i H(P_i.)", "[data][entropy_rate]") {
  // P = [[0.9, 0.1], [0.4, 0.6]]: pi = (0.8, 0.2).
  const markov_chain chain(2, 1, {0.9, 0.1, 0.4, 0.6});
  CHECK(markov_entropy_rate(chain) ==
        Approx(0.8 * binary_entropy(0.1) + 0.2 * binary_entropy(0.4)).epsilon(1e-12));
  CHECK(entropy(std::vector<double>{0.25, 0.25, 0.5}) == Approx(1.5 * std::numbers::ln2));
}

TEST_CASE("the golden-mean process as a chain and as an HMM has entropy rate 2/3 bit",
          "[data][entropy_rate]") {
  const markov_chain chain(2, 1, {0.5, 0.5, 1.0, 0.0});
  CHECK(nats_to_bits(markov_entropy_rate(chain)) == Approx(2.0 / 3.0));
  CHECK(nats_to_bits(hmm_entropy_rate(golden_mean_process()).value) == Approx(2.0 / 3.0));
  CHECK(hmm_entropy_rate(golden_mean_process()).standard_error == 0.0);
  CHECK_THROWS_AS(unifilar_entropy_rate(mess3()), value_error);
}

TEST_CASE("block-entropy bounds tighten around the rate as blocks grow", "[data][entropy_rate]") {
  const auto hmm = mess3();
  const auto short_blocks = hmm_entropy_rate_bounds(hmm, 4);
  const auto long_blocks = hmm_entropy_rate_bounds(hmm, 9);
  CHECK(short_blocks.lower <= long_blocks.lower);
  CHECK(long_blocks.lower <= long_blocks.upper);
  CHECK(long_blocks.upper <= short_blocks.upper);
  CHECK(long_blocks.upper - long_blocks.lower < 1e-6);
  CHECK(long_blocks.upper < std::log(3.0));  // Mess3 is predictable, if only a little
  // One-token blocks: H(X_1) = ln 3 by symmetry; from state 0 the symbol is 0 with
  // probability 0.7 * 0.6 + 2 * 0.15 * 0.2 = 0.48 and 1 or 2 with 0.26 each, so
  // H(X_1 | S_1) = H(0.48, 0.26, 0.26).
  const auto one_token = hmm_entropy_rate_bounds(hmm, 1);
  CHECK(one_token.upper == Approx(std::log(3.0)));
  CHECK(one_token.lower == Approx(entropy(std::vector<double>{0.48, 0.26, 0.26})));
}

TEST_CASE("Monte Carlo entropy rates agree with exact values and bounds", "[data][entropy_rate]") {
  // Unifilar: the estimate must find the closed form.
  const auto rrxor_estimate = hmm_entropy_rate_sampled(rrxor(), 1, 16, 2048, 64);
  CHECK(rrxor_estimate.value ==
        Approx(rrxor_entropy_rate()).margin(4 * rrxor_estimate.standard_error + 1e-5));
  // Mess3 (x = 0.15, a = 0.6) is not unifilar; the enumeration bounds pin its rate to 1e-6.
  const auto bounds = hmm_entropy_rate_bounds(mess3(), 9);
  const auto estimate = hmm_entropy_rate(mess3(), 2);
  CHECK(estimate.standard_error > 0.0);
  CHECK(estimate.standard_error < 1e-3);
  CHECK(estimate.value > bounds.lower - 4 * estimate.standard_error);
  CHECK(estimate.value < bounds.upper + 4 * estimate.standard_error);
}

}  // namespace data_test_entropy_rate
