// A mixture of biased coins: the simplest non-ergodic source. Each sequence picks one of n
// coins uniformly, with biases P(token 1) = i / (n + 1) for i = 1 .. n, and flips it at every
// position. Predicting well means inferring the coin in context (a discrete posterior over n
// hypotheses), the classic toy case of in-context learning as Bayesian inference.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"

namespace ranklens::data {

struct coin_mixture_source {
  index_t coins = 3;

  index_t vocab_size() const noexcept { return 2; }

  // P(token 1) for coin index 0 .. coins-1.
  double bias(index_t coin) const noexcept {
    return static_cast<double>(coin + 1) / static_cast<double>(coins + 1);
  }

  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    if (coins < 1) throw value_error("coin_mixture_source: need at least one coin");
    const double heads = bias(static_cast<index_t>(uniform_below(gen, static_cast<std::uint64_t>(coins))));
    for (auto& token : out) token = unit_uniform(gen) < heads ? 1 : 0;
  }

  // Bayes-optimal P(next token = 1 | ones, zeros seen so far): the posterior over coins is
  // proportional to b^ones (1 - b)^zeros (uniform prior), and the prediction is its mean bias.
  double predict_one(index_t ones, index_t zeros) const {
    std::vector<double> log_weight(static_cast<std::size_t>(coins));
    double largest = -1e300;
    for (index_t c = 0; c < coins; ++c) {
      const double b = bias(c);
      log_weight[static_cast<std::size_t>(c)] =
          static_cast<double>(ones) * std::log(b) + static_cast<double>(zeros) * std::log1p(-b);
      largest = std::max(largest, log_weight[static_cast<std::size_t>(c)]);
    }
    double total = 0.0, mean_bias = 0.0;
    for (index_t c = 0; c < coins; ++c) {
      const double w = std::exp(log_weight[static_cast<std::size_t>(c)] - largest);
      total += w;
      mean_bias += w * bias(c);
    }
    return mean_bias / total;
  }
};

}  // namespace ranklens::data
