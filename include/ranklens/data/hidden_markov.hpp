// Edge-emitting hidden Markov models, in the form computational mechanics uses (Crutchfield,
// "Between order and chaos", Nature Physics 2012; Shai et al., "Transformers represent belief
// state geometry in their residual stream", 2024): one matrix per symbol x,
//
//     T^(x)[i][j] = P(emit x and move to state j | state i),
//
// so that sum over x and j of T^(x)[i][j] is 1 for every state i. Sequences start from the
// stationary distribution of the state chain sum_x T^(x), so the token process is stationary.
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

class hidden_markov_model {
 public:
  // `symbol_transitions` holds T^(0), ..., T^(symbols-1), each (states x states) row-major.
  hidden_markov_model(index_t symbols, index_t states, std::vector<double> symbol_transitions)
      : symbols_(symbols), states_(states), symbol_transitions_(std::move(symbol_transitions)) {
    if (symbols < 1 || states < 1 ||
        symbol_transitions_.size() != static_cast<std::size_t>(symbols * states * states)) {
      throw shape_error(
          "hidden_markov_model: " + std::to_string(symbol_transitions_.size()) +
          " entries given, expected symbols * states * states = " + std::to_string(symbols) +
          " * " + std::to_string(states) + " * " + std::to_string(states));
    }
    state_transitions_.assign(static_cast<std::size_t>(states * states), 0.0);
    emissions_.assign(static_cast<std::size_t>(states * symbols), 0.0);
    // Row i of the sampling table lists P(x, j | i) at column x * states + j.
    std::vector<double> outcomes(static_cast<std::size_t>(symbols * states));
    outcome_cumulative_.resize(static_cast<std::size_t>(states * symbols * states));
    for (index_t i = 0; i < states; ++i) {
      double row_sum = 0.0;
      for (index_t x = 0; x < symbols; ++x) {
        for (index_t j = 0; j < states; ++j) {
          const double p = transition(x, i, j);
          if (!(p >= 0.0)) throw value_error("hidden_markov_model: negative entry");
          row_sum += p;
          state_transitions_[static_cast<std::size_t>(i * states + j)] += p;
          emissions_[static_cast<std::size_t>(i * symbols + x)] += p;
          outcomes[static_cast<std::size_t>(x * states + j)] = p;
        }
      }
      if (!(std::abs(row_sum - 1.0) < 1e-9)) {
        throw value_error("hidden_markov_model: outgoing probabilities of state " +
                          std::to_string(i) + " sum to " + std::to_string(row_sum) +
                          ", expected 1");
      }
      cumulative_row(outcomes, {outcome_cumulative_.data() + i * symbols * states,
                                static_cast<std::size_t>(symbols * states)});
    }
    stationary_ = stationary_distribution(state_transitions_, states);
    stationary_cumulative_.resize(stationary_.size());
    cumulative_row(stationary_, stationary_cumulative_);
  }

  index_t vocab_size() const noexcept { return symbols_; }
  index_t symbols() const noexcept { return symbols_; }
  index_t states() const noexcept { return states_; }

  double transition(index_t symbol, index_t from, index_t to) const noexcept {
    return symbol_transitions_[static_cast<std::size_t>((symbol * states_ + from) * states_ + to)];
  }
  // T^(symbol), (states x states) row-major.
  std::span<const double> symbol_matrix(index_t symbol) const noexcept {
    return {symbol_transitions_.data() + symbol * states_ * states_,
            static_cast<std::size_t>(states_ * states_)};
  }
  // sum_x T^(x), the Markov chain of the hidden state.
  const std::vector<double>& state_transitions() const noexcept { return state_transitions_; }
  // P(emit x | state i) = sum_j T^(x)[i][j], (states x symbols) row-major.
  std::span<const double> emission_row(index_t state) const noexcept {
    return {emissions_.data() + state * symbols_, static_cast<std::size_t>(symbols_)};
  }
  const std::vector<double>& stationary() const noexcept { return stationary_; }

  // Unifilar: the current state and the emitted symbol determine the next state (at most one
  // j with T^(x)[i][j] > 0). Then the state can be tracked exactly from the tokens.
  bool unifilar() const noexcept {
    for (index_t x = 0; x < symbols_; ++x) {
      for (index_t i = 0; i < states_; ++i) {
        int successors = 0;
        for (index_t j = 0; j < states_; ++j) successors += transition(x, i, j) > 0.0;
        if (successors > 1) return false;
      }
    }
    return true;
  }

  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    sample_with_states(gen, out, {});
  }

  // Also records the hidden state before each emission, when `states_out` is non-empty.
  void sample_with_states(Rng& gen, std::span<std::int32_t> out,
                          std::span<std::int32_t> states_out) const {
    if (!states_out.empty() && states_out.size() != out.size()) {
      throw shape_error(
          "hidden_markov_model::sample_with_states: " + std::to_string(states_out.size()) +
          " state slots for " + std::to_string(out.size()) + " tokens");
    }
    index_t state = categorical_from_cumulative(unit_uniform(gen), stationary_cumulative_);
    const auto outcomes = static_cast<std::size_t>(symbols_ * states_);
    for (std::size_t t = 0; t < out.size(); ++t) {
      if (!states_out.empty()) states_out[t] = static_cast<std::int32_t>(state);
      const index_t outcome = categorical_from_cumulative(
          unit_uniform(gen),
          {outcome_cumulative_.data() + static_cast<std::size_t>(state) * outcomes, outcomes});
      out[t] = static_cast<std::int32_t>(outcome / states_);
      state = outcome % states_;
    }
  }

 private:
  index_t symbols_;
  index_t states_;
  std::vector<double> symbol_transitions_;
  std::vector<double> state_transitions_;
  std::vector<double> emissions_;
  std::vector<double> outcome_cumulative_;
  std::vector<double> stationary_;
  std::vector<double> stationary_cumulative_;
};

}  // namespace ranklens::data
