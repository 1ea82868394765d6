// Specification of data/bayes_markov_exact.hpp: the posterior predictive for random chains
// whose first token is drawn from the chain's stationary distribution.
//
// For two states and alpha = 1 the reference is exact: every integral
//   I = ∫∫ pi_P(x_1) a^n01 (1 - a)^n00 b^n10 (1 - b)^n11 da db,  pi_P(0) = b / (a + b),
// is a finite sum of K(i, m) = ∫∫ a^i b^m / (a + b) da db, and
//   ∫_0^1 b^m / (a + b) db = sum_{l<m} (-a)^(m-1-l) / (l + 1) + (-a)^m (ln(1 + a) - ln a)
// (divide b^m by b + a), whose integral against a^i uses ∫ a^n ln a = -1 / (n + 1)^2 and
// ∫ a^n ln(1 + a) = (ln 2 - J_{n+1}) / (n + 1), with J_m = ∫ x^m / (1 + x) = 1/m - J_{m-1}
// and J_0 = ln 2.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <tuple>
#include <vector>

#include "ranklens/data/bayes_markov_exact.hpp"

namespace data_test_bayes_markov_exact {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

namespace {

double binomial(int n, int r) {
  double c = 1.0;
  for (int i = 1; i <= r; ++i) c = c * (n - r + i) / i;
  return c;
}

double j_integral(int m) {  // ∫_0^1 x^m / (1 + x) dx
  double j = std::numbers::ln2;
  for (int i = 1; i <= m; ++i) j = 1.0 / i - j;
  return j;
}

double k_integral(int i, int m) {  // ∫∫ a^i b^m / (a + b), m >= 1
  double total = 0.0;
  for (int l = 0; l < m; ++l) {
    const double sign = (m - 1 - l) % 2 == 0 ? 1.0 : -1.0;
    total += sign / ((l + 1.0) * (i + m - l));
  }
  const int n = i + m;
  const double log_one_plus = (std::numbers::ln2 - j_integral(n + 1)) / (n + 1.0);
  const double log_a = -1.0 / ((n + 1.0) * (n + 1.0));
  total += (m % 2 == 0 ? 1.0 : -1.0) * (log_one_plus - log_a);
  return total;
}

// ∫∫ b / (a + b) a^p (1 - a)^q b^r (1 - b)^s da db, by binomial expansion.
double first_zero_integral(int p, int q, int r, int s) {
  double total = 0.0;
  for (int u = 0; u <= q; ++u) {
    for (int v = 0; v <= s; ++v) {
      const double sign = (u + v) % 2 == 0 ? 1.0 : -1.0;
      total += sign * binomial(q, u) * binomial(s, v) * k_integral(p + u, r + v + 1);
    }
  }
  return total;
}

// P(x_1..x_T) for k = 2, alpha = 1 (uniform prior density 1 on (a, b)).
double exact_evidence(const std::vector<int>& x) {
  int n[2][2] = {{0, 0}, {0, 0}};
  for (std::size_t t = 1; t < x.size(); ++t) ++n[x[t - 1]][x[t]];
  // pi_P(1) = a / (a + b) is the same integral with the roles of the rows swapped.
  return x[0] == 0 ? first_zero_integral(n[0][1], n[0][0], n[1][0], n[1][1])
                   : first_zero_integral(n[1][0], n[1][1], n[0][1], n[0][0]);
}

transition_counts counts_of(const std::vector<int>& x, index_t states = 2) {
  transition_counts counts(states);
  for (int v : x) counts.observe(v);
  return counts;
}

std::vector<int> bits(unsigned code, int length) {
  std::vector<int> x(static_cast<std::size_t>(length));
  for (int t = 0; t < length; ++t) x[static_cast<std::size_t>(t)] = (code >> t) & 1;
  return x;
}

}  // namespace

TEST_CASE("the closed-form reference integrates to known values", "[data][bayes_exact]") {
  // ∫∫ b / (a + b) = 1/2 by symmetry, and the marginals of x_1 are 1/2 each.
  CHECK(first_zero_integral(0, 0, 0, 0) == Approx(0.5).epsilon(1e-14));
  CHECK(exact_evidence({0}) == Approx(0.5).epsilon(1e-14));
  // ∫∫ ab / (a + b) = (2/3)(1 - ln 2), from ∫ b / (a + b) db = 1 - a ln((1 + a) / a).
  CHECK(first_zero_integral(1, 0, 0, 0) ==
        Approx(2.0 / 3.0 * (1 - std::numbers::ln2)).epsilon(1e-13));
}

TEST_CASE(
    "k = 2, alpha = 1: evidence and predictive match exact integration on every "
    "sequence of up to 6 tokens",
    "[data][bayes_exact]") {
  const two_state_exact_bayes bayes(1.0);
  std::vector<double> p(2);
  for (int length = 1; length <= 6; ++length) {
    double total = 0.0;
    for (unsigned code = 0; code < (1u << length); ++code) {
      const auto x = bits(code, length);
      const auto counts = counts_of(x);
      const double evidence = exact_evidence(x);
      total += evidence;
      INFO("sequence code " << code << ", length " << length);
      CHECK(std::exp(bayes.log_evidence(counts)) == Approx(evidence).epsilon(1e-9));
      bayes.predictive(counts, p);
      auto extended = x;
      extended.push_back(1);
      CHECK(p[1] == Approx(exact_evidence(extended) / evidence).epsilon(1e-9));
      CHECK(p[0] + p[1] == Approx(1.0).epsilon(1e-15));
    }
    CHECK(total == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("the stationary start makes the exact predictor differ from add-one",
          "[data][bayes_exact]") {
  // After x_1 = 0 alone, add-one predicts 1/2; but a chain that was found in state 0 is more
  // likely to stay there: P(x_2 = 0 | x_1 = 0) = 2 ∫∫ (1 - a) b / (a + b) = 1 - 2 K(1, 1).
  const two_state_exact_bayes bayes(1.0);
  std::vector<double> p(2);
  bayes.predictive(counts_of({0}), p);
  CHECK(p[0] == Approx(1.0 - 2.0 * k_integral(1, 1)).epsilon(1e-10));
  CHECK(p[0] > 0.55);
}

TEST_CASE("other alphas: evidences of all sequences sum to one and chain into predictions",
          "[data][bayes_exact]") {
  for (const double alpha : {0.3, 2.5}) {
    const two_state_exact_bayes bayes(alpha);
    std::vector<double> p(2);
    double total = 0.0;
    constexpr int length = 7;
    for (unsigned code = 0; code < (1u << length); ++code) {
      const auto x = bits(code, length);
      total += std::exp(bayes.log_evidence(counts_of(x)));
      const std::vector<int> prefix(x.begin(), x.end() - 1);
      bayes.predictive(counts_of(prefix), p);
      const double ratio =
          std::exp(bayes.log_evidence(counts_of(x)) - bayes.log_evidence(counts_of(prefix)));
      INFO("alpha " << alpha << ", code " << code);
      CHECK(p[static_cast<std::size_t>(x.back())] == Approx(ratio).epsilon(1e-9));
    }
    CHECK(total == Approx(1.0).epsilon(1e-9));
  }
}

TEST_CASE("long sequences: predictions stay accurate when the posterior is narrow",
          "[data][bayes_exact]") {
  // A 5000-token chain: the default rule must agree with a rule of 4x finer steps.
  const dirichlet_markov_source source{2, 1.0};
  Rng gen(1);
  const markov_chain chain = source.draw_chain(gen);
  std::vector<std::int32_t> tokens(5000);
  chain.sample_sequence(gen, tokens);
  transition_counts counts(2);
  for (auto x : tokens) counts.observe(x);
  std::vector<double> coarse(2), fine(2);
  two_state_exact_bayes(1.0).predictive(counts, coarse);
  two_state_exact_bayes(1.0, {0.1, 0.15, 40.0}).predictive(counts, fine);
  CHECK(coarse[0] == Approx(fine[0]).margin(1e-10));
  // And by then the prediction is close to the true row.
  CHECK(coarse[0] == Approx(chain.probability(tokens.back(), 0)).margin(0.05));
}

TEST_CASE("importance sampling agrees with the two-state quadrature", "[data][bayes_exact]") {
  const two_state_exact_bayes bayes(1.0);
  Rng sampler(2);
  std::vector<double> p(2);
  for (const auto& x : {std::vector<int>{0}, std::vector<int>{1, 1, 0}, bits(0b1011001, 7)}) {
    const auto counts = counts_of(x);
    bayes.predictive(counts, p);
    const auto estimate = stationary_start_predictive_sampled(counts, 1.0, 20000, sampler);
    CHECK(estimate.probabilities[0] + estimate.probabilities[1] == Approx(1.0));
    CHECK(std::abs(estimate.probabilities[0] - p[0]) < 5 * estimate.standard_errors[0]);
    CHECK(estimate.standard_errors[0] < 0.01);
    CHECK(estimate.effective_samples > 5000);
  }
}

TEST_CASE("three states: importance sampling matches the frequencies of simulated chains",
          "[data][bayes_exact]") {
  // Reference: draw chains and stationary starts directly, keep those that begin with the
  // prefix, and count the next token.
  const dirichlet_markov_source source{3, 1.0, 1, chain_start::stationary};
  std::vector<std::int32_t> tokens(3);
  double after_0 = 0, stay_after_0 = 0, after_00 = 0, stay_after_00 = 0;
  for (int s = 0; s < 100000; ++s) {
    Rng gen = Rng::for_stream(3, static_cast<std::uint64_t>(s));
    source.sample_sequence(gen, tokens);
    if (tokens[0] != 0) continue;
    after_0 += 1;
    stay_after_0 += tokens[1] == 0;
    if (tokens[1] != 0) continue;
    after_00 += 1;
    stay_after_00 += tokens[2] == 0;
  }
  Rng sampler(4);
  for (const auto& [prefix, hits, trials] :
       {std::tuple{std::vector<int>{0}, stay_after_0, after_0},
        std::tuple{std::vector<int>{0, 0}, stay_after_00, after_00}}) {
    const auto estimate =
        stationary_start_predictive_sampled(counts_of(prefix, 3), 1.0, 20000, sampler);
    const double frequency = hits / trials;
    const double simulation_error = std::sqrt(frequency * (1 - frequency) / trials);
    INFO("prefix length " << prefix.size() << ": sampled " << estimate.probabilities[0]
                          << ", simulated " << frequency);
    CHECK(std::abs(estimate.probabilities[0] - frequency) <
          5 * std::hypot(simulation_error, estimate.standard_errors[0]));
    // Finding the chain in state 0 makes staying there likelier than add-one's 1/3 or 1/2.
    CHECK(estimate.probabilities[0] > (prefix.size() == 1 ? 1.0 / 3.0 : 0.5));
  }
}

TEST_CASE("the exact predictor rejects counts it was not built for", "[data][bayes_exact]") {
  std::vector<double> p(2);
  CHECK_THROWS_AS(two_state_exact_bayes(1.0).predictive(transition_counts(3), p), shape_error);
  CHECK_THROWS_AS(two_state_exact_bayes(0.0), value_error);
}

}  // namespace data_test_bayes_markov_exact
