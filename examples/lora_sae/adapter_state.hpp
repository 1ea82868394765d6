// The rank-1 adapters' state, one scalar A·x per adapter and token (layers × q, k, v, o, gate,
// up, down: 28 wide here), on the text the autoencoder reads: finetune-format traces (what it
// trains on, and unseen ones to test it) and the held-out test problems of the three tiers,
// written out as worked traces (problems that no training stream emits).
#pragma once
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "../lora_reasoning/adapter_analysis.hpp"

namespace lora_sae {

using namespace lora_reasoning;

inline constexpr index_t adapter_state_width = layer_count * sites_per_layer;  // rank 1: one scalar per adapter
using AdapterState = Tensor<float, Shape<dyn, adapter_state_width>>;
using StateTable = Tensor<float, Shape<dyn, dyn>>;  // capture_state's table: every position of a batch, PAD included
inline constexpr index_t rows_per_forward = 64;     // bounds the activations' memory

// Traces of the finetune format, seeded by `seed`, in batches of rows_per_forward: batch c is
// batch c of a batch_size-64 stream over `rows` traces, so whole batches only.
inline std::vector<reasoning::ReasoningBatch> trace_batches(const Settings& settings, index_t rows, std::uint64_t seed) {
  if (rows < rows_per_forward || rows % rows_per_forward != 0)
    throw value_error("trace_batches: rows must be a positive multiple of " + std::to_string(rows_per_forward) + ", got " + std::to_string(rows));
  std::vector<reasoning::ReasoningBatch> batches;
  const reasoning::FinetuneTraces source{.batch_size = rows_per_forward, .seq_len = settings.seq_len};
  for (index_t first = 0; first < rows; first += rows_per_forward) batches.push_back(source.batch(seed, rows, std::uint64_t(first / rows_per_forward)));
  return batches;
}

// The held-out test problems (evaluation_set of each tier, `per_tier` each, the seed the
// accuracy is graded on) written as worked traces without corrections, response-only targets.
inline std::vector<reasoning::ReasoningBatch> held_out_problem_batches(const Settings& settings, index_t per_tier) {
  if (per_tier < 1) throw value_error("held_out_problem_batches: per_tier must be at least 1, got " + std::to_string(per_tier));
  std::vector<reasoning::Example> examples;
  const reasoning::HeldOutSplit split;
  for (const index_t operators : reasoning::default_tiers)
    for (const auto& problem : reasoning::evaluation_set(split, operators, per_tier, settings.seed + 77, reasoning::Context::plain).problems)
      examples.push_back(reasoning::worked_example(problem, reasoning::Context::plain));
  const reasoning::FinetuneTraces format{.seq_len = settings.seq_len};
  std::vector<reasoning::ReasoningBatch> batches;
  for (std::size_t first = 0; first < examples.size(); first += std::size_t(rows_per_forward)) {
    const std::size_t n = std::min(examples.size() - first, std::size_t(rows_per_forward));
    batches.push_back(format.batch_of(std::span<const reasoning::Example>(examples).subspan(first, n)));
  }
  return batches;
}

// The state at every position of `batch` (rows·seq_len rows, PAD included), no gradients.
inline StateTable capture_state(Adapters& adapters, const reasoning::ReasoningBatch& batch) {
  return adapters.capture_state([&] {
    auto step = tape();
    auto guard = no_grad();
    adapters.model()(batch.tokens.view());
  });
}

// The rows of each batch's state whose token is not PAD, stacked.
inline AdapterState state_without_padding(Adapters& adapters, const std::vector<reasoning::ReasoningBatch>& batches) {
  std::vector<float> kept;
  for (const auto& batch : batches) {
    const StateTable state = capture_state(adapters, batch);
    const auto roles = batch.roles.span();
    for (index_t t = 0; t < state.extent(0); ++t)
      if (roles[std::size_t(t)] != std::int32_t(reasoning::Role::pad))
        kept.insert(kept.end(), state.data() + t * adapter_state_width, state.data() + (t + 1) * adapter_state_width);
  }
  AdapterState out(Shape<dyn, adapter_state_width>{index_t(kept.size()) / adapter_state_width});
  std::copy(kept.begin(), kept.end(), out.data());
  return out;
}

}  // namespace lora_sae
