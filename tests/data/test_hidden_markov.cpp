// Specification of data/hidden_markov.hpp: an edge-emitting HMM checks its matrices, starts
// from the stationary state distribution and samples (symbol, next state) pairs jointly.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/data/hidden_markov.hpp"

namespace data_test_hidden_markov {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

namespace {
// Two states, two symbols. From state 0: emit 0 and stay (0.5), emit 1 and move (0.5).
// From state 1: emit 0 and move (0.2), emit 1 and stay (0.3), emit 0 and stay (0.5).
hidden_markov_model small_hmm() {
  return {2, 2, {/* T^(0) */ 0.5, 0.0, 0.2, 0.5, /* T^(1) */ 0.0, 0.5, 0.0, 0.3}};
}
}  // namespace

TEST_CASE("the state chain, emissions and stationary distribution follow from T^(x)",
          "[data][hmm]") {
  const auto hmm = small_hmm();
  // sum_x T^(x) = [[0.5, 0.5], [0.2, 0.8]]: pi = (0.2, 0.5) / 0.7.
  CHECK(hmm.state_transitions()[1] == Approx(0.5));
  CHECK(hmm.state_transitions()[2] == Approx(0.2));
  CHECK(hmm.stationary()[0] == Approx(0.2 / 0.7));
  CHECK(hmm.emission_row(1)[0] == Approx(0.7));
  CHECK(hmm.emission_row(1)[1] == Approx(0.3));
  CHECK_FALSE(hmm.unifilar());  // state 1 emitting 0 may stay or move
}

TEST_CASE("sampled (state, symbol, next state) triples have the model's frequencies",
          "[data][hmm]") {
  const auto hmm = small_hmm();
  Rng gen(1);
  std::vector<std::int32_t> tokens(100000), states(100000);
  hmm.sample_with_states(gen, tokens, states);
  std::vector<double> triples(8, 0.0), visits(2, 0.0);
  for (std::size_t t = 0; t + 1 < tokens.size(); ++t) {
    triples[static_cast<std::size_t>((tokens[t] * 2 + states[t]) * 2 + states[t + 1])] += 1;
    visits[static_cast<std::size_t>(states[t])] += 1;
  }
  for (int x = 0; x < 2; ++x) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const double p = hmm.transition(x, i, j);
        const double n = visits[static_cast<std::size_t>(i)];
        const double frequency = triples[static_cast<std::size_t>((x * 2 + i) * 2 + j)] / n;
        INFO("symbol " << x << ", " << i << " -> " << j);
        CHECK(std::abs(frequency - p) <= 5 * std::sqrt(p * (1 - p) / n) + 1e-12);
      }
    }
  }
  CHECK(visits[0] / (visits[0] + visits[1]) == Approx(0.2 / 0.7).margin(0.02));
}

TEST_CASE("an HMM rejects matrices that are not stochastic or of the wrong size", "[data][hmm]") {
  CHECK_THROWS_AS(hidden_markov_model(2, 2, {0.5, 0.0, 0.2, 0.5, 0.0, 0.5, 0.0}), shape_error);
  CHECK_THROWS_AS(hidden_markov_model(2, 2, {0.5, 0.0, 0.2, 0.5, 0.0, 0.6, 0.0, 0.3}), value_error);
  CHECK_THROWS_AS(hidden_markov_model(1, 1, {-1.0}), value_error);
}

}  // namespace data_test_hidden_markov
