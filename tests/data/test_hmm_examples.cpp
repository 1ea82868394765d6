// Specification of data/hmm_examples.hpp: the standard processes have their defining
// structure and the entropy rates quoted in the literature.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

#include "ranklens/data/entropy_rate.hpp"
#include "ranklens/data/hmm_examples.hpp"

namespace data_test_hmm_examples {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

namespace {
std::vector<std::int32_t> sample(const hidden_markov_model& hmm, std::size_t length,
                                 std::uint64_t seed, std::vector<std::int32_t>* states = nullptr) {
  Rng gen(seed);
  std::vector<std::int32_t> tokens(length), hidden(length);
  hmm.sample_with_states(gen, tokens, hidden);
  if (states) *states = hidden;
  return tokens;
}
}  // namespace

TEST_CASE("Mess3 with x = 0.15, a = 0.6 has the published matrices", "[data][hmm_examples]") {
  // T^(s)[i][j] = (i == j ? 1 - 2x : x) * (s == j ? a : (1 - a) / 2).
  const auto hmm = mess3(0.15, 0.6);
  CHECK(hmm.transition(0, 0, 0) == Approx(0.7 * 0.6));   // a y
  CHECK(hmm.transition(0, 1, 0) == Approx(0.15 * 0.6));  // a x
  CHECK(hmm.transition(0, 1, 1) == Approx(0.7 * 0.2));   // b y
  CHECK(hmm.transition(2, 0, 1) == Approx(0.15 * 0.2));  // b x
  CHECK_FALSE(hmm.unifilar());
  for (double p : hmm.stationary()) CHECK(p == Approx(1.0 / 3.0));  // symmetric under relabeling
}

TEST_CASE("the even process emits ones in runs of even length", "[data][hmm_examples]") {
  const auto tokens = sample(even_process(), 20000, 1);
  // Every maximal run of ones that starts and ends inside the sample has even length.
  std::size_t t = 0;
  while (t < tokens.size() && tokens[t] == 1) ++t;  // skip a run cut by the start
  int odd_runs = 0, runs = 0;
  while (t < tokens.size()) {
    if (tokens[t] == 0) {
      ++t;
      continue;
    }
    std::size_t end = t;
    while (end < tokens.size() && tokens[end] == 1) ++end;
    if (end < tokens.size()) {
      ++runs;
      odd_runs += (end - t) % 2;
    }
    t = end;
  }
  CHECK(runs > 1000);
  CHECK(odd_runs == 0);
  CHECK(even_process().unifilar());
}

TEST_CASE("the golden-mean process never emits two ones in a row", "[data][hmm_examples]") {
  const auto tokens = sample(golden_mean_process(), 20000, 2);
  int pairs = 0, ones = 0;
  for (std::size_t t = 1; t < tokens.size(); ++t) pairs += tokens[t - 1] == 1 && tokens[t] == 1;
  for (auto x : tokens) ones += x;
  CHECK(pairs == 0);
  CHECK(ones > 5000);  // P(1) = (1/2) (2/3) = 1/3 at stationarity
  CHECK(golden_mean_process().unifilar());
}

TEST_CASE("RRXOR: after each block start the third bit is the XOR of the two before",
          "[data][hmm_examples]") {
  std::vector<std::int32_t> states;
  const auto tokens = sample(rrxor(), 3000, 3, &states);
  int blocks = 0;
  for (std::size_t t = 0; t + 2 < tokens.size(); ++t) {
    if (states[t] != 0) continue;  // state S starts a block
    ++blocks;
    REQUIRE(tokens[t + 2] == (tokens[t] ^ tokens[t + 1]));
  }
  CHECK(blocks > 900);
  CHECK(rrxor().unifilar());
}

TEST_CASE("closed-form entropy rates: 2/3 bit for the even, golden-mean and RRXOR processes",
          "[data][hmm_examples]") {
  const double two_thirds_bit = 2.0 / 3.0 * std::numbers::ln2;
  CHECK(even_process_entropy_rate() == Approx(two_thirds_bit));
  CHECK(golden_mean_entropy_rate() == Approx(two_thirds_bit));
  CHECK(rrxor_entropy_rate() == Approx(two_thirds_bit));
  CHECK(nats_to_bits(rrxor_entropy_rate()) == Approx(2.0 / 3.0));
  // The state-weighted formula for unifilar machines gives the same numbers...
  CHECK(unifilar_entropy_rate(even_process()) == Approx(two_thirds_bit));
  CHECK(unifilar_entropy_rate(golden_mean_process(0.3)) == Approx(golden_mean_entropy_rate(0.3)));
  CHECK(unifilar_entropy_rate(rrxor(0.2, 0.7)) == Approx(rrxor_entropy_rate(0.2, 0.7)));
  // ... and both lie between the block-entropy bounds, which enumerate sequences instead.
  for (const auto& [hmm, closed_form] :
       {std::pair{even_process(), even_process_entropy_rate()},
        std::pair{golden_mean_process(), golden_mean_entropy_rate()},
        std::pair{rrxor(), rrxor_entropy_rate()}}) {
    const auto bounds = hmm_entropy_rate_bounds(hmm, 12);
    CHECK(bounds.lower <= closed_form + 1e-12);
    CHECK(bounds.upper >= closed_form - 1e-12);
  }
}

}  // namespace data_test_hmm_examples
