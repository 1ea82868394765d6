// What a count-based in-context strategy predicts after every prefix of a batch of sequences,
// as one table: entry (b, t, j) is the strategy's probability that token t + 1 of sequence b is
// j, having seen tokens 0 .. t. This is the same (batch, position, token) layout as a model's
// logits on those sequences, so the two can be compared position by position
// (interp/predictive_kl.hpp).
//
//   auto add_one = predictive_table(tokens, batch, T, k, [](const transition_counts& c, std::span<double> q) {
//     add_alpha_predictive(c, 1.0, q);
//   });
#pragma once
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/bayes_markov.hpp"

namespace ranklens::data {

// A strategy reads the first-order counts of the prefix and writes one probability per state.
template <class S>
concept counts_strategy = std::invocable<S&, const transition_counts&, std::span<double>>;

// tokens: `sequences` rows of `length` tokens in [0, states), row-major. Returns
// sequences × length × states probabilities, row-major.
template <counts_strategy Strategy>
std::vector<double> predictive_table(std::span<const std::int32_t> tokens, index_t sequences, index_t length, index_t states,
                                     Strategy&& strategy) {
  if (sequences < 0 || length < 0 || tokens.size() != std::size_t(sequences * length))
    throw shape_error("predictive_table: " + std::to_string(tokens.size()) + " tokens, expected sequences * length = " +
                      std::to_string(sequences) + " * " + std::to_string(length));
  const auto k = std::size_t(states);
  std::vector<double> table(tokens.size() * k);
  transition_counts counts(states);
  for (index_t b = 0; b < sequences; ++b) {
    counts.reset();
    for (index_t t = 0; t < length; ++t) {
      const auto entry = std::size_t(b * length + t);
      counts.observe(tokens[entry]);  // names a token outside [0, states)
      strategy(counts, std::span<double>(table.data() + entry * k, k));
    }
  }
  return table;
}

}  // namespace ranklens::data
