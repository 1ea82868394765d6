// How far a model's next-token distributions are from those of a reference strategy, position
// by position. Edelman et al. 2024 ("The evolution of statistical induction heads") and arXiv
// 2505.18373 follow a model through training by its distance to the uniform, in-context
// unigram and in-context bigram (Bayes) strategies: the model passes near one after another.
//
// Both directions are returned. KL(strategy ‖ model) = E_strategy[log strategy − log model] is
// what the model's cross-entropy would exceed the strategy's by if the strategy were the truth
// (the direction of loss_t − floor_t in data/loss_curves.hpp); KL(model ‖ strategy) weights the
// difference by the model's own predictions.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::interp {

// Logits of shape (batch, seq, vocab): a Tensor, a TensorView, or anything with extent(i)
// and operator()(b, t, j).
template <class L>
concept LogitTensor = requires(const L& logits, index_t i) {
  { logits.extent(std::size_t{0}) } -> std::convertible_to<index_t>;
  { logits(i, i, i) } -> std::convertible_to<double>;
};

// log q(j) of the model's next-token distribution at (b, t), in double, without overflow.
template <LogitTensor Logits>
void log_probabilities_at(const Logits& logits, index_t b, index_t t, std::vector<double>& out) {
  const index_t vocab = logits.extent(2);
  out.resize(std::size_t(vocab));
  double top = -std::numeric_limits<double>::infinity();
  for (index_t j = 0; j < vocab; ++j) top = std::max(top, double(logits(b, t, j)));
  double normaliser = 0;
  for (index_t j = 0; j < vocab; ++j) normaliser += std::exp(double(logits(b, t, j)) - top);
  const double log_normaliser = top + std::log(normaliser);
  for (index_t j = 0; j < vocab; ++j) out[std::size_t(j)] = double(logits(b, t, j)) - log_normaliser;
}

// Mean over the batch at each position t (entry t), in nats.
struct kl_curves {
  std::vector<double> strategy_to_model;  // KL(strategy ‖ model)
  std::vector<double> model_to_strategy;  // KL(model ‖ strategy)
};

// strategy: batch × seq × vocab probabilities, row-major, laid out like the logits (e.g.
// data::predictive_table). A zero strategy probability where the model puts mass makes
// KL(model ‖ strategy) infinite, as it is.
template <LogitTensor Logits>
kl_curves kl_by_position(const Logits& logits, std::span<const double> strategy) {
  const index_t batch = logits.extent(0), seq = logits.extent(1), vocab = logits.extent(2);
  if (strategy.size() != std::size_t(batch * seq * vocab))
    throw shape_error("kl_by_position: " + std::to_string(strategy.size()) + " strategy probabilities for logits of shape (" +
                      std::to_string(batch) + ", " + std::to_string(seq) + ", " + std::to_string(vocab) +
                      "); expected one per logit");
  kl_curves curves{std::vector<double>(std::size_t(seq), 0.0), std::vector<double>(std::size_t(seq), 0.0)};
  std::vector<double> log_model;
  for (index_t b = 0; b < batch; ++b)
    for (index_t t = 0; t < seq; ++t) {
      log_probabilities_at(logits, b, t, log_model);
      const double* q = strategy.data() + (b * seq + t) * vocab;
      double forward = 0, reverse = 0;
      for (index_t j = 0; j < vocab; ++j) {
        const double p_model = std::exp(log_model[std::size_t(j)]);
        const double log_strategy = std::log(q[j]);
        if (q[j] > 0) forward += q[j] * (log_strategy - log_model[std::size_t(j)]);
        if (p_model > 0) reverse += p_model * (log_model[std::size_t(j)] - log_strategy);
      }
      curves.strategy_to_model[std::size_t(t)] += forward / double(batch);
      curves.model_to_strategy[std::size_t(t)] += reverse / double(batch);
    }
  return curves;
}

}  // namespace ranklens::interp
