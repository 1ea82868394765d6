// A sparse autoencoder on the rank-1 adapters' state, as the paper's second analysis: the 28
// adapters' scalars A·x per token (layers × q, k, v, o, gate, up, down) are captured on finetune
// traces, a BatchTopK SparseAutoencoder<16> with 8× expansion is trained on them (Adam 5e-4, as
// the paper; 8 passes, see adapter_sae), and its latents are classified by the roles of their strongest
// tokens exactly as the adapter features and the MLP neurons are (adapter_analysis.hpp). The
// autoencoder is written as a SAELens directory and its latents as a feature dashboard.
#pragma once
#include <algorithm>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "adapter_analysis.hpp"
#include "ranklens/interp/feature_dashboard.hpp"
#include "ranklens/io/saelens_files.hpp"
#include "ranklens/sae/sae_metrics.hpp"
#include "ranklens/sae/sae_trainer.hpp"

namespace lora_reasoning {

inline constexpr index_t adapter_state_width = layer_count * sites_per_layer;  // rank 1: one scalar per adapter
inline constexpr index_t adapter_sae_latents = 8 * adapter_state_width;
using AdapterSae = SparseAutoencoder<16, adapter_state_width, adapter_sae_latents>;
using AdapterState = Tensor<float, Shape<dyn, adapter_state_width>>;

struct AdapterSaeResult {
  index_t training_tokens = 0, passes = 0, steps = 0;
  SaeEvaluation held_out{};  // BatchTopK on traces the autoencoder did not see
  FeatureSet latents;        // on the same corpus as the adapter features
  double seconds = 0;
};

// The adapters' state on `rows` traces of the finetune format (seed `seed`), without PAD tokens.
inline AdapterState adapter_state_on_traces(Adapters& adapters, const Settings& settings, index_t rows, std::uint64_t seed) {
  constexpr index_t chunk = 64;  // rows per forward, to bound the activations' memory
  // Chunk c is batch c of a batch_size-64 stream over the `rows` traces: whole chunks only, or
  // a shorter last batch would index the stream differently and repeat traces.
  if (rows < chunk || rows % chunk != 0)
    throw value_error("adapter_state_on_traces: rows must be a positive multiple of " + std::to_string(chunk) + ", got " + std::to_string(rows));
  std::vector<float> kept;
  for (index_t first = 0; first < rows; first += chunk) {
    const auto batch = reasoning::FinetuneTraces{.batch_size = chunk, .seq_len = settings.seq_len}.batch(seed, rows, std::uint64_t(first / chunk));
    const auto state = adapters.capture_state([&] {
      auto step = tape();
      auto guard = no_grad();
      adapters.model()(batch.tokens.view());
    });
    const auto roles = batch.roles.span();
    for (index_t t = 0; t < state.extent(0); ++t)
      if (roles[std::size_t(t)] != std::int32_t(reasoning::Role::pad))
        kept.insert(kept.end(), state.data() + t * adapter_state_width, state.data() + (t + 1) * adapter_state_width);
  }
  AdapterState out(Shape<dyn, adapter_state_width>{index_t(kept.size()) / adapter_state_width});
  std::copy(kept.begin(), kept.end(), out.data());
  return out;
}

// Rows of `x` in a seeded random order, so that a batch mixes traces and positions.
inline AdapterState shuffled_rows(const AdapterState& x, std::uint64_t seed) {
  std::vector<index_t> order(std::size_t(x.extent(0)));
  std::iota(order.begin(), order.end(), 0);
  Rng gen(seed);
  shuffle(std::span<index_t>(order), gen);
  AdapterState out(x.shape());
  for (std::size_t r = 0; r < order.size(); ++r)
    std::copy_n(x.data() + order[r] * adapter_state_width, adapter_state_width, out.data() + index_t(r) * adapter_state_width);
  return out;
}

// Trains the autoencoder on the adapters' state over `traces` traces and measures it; writes the
// SAELens directory and the dashboard into `out`.
// The paper makes one pass over its traces; over this task's 90 thousand tokens one pass left
// half of the state's variance unexplained (FVU 0.53), so the default makes 8, each in a new order.
inline AdapterSaeResult adapter_sae(Adapters& adapters, const Settings& settings, const FeatureCorpus& corpus, const std::filesystem::path& out,
                                    index_t traces = 2048, index_t passes = 8, index_t batch = 256, index_t top_k = 20,
                                    const interp::FeatureClassRule& rule = {}) {
  const Stopwatch watch;
  AdapterSaeResult result;
  const AdapterState state = adapter_state_on_traces(adapters, settings, traces, settings.seed + 11000);
  const AdapterState held_out = adapter_state_on_traces(adapters, settings, 256, settings.seed + 12000);
  result.training_tokens = state.extent(0);
  result.passes = passes;

  Rng init(settings.seed + 11002);
  AdapterSae sae(init, SaeActivation::batch_top_k);
  sae.hook_name = "lora_adapters.rank1_state";
  const index_t steps_per_pass = result.training_tokens / batch;
  result.steps = passes * steps_per_pass;
  SaeTrainer trainer(sae, {.lr = 5e-4, .warmup_steps = result.steps / 20, .decay_steps = result.steps, .dead_after_tokens = 20 * batch * 10});
  const auto rows_of = [](const AdapterState& x, index_t first, index_t n) {
    return TensorView<const float, Shape<dyn, adapter_state_width>, cpu_t>(x.data() + first * adapter_state_width, Shape<dyn, adapter_state_width>{n});
  };
  for (index_t pass = 0; pass < passes; ++pass) {
    const AdapterState order = shuffled_rows(state, settings.seed + 11100 + std::uint64_t(pass));
    if (pass == 0) trainer.initialise(rows_of(order, 0, std::min<index_t>(result.training_tokens, 16384)));
    for (index_t s = 0; s < steps_per_pass; ++s) trainer.step(rows_of(order, s * batch, batch));
  }
  result.held_out = evaluate_sae(sae, held_out.view(), SaeActivation::batch_top_k);

  // The latents on the feature corpus, densely, for the role summary and the dashboard.
  const auto corpus_state = adapters.capture_state([&] {
    auto step = tape();
    auto guard = no_grad();
    adapters.model()(corpus.batch.tokens.view());
  });
  const index_t tokens = corpus_state.extent(0);
  std::vector<float> latents(std::size_t(tokens * adapter_sae_latents), 0.0f);
  {
    auto step = tape();
    auto guard = no_grad();
    AdapterState x(Shape<dyn, adapter_state_width>{tokens});
    std::copy_n(corpus_state.data(), corpus_state.numel(), x.data());
    const auto code = sae.encode(constant(x), SaeActivation::batch_top_k);
    for (index_t r = 0; r < code.rows(); ++r)
      for (index_t e = code.row_begin(r); e < code.row_end(r); ++e)
        latents[std::size_t(r * adapter_sae_latents + code.latent(e))] = code.values.value()(e);
  }
  std::vector<std::string> labels;
  for (index_t j = 0; j < adapter_sae_latents; ++j) labels.push_back("S" + std::to_string(j));
  result.latents = summarize("SAE latents on the adapter state", labels, latents, corpus, top_k, rule);

  io::save_saelens(sae, out / "adapter_sae");
  interp::FeatureDashboard dashboard(adapter_sae_latents,
                                     {.title = "SAE latents on the rank-1 adapter state",
                                      .description = "SparseAutoencoder<16>, 224 latents over the 28 adapters' A·x; the finetune-format corpus of the report",
                                      .feature_labels = labels});
  const index_t width = corpus.batch.tokens.extent(1);
  for (index_t row = 0; row < corpus.batch.tokens.extent(0); ++row) {
    std::vector<std::string> names, roles;
    for (index_t p = 0; p < width && corpus.batch.tokens(row, p) != reasoning::token::pad; ++p) {
      names.push_back(reasoning::token_name(corpus.batch.tokens(row, p)));
      roles.push_back(std::string(reasoning::role_name(reasoning::Role(corpus.batch.roles(row, p)))));
    }
    const TensorView<const float, Shape<dyn, adapter_sae_latents>, cpu_t> row_latents(latents.data() + row * width * adapter_sae_latents,
                                                                                      Shape<dyn, adapter_sae_latents>{index_t(names.size())});
    dashboard.add_sequence(std::span<const std::string>(names), std::span<const std::string>(roles), row_latents);
  }
  dashboard.write(out / "adapter_sae_dashboard.html");
  result.seconds = watch.seconds();
  return result;
}

}  // namespace lora_reasoning
