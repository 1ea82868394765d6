// Expected per-position loss of reference predictors on random Dirichlet Markov chains: the
// curves a transformer trained on dirichlet_markov_source is compared against.
//
// Position t = 1..T means: the predictor has seen x_1..x_t and predicts x_{t+1}. Its loss
// there is the cross-entropy against the TRUE next-token distribution, the row P_{x_t,.}:
//
//     loss_t = - sum_j P_{x_t j} log q_t(j)   (nats),
//
// which is the expected log-loss over x_{t+1} without its sampling noise. The entropy floor
// H(P_{x_t,.}) is what the true chain itself would pay; loss_t - floor_t = KL(P_{x_t,.} || q_t).
// Curves are Monte Carlo averages over chains and sequences, each with its standard error; the
// uniform predictor's curve is exact.
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/bayes_markov.hpp"
#include "ranklens/data/bayes_markov_exact.hpp"
#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/running_mean.hpp"

namespace ranklens::data {

// One predictor's loss at positions t = 1..T (entry t-1), and its average over positions.
// The average's error comes from the per-sequence averages, so it accounts for the
// correlation between positions of one sequence.
struct loss_curve {
  std::vector<double> mean;
  std::vector<double> standard_error;
  double average = 0.0;
  double average_standard_error = 0.0;
};

struct markov_loss_config {
  index_t states = 2;
  double alpha = 1.0;
  index_t positions = 100;   // T: predictions after x_1..x_t for t = 1..T
  index_t sequences = 1000;  // chains drawn, one sequence each
  std::uint64_t seed = 0;
  chain_start start = chain_start::stationary;
  double unigram_pseudocount = 1.0;
  bool exact_bayes = true;         // two states: quadrature; more: importance sampling, if asked
  index_t importance_samples = 0;  // more than two states; 0 leaves the exact curve out
};

struct markov_loss_curves {
  loss_curve uniform;
  loss_curve unigram;
  loss_curve add_alpha;
  std::optional<loss_curve> exact_bayes;
  loss_curve entropy_floor;
  // Paired differences predictor - floor = KL(true row || prediction), with their own
  // (much smaller) standard errors.
  loss_curve add_alpha_excess;
  std::optional<loss_curve> exact_bayes_excess;
  // add-alpha minus exact Bayes, paired: >= 0 in expectation, by the definition of Bayes.
  std::optional<loss_curve> add_alpha_minus_exact;
};

namespace detail {

// Accumulates one predictor's losses per position and per sequence.
class curve_accumulator {
 public:
  explicit curve_accumulator(index_t positions) : positions_(static_cast<std::size_t>(positions)) {}

  void add(index_t position, double loss) {
    positions_[static_cast<std::size_t>(position)].add(loss);
    sequence_sum_ += loss;
  }
  void end_sequence() {
    averages_.add(sequence_sum_ / static_cast<double>(positions_.size()));
    sequence_sum_ = 0.0;
  }
  loss_curve result() const {
    loss_curve curve;
    for (const auto& p : positions_) {
      curve.mean.push_back(p.mean());
      curve.standard_error.push_back(p.standard_error());
    }
    curve.average = averages_.mean();
    curve.average_standard_error = averages_.standard_error();
    return curve;
  }

 private:
  std::vector<running_mean> positions_;
  running_mean averages_;
  double sequence_sum_ = 0.0;
};

inline double cross_entropy(std::span<const double> truth, std::span<const double> prediction) {
  double loss = 0.0;
  for (std::size_t j = 0; j < truth.size(); ++j) {
    if (truth[j] > 0.0) loss -= truth[j] * std::log(prediction[j]);
  }
  return loss;
}

}  // namespace detail

inline markov_loss_curves estimate_markov_loss_curves(const markov_loss_config& config) {
  const index_t k = config.states, positions = config.positions;
  if (k < 2 || positions < 1 || config.sequences < 2) {
    throw value_error(
        "estimate_markov_loss_curves: need states >= 2, positions >= 1 and "
        "sequences >= 2");
  }
  const bool stationary = config.start == chain_start::stationary;
  // With a uniform start the add-alpha rule is itself the exact posterior predictive.
  const bool exact_by_quadrature = config.exact_bayes && stationary && k == 2;
  const bool exact_by_sampling =
      config.exact_bayes && stationary && k > 2 && config.importance_samples > 0;
  const bool exact_is_add_alpha = config.exact_bayes && !stationary;
  const bool has_exact = exact_by_quadrature || exact_by_sampling || exact_is_add_alpha;
  std::optional<two_state_exact_bayes> quadrature;
  if (exact_by_quadrature) quadrature.emplace(config.alpha);

  const dirichlet_markov_source source{k, config.alpha, 1, config.start};
  detail::curve_accumulator unigram(positions), add_alpha(positions), exact(positions),
      floor(positions), add_alpha_excess(positions), exact_excess(positions),
      add_alpha_minus_exact(positions);
  const auto ks = static_cast<std::size_t>(k);
  std::vector<double> q_unigram(ks), q_add_alpha(ks), q_exact(ks);
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(positions));
  transition_counts counts(k);

  for (index_t s = 0; s < config.sequences; ++s) {
    Rng gen = Rng::for_stream(config.seed, static_cast<std::uint64_t>(s));
    const markov_chain chain = source.draw_chain(gen);
    chain.sample_sequence(gen, tokens);
    // The exact predictor's own sampling uses a stream apart from the data's.
    Rng sampler = Rng::for_stream(~config.seed, static_cast<std::uint64_t>(s));
    counts.reset();
    for (index_t t = 0; t < positions; ++t) {
      counts.observe(tokens[static_cast<std::size_t>(t)]);
      const auto truth = chain.row(tokens[static_cast<std::size_t>(t)]);
      double entropy = 0.0;
      for (double p : truth) entropy -= p > 0.0 ? p * std::log(p) : 0.0;
      floor.add(t, entropy);

      unigram_predictive(counts, config.unigram_pseudocount, q_unigram);
      unigram.add(t, detail::cross_entropy(truth, q_unigram));

      add_alpha_predictive(counts, config.alpha, q_add_alpha);
      const double add_alpha_loss = detail::cross_entropy(truth, q_add_alpha);
      add_alpha.add(t, add_alpha_loss);
      add_alpha_excess.add(t, add_alpha_loss - entropy);

      if (!has_exact) continue;
      if (exact_by_quadrature) {
        quadrature->predictive(counts, q_exact);
      } else if (exact_by_sampling) {
        q_exact = stationary_start_predictive_sampled(counts, config.alpha,
                                                      config.importance_samples, sampler)
                      .probabilities;
      } else {
        q_exact = q_add_alpha;
      }
      const double exact_loss = detail::cross_entropy(truth, q_exact);
      exact.add(t, exact_loss);
      exact_excess.add(t, exact_loss - entropy);
      add_alpha_minus_exact.add(t, add_alpha_loss - exact_loss);
    }
    for (auto* curve : {&unigram, &add_alpha, &floor, &add_alpha_excess}) curve->end_sequence();
    if (has_exact) {
      for (auto* curve : {&exact, &exact_excess, &add_alpha_minus_exact}) curve->end_sequence();
    }
  }

  markov_loss_curves result;
  const double uniform_loss = std::log(static_cast<double>(k));
  result.uniform.mean.assign(static_cast<std::size_t>(positions), uniform_loss);
  result.uniform.standard_error.assign(static_cast<std::size_t>(positions), 0.0);
  result.uniform.average = uniform_loss;
  result.unigram = unigram.result();
  result.add_alpha = add_alpha.result();
  result.entropy_floor = floor.result();
  result.add_alpha_excess = add_alpha_excess.result();
  if (has_exact) {
    result.exact_bayes = exact.result();
    result.exact_bayes_excess = exact_excess.result();
    result.add_alpha_minus_exact = add_alpha_minus_exact.result();
  }
  return result;
}

}  // namespace ranklens::data
