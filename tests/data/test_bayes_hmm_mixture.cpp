// Specification of data/bayes_hmm_mixture.hpp: exact filtering over (component, state) gives
// the Bayes-optimal predictive of a mixture of HMMs.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "ranklens/data/bayes_hmm_mixture.hpp"
#include "ranklens/data/coin_mixture.hpp"
#include "ranklens/data/hmm_examples.hpp"

namespace data_test_bayes_hmm_mixture {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

namespace {

// P(x_1..x_T) by summing over the component and every hidden path s_1..s_{T+1} explicitly.
double brute_force_probability(const std::vector<hmm_component>& components,
                               const std::vector<int>& x) {
  double total_weight = 0.0;
  for (const auto& c : components) total_weight += c.weight;
  double probability = 0.0;
  for (const auto& c : components) {
    const auto& hmm = c.model;
    std::function<double(std::size_t, index_t)> paths = [&](std::size_t t, index_t state) {
      if (t == x.size()) return 1.0;
      const index_t symbol = x[t] - c.offset;
      if (symbol < 0 || symbol >= hmm.symbols()) return 0.0;
      double sum = 0.0;
      for (index_t next = 0; next < hmm.states(); ++next) {
        const double p = hmm.transition(symbol, state, next);
        if (p > 0.0) sum += p * paths(t + 1, next);
      }
      return sum;
    };
    for (index_t s = 0; s < hmm.states(); ++s) {
      probability +=
          c.weight / total_weight * hmm.stationary()[static_cast<std::size_t>(s)] * paths(0, s);
    }
  }
  return probability;
}

}  // namespace

TEST_CASE("even process: predictions worked out by hand", "[data][bayes_hmm]") {
  // pi = (2/3, 1/3). P(1) = 2/3 * 1/2 + 1/3 * 1 = 2/3. A 0 can only come from A and returns
  // to A: then P(1) = 1/2. After 0 1 the process is in B, which must emit 1.
  hmm_mixture_filter filter({{even_process(), 1.0, 0}});
  std::vector<double> p(2);
  filter.predictive(p);
  CHECK(p[1] == Approx(2.0 / 3.0));
  CHECK(filter.observe(0) == Approx(1.0 / 3.0));
  filter.predictive(p);
  CHECK(p[1] == Approx(0.5));
  filter.observe(1);
  filter.predictive(p);
  CHECK(p[1] == Approx(1.0));
  CHECK_THROWS_AS(filter.observe(0), value_error);  // impossible under the model
}

TEST_CASE("a mixture's predictive equals ratios of brute-force path sums", "[data][bayes_hmm]") {
  // Two components over the same two symbols: a non-unifilar 2-state HMM and golden mean.
  const std::vector<hmm_component> components{
      {hidden_markov_model(2, 2, {0.5, 0.0, 0.2, 0.5, 0.0, 0.5, 0.0, 0.3}), 0.3, 0},
      {golden_mean_process(0.4), 0.7, 0}};
  std::vector<double> p(2);
  for (int length = 0; length <= 5; ++length) {
    for (unsigned code = 0; code < (1u << length); ++code) {
      std::vector<int> x;
      for (int t = 0; t < length; ++t) x.push_back(static_cast<int>((code >> t) & 1));
      const double prefix = brute_force_probability(components, x);
      if (prefix == 0.0) continue;
      hmm_mixture_filter filter(components);
      for (int v : x) filter.observe(v);
      filter.predictive(p);
      for (int v = 0; v < 2; ++v) {
        auto extended = x;
        extended.push_back(v);
        INFO("length " << length << ", code " << code << ", next " << v);
        CHECK(p[static_cast<std::size_t>(v)] ==
              Approx(brute_force_probability(components, extended) / prefix).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("disjoint offsets reveal the component after one token", "[data][bayes_hmm]") {
  hmm_mixture_filter filter({{even_process(), 1.0, 0}, {golden_mean_process(), 3.0, 2}});
  CHECK(filter.vocab_size() == 4);
  CHECK(filter.component_posterior(1) == Approx(0.75));
  std::vector<double> p(4);
  filter.predictive(p);
  CHECK(p[0] + p[1] == Approx(0.25));
  filter.observe(3);  // golden mean's symbol 1
  CHECK(filter.component_posterior(0) == 0.0);
  CHECK(filter.component_posterior(1) == Approx(1.0));
  filter.predictive(p);
  CHECK(p[2] == Approx(1.0));  // after a 1 the golden mean process must emit 0
  filter.reset();
  CHECK(filter.component_posterior(0) == Approx(0.25));
}

TEST_CASE("coins as one-state HMMs: the filter reproduces the coin posterior mean",
          "[data][bayes_hmm]") {
  const coin_mixture_source coins{4};
  std::vector<hmm_component> components;
  for (index_t c = 0; c < 4; ++c) {
    const double heads = coins.bias(c);
    components.push_back({hidden_markov_model(2, 1, {1 - heads, heads}), 1.0, 0});
  }
  hmm_mixture_filter filter(components);
  std::vector<double> p(2);
  const std::vector<int> flips{1, 1, 0, 1, 1, 1, 0, 1};
  index_t ones = 0, zeros = 0;
  for (int v : flips) {
    filter.predictive(p);
    CHECK(p[1] == Approx(coins.predict_one(ones, zeros)).epsilon(1e-12));
    filter.observe(v);
    (v == 1 ? ones : zeros) += 1;
  }
}

}  // namespace data_test_bayes_hmm_mixture
