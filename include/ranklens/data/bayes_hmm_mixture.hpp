// The Bayes-optimal next-token predictor for a finite mixture of HMMs, by exact filtering of
// the joint belief over (component, hidden state).
//
// Prior: component c with weight w_c, its state from its stationary distribution pi_c. After
// each token v the belief b(c, i) = P(c, S_t = i | v_1..v_t) is updated by Bayes' rule,
//
//     b'(c, j)  ∝  sum_i b(c, i) T_c^(v - offset_c)[i][j],
//
// and the predictive is p(v) = sum_c sum_i b(c, i) P_c(emit v - offset_c | i). A single HMM is
// the one-component case; the belief states of Shai et al. (2024) are its b(0, .).
//
// Components may share token ids (equal offsets) or not; a token outside a component's range
// has probability 0 under it, which is how disjoint vocabularies identify the component.
#pragma once
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/hidden_markov.hpp"

namespace ranklens::data {

struct hmm_component {
  hidden_markov_model model;
  double weight = 1.0;
  index_t offset = 0;  // token id of the component's symbol 0
};

class hmm_mixture_filter {
 public:
  explicit hmm_mixture_filter(std::vector<hmm_component> components)
      : components_(std::move(components)) {
    if (components_.empty()) throw value_error("hmm_mixture_filter: no components");
    double total = 0.0;
    for (const auto& c : components_) {
      if (!(c.weight > 0.0) || c.offset < 0) {
        throw value_error("hmm_mixture_filter: weights must be positive, offsets non-negative");
      }
      total += c.weight;
      belief_offset_.push_back(static_cast<index_t>(belief_.size()));
      belief_.resize(belief_.size() + static_cast<std::size_t>(c.model.states()));
      vocab_size_ = std::max(vocab_size_, c.offset + c.model.symbols());
    }
    for (auto& c : components_) c.weight /= total;
    scratch_.resize(belief_.size());
    reset();
  }

  index_t vocab_size() const noexcept { return vocab_size_; }
  index_t components() const noexcept { return static_cast<index_t>(components_.size()); }

  // Back to the prior, before any token.
  void reset() {
    for (std::size_t c = 0; c < components_.size(); ++c) {
      const auto& pi = components_[c].model.stationary();
      for (std::size_t i = 0; i < pi.size(); ++i) {
        belief_[static_cast<std::size_t>(belief_offset_[c]) + i] = components_[c].weight * pi[i];
      }
    }
  }

  // P(next token = v | tokens so far) for every v in [0, vocab_size()).
  void predictive(std::span<double> out) const {
    if (out.size() != static_cast<std::size_t>(vocab_size_)) {
      throw shape_error("hmm_mixture_filter::predictive: output has " + std::to_string(out.size()) +
                        " entries, vocabulary has " + std::to_string(vocab_size_));
    }
    std::fill(out.begin(), out.end(), 0.0);
    for (std::size_t c = 0; c < components_.size(); ++c) {
      const auto& model = components_[c].model;
      for (index_t i = 0; i < model.states(); ++i) {
        const double b = belief_[static_cast<std::size_t>(belief_offset_[c] + i)];
        if (b == 0.0) continue;
        const auto emit = model.emission_row(i);
        for (index_t x = 0; x < model.symbols(); ++x) {
          out[static_cast<std::size_t>(components_[c].offset + x)] +=
              b * emit[static_cast<std::size_t>(x)];
        }
      }
    }
  }

  // Conditions on the next token; returns the probability the predictive gave it (so that
  // -log of the result is the Bayes-optimal log-loss at this position).
  double observe(index_t token) {
    double total = 0.0;
    for (std::size_t c = 0; c < components_.size(); ++c) {
      const auto& model = components_[c].model;
      const index_t symbol = token - components_[c].offset;
      const std::size_t base = static_cast<std::size_t>(belief_offset_[c]);
      const auto states = static_cast<std::size_t>(model.states());
      for (std::size_t j = 0; j < states; ++j) scratch_[base + j] = 0.0;
      if (symbol < 0 || symbol >= model.symbols()) continue;
      const auto matrix = model.symbol_matrix(symbol);
      for (std::size_t i = 0; i < states; ++i) {
        const double b = belief_[base + i];
        if (b == 0.0) continue;
        for (std::size_t j = 0; j < states; ++j) scratch_[base + j] += b * matrix[i * states + j];
      }
      for (std::size_t j = 0; j < states; ++j) total += scratch_[base + j];
    }
    if (!(total > 0.0)) {
      throw value_error("hmm_mixture_filter::observe: token " + std::to_string(token) +
                        " has probability 0 under every component");
    }
    for (std::size_t k = 0; k < belief_.size(); ++k) belief_[k] = scratch_[k] / total;
    return total;
  }

  // P(component c | tokens so far).
  double component_posterior(index_t c) const {
    double mass = 0.0;
    for (const double b : component_belief(c)) mass += b;
    return mass;
  }

  // The joint belief restricted to component c (sums to component_posterior(c)).
  std::span<const double> component_belief(index_t c) const {
    if (c < 0 || c >= components()) {
      throw value_error("hmm_mixture_filter: component " + std::to_string(c) + " out of range");
    }
    return {belief_.data() + belief_offset_[static_cast<std::size_t>(c)],
            static_cast<std::size_t>(components_[static_cast<std::size_t>(c)].model.states())};
  }

 private:
  std::vector<hmm_component> components_;
  std::vector<index_t> belief_offset_;
  std::vector<double> belief_;
  std::vector<double> scratch_;
  index_t vocab_size_ = 0;
};

}  // namespace ranklens::data
