// Specification of data/markov_chain.hpp: fixed chains sample their transition table and start
// distribution; the Dirichlet source draws a fresh chain per sequence.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/running_mean.hpp"

namespace data_test_markov_chain {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("a fixed chain's transition frequencies match its table", "[data][markov]") {
  const markov_chain chain(3, 1, {0.1, 0.6, 0.3, 0.5, 0.0, 0.5, 0.2, 0.2, 0.6});
  Rng gen(1);
  std::vector<std::int32_t> tokens(200000);
  chain.sample_sequence(gen, tokens);
  std::vector<double> counts(9, 0.0), from(3, 0.0);
  for (std::size_t t = 1; t < tokens.size(); ++t) {
    counts[static_cast<std::size_t>(tokens[t - 1] * 3 + tokens[t])] += 1;
    from[static_cast<std::size_t>(tokens[t - 1])] += 1;
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      const double p = chain.probability(i, j);
      const double n = from[static_cast<std::size_t>(i)];
      const double frequency = counts[static_cast<std::size_t>(i * 3 + j)] / n;
      INFO("transition " << i << " -> " << j);
      CHECK(std::abs(frequency - p) <= 5 * std::sqrt(p * (1 - p) / n) + 1e-12);
    }
  }
  CHECK(counts[1 * 3 + 1] == 0);  // a zero-probability transition never happens
}

TEST_CASE("the first token follows the stationary or the uniform distribution", "[data][markov]") {
  const double a = 0.1, b = 0.4;  // pi = (b, a) / (a + b) = (0.8, 0.2)
  const markov_chain stationary(2, 1, {1 - a, a, b, 1 - b}, chain_start::stationary);
  const markov_chain uniform(2, 1, {1 - a, a, b, 1 - b}, chain_start::uniform);
  CHECK(stationary.start_distribution()[0] == Approx(0.8));
  constexpr int sequences = 20000;
  int zeros_stationary = 0, zeros_uniform = 0;
  std::vector<std::int32_t> tokens(3);
  for (int s = 0; s < sequences; ++s) {
    Rng gen = Rng::for_stream(2, static_cast<std::uint64_t>(s));
    stationary.sample_sequence(gen, tokens);
    zeros_stationary += tokens[0] == 0;
    uniform.sample_sequence(gen, tokens);
    zeros_uniform += tokens[0] == 0;
  }
  CHECK(std::abs(zeros_stationary / double(sequences) - 0.8) < 5 * std::sqrt(0.16 / sequences));
  CHECK(std::abs(zeros_uniform / double(sequences) - 0.5) < 5 * std::sqrt(0.25 / sequences));
}

TEST_CASE("an n-gram chain conditions on the previous n-1 tokens, oldest first", "[data][markov]") {
  // Context length 2 over 3 tokens, deterministic: x_{t+1} = (x_{t-1} + x_t) mod 3. Context
  // number = 3 * x_{t-1} + x_t.
  std::vector<double> table(9 * 3, 0.0);
  for (int older = 0; older < 3; ++older) {
    for (int newer = 0; newer < 3; ++newer)
      table[(older * 3 + newer) * 3 + (older + newer) % 3] = 1;
  }
  const markov_chain chain(3, 2, table, chain_start::uniform);
  CHECK(chain.contexts() == 9);
  CHECK(chain.next_context(3 * 1 + 2, 0) == 3 * 2 + 0);
  for (int s = 0; s < 20; ++s) {
    Rng gen(static_cast<std::uint64_t>(s));
    std::vector<std::int32_t> tokens(30);
    chain.sample_sequence(gen, tokens);
    for (std::size_t t = 2; t < tokens.size(); ++t) {
      REQUIRE(tokens[t] == (tokens[t - 2] + tokens[t - 1]) % 3);
    }
  }
}

TEST_CASE("an n-gram chain can start from the stationary distribution of its contexts",
          "[data][markov]") {
  // Context length 2 over 2 tokens; the chain on contexts (x_{t-1}, x_t) must leave the
  // returned distribution unchanged.
  const markov_chain chain(2, 2, {0.9, 0.1, 0.3, 0.7, 0.5, 0.5, 0.2, 0.8});
  const auto& pi = chain.start_distribution();
  for (index_t target = 0; target < 4; ++target) {
    double inflow = 0.0;
    for (index_t c = 0; c < 4; ++c) {
      for (index_t x = 0; x < 2; ++x) {
        if (chain.next_context(c, x) == target)
          inflow += pi[static_cast<std::size_t>(c)] * chain.probability(c, x);
      }
    }
    CHECK(inflow == Approx(pi[static_cast<std::size_t>(target)]).epsilon(1e-12));
  }
}

TEST_CASE("the Dirichlet source draws a new chain per sequence with uniform-on-simplex rows",
          "[data][markov]") {
  // k = 2, alpha = 1: each switch probability is Uniform(0, 1), mean 1/2, variance 1/12.
  const dirichlet_markov_source source{2, 1.0};
  Rng gen(3);
  running_mean mean, variance;
  for (int s = 0; s < 40000; ++s) {
    const markov_chain chain = source.draw_chain(gen);
    const double p = chain.probability(0, 1);
    mean.add(p);
    variance.add((p - 0.5) * (p - 0.5));
  }
  CHECK(mean.mean() == Approx(0.5).margin(5 * mean.standard_error()));
  CHECK(variance.mean() == Approx(1.0 / 12).margin(5 * variance.standard_error()));
}

TEST_CASE("a chain rejects tables that are not stochastic or of the wrong size", "[data][markov]") {
  CHECK_THROWS_AS(markov_chain(2, 1, {0.5, 0.6, 0.5, 0.5}), value_error);
  CHECK_THROWS_AS(markov_chain(2, 1, {1.0, 0.0, 1.0}), shape_error);
  CHECK_THROWS_AS(markov_chain(2, 0, {1.0, 0.0}), value_error);
  const dirichlet_markov_source bad{2, 0.0};
  Rng gen(4);
  CHECK_THROWS_AS(bad.draw_chain(gen), value_error);
}

}  // namespace data_test_markov_chain
