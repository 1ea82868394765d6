// In-context statistics of a token prefix and the count-based predictors built on them.
//
// For a chain whose rows are i.i.d. Dirichlet(alpha), and whose first context is drawn
// independently of the chain (chain_start::uniform), the posterior over each row is again
// Dirichlet, with the transition counts added, and the posterior predictive is the add-alpha
// (Lidstone) rule
//
//     p(x_{t+1} = j | x_1..x_t) = (n_{c j} + alpha) / (n_c + k alpha),   c = current context,
//
// which is then exactly Bayes-optimal. When the first token comes from the chain's own
// stationary distribution it is only close to optimal: see bayes_markov_exact.hpp.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/markov_chain.hpp"

namespace ranklens::data {

// Counts of a growing prefix: transitions context -> token, and plain token counts.
class transition_counts {
 public:
  explicit transition_counts(index_t states, index_t context_length = 1)
      : states_(states),
        context_length_(context_length),
        contexts_(context_count(states, context_length)),
        transitions_(static_cast<std::size_t>(contexts_ * states_), 0),
        context_totals_(static_cast<std::size_t>(contexts_), 0),
        tokens_(static_cast<std::size_t>(states_), 0) {}

  void reset() {
    std::fill(transitions_.begin(), transitions_.end(), 0);
    std::fill(context_totals_.begin(), context_totals_.end(), 0);
    std::fill(tokens_.begin(), tokens_.end(), 0);
    length_ = 0;
    context_ = 0;
    first_ = -1;
  }

  void observe(index_t token) {
    if (token < 0 || token >= states_) {
      throw value_error("transition_counts::observe: token " + std::to_string(token) +
                        " outside [0, " + std::to_string(states_) + ")");
    }
    if (length_ >= context_length_) {
      ++transitions_[static_cast<std::size_t>(context_ * states_ + token)];
      ++context_totals_[static_cast<std::size_t>(context_)];
    }
    if (length_ == 0) first_ = token;
    ++tokens_[static_cast<std::size_t>(token)];
    context_ = (context_ * states_ + token) % contexts_;
    ++length_;
  }

  index_t states() const noexcept { return states_; }
  index_t context_length() const noexcept { return context_length_; }
  index_t length() const noexcept { return length_; }
  index_t first_token() const noexcept { return first_; }
  // The newest context_length tokens as a context number (valid once length() >= that).
  index_t current_context() const noexcept { return context_; }
  bool context_complete() const noexcept { return length_ >= context_length_; }

  index_t transitions(index_t context, index_t token) const noexcept {
    return transitions_[static_cast<std::size_t>(context * states_ + token)];
  }
  index_t context_total(index_t context) const noexcept {
    return context_totals_[static_cast<std::size_t>(context)];
  }
  index_t token_count(index_t token) const noexcept {
    return tokens_[static_cast<std::size_t>(token)];
  }

 private:
  index_t states_;
  index_t context_length_;
  index_t contexts_;
  std::vector<index_t> transitions_;
  std::vector<index_t> context_totals_;
  std::vector<index_t> tokens_;
  index_t length_ = 0;
  index_t context_ = 0;
  index_t first_ = -1;
};

namespace detail {
inline void check_predictive_size(const transition_counts& counts, std::span<double> out,
                                  const char* what) {
  if (out.size() != static_cast<std::size_t>(counts.states())) {
    throw shape_error(std::string(what) + ": output has " + std::to_string(out.size()) +
                      " entries, expected one per state (" + std::to_string(counts.states()) + ")");
  }
}
}  // namespace detail

// The add-alpha rule above. Before a full context has been seen it predicts uniformly.
inline void add_alpha_predictive(const transition_counts& counts, double alpha,
                                 std::span<double> out) {
  detail::check_predictive_size(counts, out, "add_alpha_predictive");
  const index_t k = counts.states();
  if (!counts.context_complete()) {
    for (double& p : out) p = 1.0 / static_cast<double>(k);
    return;
  }
  const index_t context = counts.current_context();
  const double denominator =
      static_cast<double>(counts.context_total(context)) + static_cast<double>(k) * alpha;
  for (index_t j = 0; j < k; ++j) {
    out[static_cast<std::size_t>(j)] =
        (static_cast<double>(counts.transitions(context, j)) + alpha) / denominator;
  }
}

// The in-context unigram rule: (c_j + pseudocount) / (t + k pseudocount) from the counts c_j
// of all t tokens seen, ignoring order. The baseline a model reaches before it learns to use
// the previous token (the first plateau in Edelman et al. 2024).
inline void unigram_predictive(const transition_counts& counts, double pseudocount,
                               std::span<double> out) {
  detail::check_predictive_size(counts, out, "unigram_predictive");
  const index_t k = counts.states();
  const double denominator =
      static_cast<double>(counts.length()) + static_cast<double>(k) * pseudocount;
  for (index_t j = 0; j < k; ++j) {
    out[static_cast<std::size_t>(j)] =
        (static_cast<double>(counts.token_count(j)) + pseudocount) / denominator;
  }
}

}  // namespace ranklens::data
