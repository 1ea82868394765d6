// Markov chains over a vocabulary of k tokens, and the source of random chains used for
// in-context learning experiments (Edelman et al., "The evolution of statistical induction
// heads: in-context learning Markov chains", 2024): every sequence gets its own chain, whose
// transition rows are drawn i.i.d. from a symmetric Dirichlet(alpha).
//
// The n-gram variant lets the next token depend on the previous n-1 tokens (the context).
// A context (x_{t-c+1}, ..., x_t) of c tokens is numbered as the base-k number whose least
// significant digit is the newest token x_t, so the next context is (context * k + x) mod k^c.
#pragma once
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/stationary_distribution.hpp"

namespace ranklens::data {

// How the first context of a sequence is drawn.
enum class chain_start {
  stationary,  // from the chain's own stationary distribution over contexts
  uniform,     // each of the first tokens uniform and independent of the chain
};

// k^c, with a check that it stays a reasonable table size.
inline index_t context_count(index_t states, index_t context_length) {
  if (states < 1 || context_length < 1) {
    throw value_error("markov chain: need states >= 1 and context_length >= 1, got " +
                      std::to_string(states) + " and " + std::to_string(context_length));
  }
  index_t count = 1;
  for (index_t i = 0; i < context_length; ++i) {
    if (count > (index_t{1} << 26) / states) {
      throw value_error("markov chain: " + std::to_string(states) + "^" +
                        std::to_string(context_length) + " contexts is too many");
    }
    count *= states;
  }
  return count;
}

// One fixed chain: a (contexts x states) row-stochastic table and a start distribution.
class markov_chain {
 public:
  markov_chain(index_t states, index_t context_length, std::vector<double> transitions,
               chain_start start = chain_start::stationary)
      : states_(states),
        context_length_(context_length),
        contexts_(context_count(states, context_length)),
        transitions_(std::move(transitions)),
        cumulative_(transitions_.size()),
        start_(start) {
    if (transitions_.size() != static_cast<std::size_t>(contexts_ * states_)) {
      throw shape_error("markov_chain: transition table has " +
                        std::to_string(transitions_.size()) + " entries, expected contexts * " +
                        "states = " + std::to_string(contexts_) + " * " + std::to_string(states_));
    }
    for (index_t c = 0; c < contexts_; ++c) {
      double row_sum = 0.0;
      for (double p : row(c)) row_sum += p;
      if (!(std::abs(row_sum - 1.0) < 1e-9)) {
        throw value_error("markov_chain: row " + std::to_string(c) + " sums to " +
                          std::to_string(row_sum) + ", expected 1");
      }
      cumulative_row(row(c), cumulative_span(c));
    }
    if (start_ == chain_start::stationary) {
      context_distribution_ = stationary_context_distribution();
    } else {
      context_distribution_.assign(static_cast<std::size_t>(contexts_),
                                   1.0 / static_cast<double>(contexts_));
    }
    context_cumulative_.resize(context_distribution_.size());
    cumulative_row(context_distribution_, context_cumulative_);
  }

  index_t vocab_size() const noexcept { return states_; }
  index_t states() const noexcept { return states_; }
  index_t context_length() const noexcept { return context_length_; }
  index_t contexts() const noexcept { return contexts_; }
  chain_start start() const noexcept { return start_; }

  // Next-token distribution after the given context.
  std::span<const double> row(index_t context) const noexcept {
    return {transitions_.data() + context * states_, static_cast<std::size_t>(states_)};
  }
  double probability(index_t context, index_t next) const noexcept {
    return transitions_[static_cast<std::size_t>(context * states_ + next)];
  }
  const std::vector<double>& transitions() const noexcept { return transitions_; }

  // Distribution of the first context_length tokens, as a distribution over contexts.
  const std::vector<double>& start_distribution() const noexcept { return context_distribution_; }

  index_t next_context(index_t context, index_t token) const noexcept {
    return (context * states_ + token) % contexts_;
  }

  // Stationary distribution of the chain lifted to contexts: context -> next context.
  std::vector<double> stationary_context_distribution() const {
    if (context_length_ == 1) return stationary_distribution(transitions_, states_);
    std::vector<double> lifted(static_cast<std::size_t>(contexts_ * contexts_), 0.0);
    for (index_t c = 0; c < contexts_; ++c) {
      for (index_t x = 0; x < states_; ++x) {
        lifted[static_cast<std::size_t>(c * contexts_ + next_context(c, x))] += probability(c, x);
      }
    }
    return stationary_distribution(lifted, contexts_);
  }

  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    const auto length = static_cast<index_t>(out.size());
    index_t context = categorical_from_cumulative(unit_uniform(gen), context_cumulative_);
    // The first context is written oldest token first: digit c-1-t of the context number.
    index_t divisor = contexts_ / states_;
    index_t t = 0;
    for (; t < context_length_ && t < length; ++t, divisor /= states_) {
      out[static_cast<std::size_t>(t)] = static_cast<std::int32_t>((context / divisor) % states_);
    }
    for (; t < length; ++t) {
      const index_t token = categorical_from_cumulative(unit_uniform(gen), cumulative_span(context));
      out[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(token);
      context = next_context(context, token);
    }
  }

 private:
  std::span<double> cumulative_span(index_t context) noexcept {
    return {cumulative_.data() + context * states_, static_cast<std::size_t>(states_)};
  }
  std::span<const double> cumulative_span(index_t context) const noexcept {
    return {cumulative_.data() + context * states_, static_cast<std::size_t>(states_)};
  }

  index_t states_;
  index_t context_length_;
  index_t contexts_;
  std::vector<double> transitions_;
  std::vector<double> cumulative_;
  chain_start start_;
  std::vector<double> context_distribution_;
  std::vector<double> context_cumulative_;
};

// The source of random chains: each sequence draws its own chain, every row ~ Dirichlet(alpha).
struct dirichlet_markov_source {
  index_t states = 2;
  double alpha = 1.0;
  index_t context_length = 1;  // n-gram order minus one
  chain_start start = chain_start::stationary;

  index_t vocab_size() const noexcept { return states; }

  markov_chain draw_chain(Rng& gen) const {
    if (!(alpha > 0.0)) throw value_error("dirichlet_markov_source: alpha must be positive");
    const index_t contexts = context_count(states, context_length);
    std::vector<double> transitions(static_cast<std::size_t>(contexts * states));
    for (index_t c = 0; c < contexts; ++c) {
      symmetric_dirichlet(gen, alpha,
                          {transitions.data() + c * states, static_cast<std::size_t>(states)});
    }
    return markov_chain(states, context_length, std::move(transitions), start);
  }

  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    draw_chain(gen).sample_sequence(gen, out);
  }
};

}  // namespace ranklens::data
