// Specification of data/bayes_markov.hpp: in-context counts, the add-alpha rule (the exact
// posterior predictive when the first token is independent of the chain) and the unigram rule.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/data/bayes_markov.hpp"

namespace data_test_bayes_markov {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

namespace {
transition_counts counts_of(std::initializer_list<index_t> tokens, index_t states,
                            index_t context_length = 1) {
  transition_counts counts(states, context_length);
  for (index_t x : tokens) counts.observe(x);
  return counts;
}
}  // namespace

TEST_CASE("counts record transitions, token totals, the first and the current context",
          "[data][bayes_markov]") {
  const auto counts = counts_of({0, 0, 0, 1, 1}, 2);
  CHECK(counts.transitions(0, 0) == 2);
  CHECK(counts.transitions(0, 1) == 1);
  CHECK(counts.transitions(1, 1) == 1);
  CHECK(counts.transitions(1, 0) == 0);
  CHECK(counts.context_total(0) == 3);
  CHECK(counts.token_count(0) == 3);
  CHECK(counts.first_token() == 0);
  CHECK(counts.current_context() == 1);
  CHECK(counts.length() == 5);
}

TEST_CASE("add-alpha and unigram predictions, worked by hand", "[data][bayes_markov]") {
  const auto counts = counts_of({0, 0, 0, 1, 1}, 2);
  std::vector<double> p(2);
  // Row 1 has n10 = 0, n11 = 1: (0 + 1) / (1 + 2) and (1 + 1) / (1 + 2).
  add_alpha_predictive(counts, 1.0, p);
  CHECK(p[0] == Approx(1.0 / 3.0));
  CHECK(p[1] == Approx(2.0 / 3.0));
  add_alpha_predictive(counts, 0.5, p);
  CHECK(p[1] == Approx(1.5 / 2.0));
  // Unigram: three 0s and two 1s: (3 + 1) / (5 + 2), (2 + 1) / (5 + 2).
  unigram_predictive(counts, 1.0, p);
  CHECK(p[0] == Approx(4.0 / 7.0));
  CHECK(p[1] == Approx(3.0 / 7.0));
}

TEST_CASE("with a context of two tokens the counts are per pair", "[data][bayes_markov]") {
  // Contexts (x_{t-1}, x_t) numbered 3 * x_{t-1} + x_t; 0 1 2 0 1 0 has transitions
  // (0,1)->2, (1,2)->0, (2,0)->1, (0,1)->0, and ends in context (1,0) = 3.
  const auto counts = counts_of({0, 1, 2, 0, 1, 0}, 3, 2);
  CHECK(counts.transitions(1, 2) == 1);
  CHECK(counts.transitions(1, 0) == 1);
  CHECK(counts.context_total(1) == 2);
  CHECK(counts.current_context() == 3);
  std::vector<double> p(3);
  // After 0 1 2 0 1 the context (0,1) has been followed once, by 2: (1, 1, 2) / 4.
  add_alpha_predictive(counts_of({0, 1, 2, 0, 1}, 3, 2), 1.0, p);
  CHECK(p[0] == Approx(1.0 / 4.0));
  CHECK(p[2] == Approx(2.0 / 4.0));
  add_alpha_predictive(counts_of({2}, 3, 2), 1.0, p);  // no full context yet: uniform
  CHECK(p[2] == Approx(1.0 / 3.0));
}

TEST_CASE("chaining add-alpha predictions gives the Dirichlet-multinomial marginal",
          "[data][bayes_markov]") {
  // With a uniform first token, P(x_1..x_T) = (1/k) prod_i B(alpha + n_i.) / B(alpha), the
  // closed form of integrating prod P_ij^n_ij against independent Dirichlet rows. That the
  // sequential product of add-alpha predictions equals it is what makes the rule Bayes-optimal.
  const index_t k = 3;
  const double alpha = 0.7;
  const std::vector<index_t> sequence{2, 0, 0, 1, 2, 2, 2, 0, 1, 1, 0, 2};
  transition_counts counts(k);
  std::vector<double> p(static_cast<std::size_t>(k));
  double log_chain = std::log(1.0 / k);
  for (std::size_t t = 0; t < sequence.size(); ++t) {
    if (t > 0) {
      add_alpha_predictive(counts, alpha, p);
      log_chain += std::log(p[static_cast<std::size_t>(sequence[t])]);
    }
    counts.observe(sequence[t]);
  }
  double log_closed_form = std::log(1.0 / k);
  for (index_t i = 0; i < k; ++i) {
    log_closed_form += std::lgamma(k * alpha) - std::lgamma(k * alpha + counts.context_total(i));
    for (index_t j = 0; j < k; ++j) {
      log_closed_form += std::lgamma(alpha + counts.transitions(i, j)) - std::lgamma(alpha);
    }
  }
  CHECK(log_chain == Approx(log_closed_form).epsilon(1e-12));
}

TEST_CASE("the add-alpha prediction matches simulated chains with a uniform start",
          "[data][bayes_markov]") {
  // Empirical P(x_3 = 0 | x_1 = 0, x_2 = 0) over random chains must be (1 + 1) / (1 + 2).
  const dirichlet_markov_source source{2, 1.0, 1, chain_start::uniform};
  std::vector<std::int32_t> tokens(3);
  double conditioned = 0, hits = 0;
  for (int s = 0; s < 60000; ++s) {
    Rng gen = Rng::for_stream(4, static_cast<std::uint64_t>(s));
    source.sample_sequence(gen, tokens);
    if (tokens[0] != 0 || tokens[1] != 0) continue;
    conditioned += 1;
    hits += tokens[2] == 0;
  }
  CHECK(std::abs(hits / conditioned - 2.0 / 3.0) < 5 * std::sqrt(2.0 / 9.0 / conditioned));
}

TEST_CASE("counts reject tokens outside the vocabulary", "[data][bayes_markov]") {
  transition_counts counts(2);
  CHECK_THROWS_AS(counts.observe(2), value_error);
  std::vector<double> wrong(3);
  CHECK_THROWS_AS(add_alpha_predictive(counts, 1.0, wrong), shape_error);
}

}  // namespace data_test_bayes_markov
