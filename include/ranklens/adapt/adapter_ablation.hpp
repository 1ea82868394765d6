// How much each adapter matters: switch a set of adapters off and measure, token by token, how
// far the model's next-token distributions move from those of the fully adapted model,
//
//   KL(p_full ‖ p_ablated) = Σ_v p_full(v) · (log p_full(v) − log p_ablated(v))     (nats)
//
// as "Rank-1 LoRAs Encode Interpretable Reasoning Signals" ablates adapters by layer and by
// module kind. The adapters' enabled flags are restored afterwards, also when a step throws.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "ranklens/adapt/lora_adapters.hpp"

namespace ranklens {

namespace detail {

// log-softmax of one row of logits, in double.
template <Real T>
void log_softmax_in_double(const T* logits, index_t vocab, std::vector<double>& out) {
  out.resize(std::size_t(vocab));
  double largest = -std::numeric_limits<double>::infinity();
  for (index_t v = 0; v < vocab; ++v) largest = std::max(largest, double(logits[v]));
  double sum = 0;
  for (index_t v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - largest);
  const double log_norm = largest + std::log(sum);
  for (index_t v = 0; v < vocab; ++v) out[std::size_t(v)] = double(logits[v]) - log_norm;
}

}  // namespace detail

// KL(p ‖ q) row by row for two (rows, vocab) tables of logits in host memory, in double (a plain
// loop: it reads host copies, so that models on any device can be ablated). out: (rows).
template <Real T>
void kl_of_logits(const T* p_logits, const T* q_logits, index_t rows, index_t vocab, double* out) {
  std::vector<double> log_p, log_q;
  for (index_t r = 0; r < rows; ++r) {
    detail::log_softmax_in_double(p_logits + r * vocab, vocab, log_p);
    detail::log_softmax_in_double(q_logits + r * vocab, vocab, log_q);
    double kl = 0;
    for (std::size_t v = 0; v < log_p.size(); ++v) kl += std::exp(log_p[v]) * (log_p[v] - log_q[v]);
    out[r] = std::max(kl, 0.0);  // rounding can leave a tiny negative
  }
}

// Per-token KL(full ‖ ablated) for `tokens` (batch, seq) when the adapters for which
// ablate(site) holds are off: (batch, seq), in nats. Runs two forwards under no_grad.
template <index_t Rank, class Model>
Tensor<double, Shape<dyn, dyn>> ablation_kl(LoraAdapters<Rank, Model>& adapters, const std::function<bool(const LoraSite&)>& ablate,
                                            TensorView<const std::int32_t, Shape<dyn, dyn>> tokens) {
  using T = typename Model::value_type;
  const index_t vocab = adapters.model().dims().vocab_size;
  std::vector<bool> enabled_before;
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) { enabled_before.push_back(adapter.enabled()); });
  const auto restore = [&] {
    std::size_t i = 0;
    adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) { adapter.set_enabled(enabled_before[i++]); });
  };
  const auto logits = [&] {
    auto step = tape();
    auto guard = no_grad();
    return to_host(contiguous(adapters.model()(tokens)).value());  // host values on every device
  };
  const auto full = logits();
  decltype(logits()) ablated;
  try {
    std::size_t i = 0;
    adapters.for_each_attached([&](const LoraSite& site, auto& adapter, auto&) { adapter.set_enabled(enabled_before[i++] && !ablate(site)); });
    ablated = logits();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  Tensor<double, Shape<dyn, dyn>> kl(Shape<dyn, dyn>{tokens.extent(0), tokens.extent(1)});
  kl_of_logits<T>(full.data(), ablated.data(), tokens.extent(0) * tokens.extent(1), vocab, kl.data());
  return kl;
}

}  // namespace ranklens
