// A non-ergodic source: each sequence first draws one component process (with given weights)
// and then is a sample of that process alone. Pretraining on such mixtures is the setting in
// which next-token prediction forces in-context inference of the component (arXiv 2505.18373).
//
// Components are type-erased, so a Markov source, an HMM and a copying task can be mixed.
// Each component's tokens are shifted by its offset into one shared vocabulary: by default
// offsets stack the vocabularies side by side (disjoint); equal offsets make them overlap, so
// the component must be inferred from the statistics rather than read off the token ids.
// An optional BOS token (the last id of the vocabulary) starts every sequence.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/token_batch.hpp"

namespace ranklens::data {

class nonergodic_mixture {
 public:
  // Adds a component; without an offset it goes after every token id used so far.
  template <token_process P>
  nonergodic_mixture& add(P process, double weight, std::optional<index_t> offset = {}) {
    if (!(weight > 0.0)) throw value_error("nonergodic_mixture::add: weight must be positive");
    const index_t start = offset.value_or(component_vocab_end());
    if (start < 0) throw value_error("nonergodic_mixture::add: negative offset");
    const auto vocab = static_cast<index_t>(process.vocab_size());
    components_.push_back({[process = std::move(process)](Rng& gen, std::span<std::int32_t> out) {
                             process.sample_sequence(gen, out);
                           },
                           vocab, weight, start});
    std::vector<double> weights;
    for (const auto& c : components_) weights.push_back(c.weight / total_weight());
    choice_cumulative_.resize(weights.size());
    cumulative_row(weights, choice_cumulative_);
    return *this;
  }

  nonergodic_mixture& with_bos(bool enabled = true) {
    bos_ = enabled;
    return *this;
  }

  index_t components() const noexcept { return static_cast<index_t>(components_.size()); }
  index_t offset(index_t component) const { return entry(component).offset; }
  index_t component_vocab_size(index_t component) const { return entry(component).vocab; }
  double weight(index_t component) const { return entry(component).weight / total_weight(); }

  index_t vocab_size() const noexcept { return component_vocab_end() + (bos_ ? 1 : 0); }
  std::optional<std::int32_t> bos_token() const noexcept {
    if (!bos_) return std::nullopt;
    return static_cast<std::int32_t>(component_vocab_end());
  }

  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    sample_sequence_and_component(gen, out);
  }

  // Same, and says which component was drawn.
  index_t sample_sequence_and_component(Rng& gen, std::span<std::int32_t> out) const {
    if (components_.empty()) throw value_error("nonergodic_mixture: no components");
    const index_t chosen = categorical_from_cumulative(unit_uniform(gen), choice_cumulative_);
    const auto& c = components_[static_cast<std::size_t>(chosen)];
    std::span<std::int32_t> body = out;
    if (bos_ && !out.empty()) {
      out[0] = *bos_token();
      body = out.subspan(1);
    }
    c.sample(gen, body);
    for (auto& token : body) token += static_cast<std::int32_t>(c.offset);
    return chosen;
  }

 private:
  struct component {
    std::function<void(Rng&, std::span<std::int32_t>)> sample;
    index_t vocab;
    double weight;
    index_t offset;
  };

  const component& entry(index_t c) const {
    if (c < 0 || c >= components()) {
      throw value_error("nonergodic_mixture: component " + std::to_string(c) +
                        " out of range [0, " + std::to_string(components()) + ")");
    }
    return components_[static_cast<std::size_t>(c)];
  }
  index_t component_vocab_end() const noexcept {
    index_t end = 0;
    for (const auto& c : components_) end = std::max(end, c.offset + c.vocab);
    return end;
  }
  double total_weight() const noexcept {
    double total = 0.0;
    for (const auto& c : components_) total += c.weight;
    return total;
  }

  std::vector<component> components_;
  std::vector<double> choice_cumulative_;
  bool bos_ = false;
};

}  // namespace ranklens::data
