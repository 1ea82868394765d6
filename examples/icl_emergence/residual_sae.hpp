// A sparse autoencoder on the residual stream of the in-context Markov model: the component the
// LoRA experiment trains on the adapter state, here on another model's hook point, and what its
// latents track (icl_emergence --residual-sae).
//
// After training, the last block's output (blocks.1.hook_resid_post, the residual stream that
// the unembedding reads) is captured on the evaluation chains, and a BatchTopK
// SparseAutoencoder<4> with 8× expansion is trained on it; it is evaluated on other chains. Each
// live latent is set against three things the residual stream carries at position t, measured
// on the tokens where the latent fires:
//
//   the current token x_t          token purity: the largest share of the latent's activation
//                                  mass that falls on one current token;
//   the inferred transition row    row r²: the squared correlation, within tokens (each side minus
//   of x_t                         its mean for the current token), between the latent and the
//                                  add-α Bayes probability that token t + 1 is j given the
//                                  context; the largest over next states j (from 50 firings on);
//   the position t                 position purity: the largest share of its activation mass in
//                                  one tenth of the context.
//
// A latent is a token feature when its token purity is at least 0.9, a row feature when its
// row r² is at least 0.25, a position feature when its position purity is at least 0.5 (chance:
// 1/k, 0, 0.1); it can be several, or none. The row is what in-context learning infers: a latent
// that follows it within each current token reads the model's estimate of the chain.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "experiment_common.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/io/saelens_files.hpp"
#include "ranklens/nn/hooks.hpp"
#include "ranklens/sae/sae_metrics.hpp"
#include "ranklens/sae/sae_trainer.hpp"

namespace icl {

inline constexpr index_t residual_sae_k = 4;
inline constexpr double token_feature_purity = 0.9, row_feature_r2 = 0.25, position_feature_purity = 0.5;
inline constexpr index_t position_bands = 10;
inline constexpr index_t min_active_tokens = 50;  // fewer: no correlation is computed (r² 0)

struct ResidualLatent {
  index_t latent = 0;
  double density = 0;       // on the evaluation chains
  double token_purity = 0;  // the largest share of its activation mass on one current token
  index_t token = 0;        // that token
  double row_r2 = 0;        // where it fires: best within-token r² with a next-state probability
  index_t row_state = 0;    // that next state
  double position_purity = 0;  // the largest share of its activation mass in one tenth of the context
  index_t position_band = 0;   // that tenth (0: the first positions)
};

struct ResidualSaeResult {
  std::string hook;
  index_t training_tokens = 0, steps = 0, live = 0, token_features = 0, row_features = 0, position_features = 0, none = 0;
  SaeEvaluation held_out{};
  std::vector<ResidualLatent> latents;  // the live ones
  double seconds = 0;
};

// The residual stream at `hook` on `tokens`: (sequences · positions, d_model), row (b, t) at
// b · positions + t. The hook point must have no hooks of its own; it is left without hooks,
// also when a forward throws (the capturing hook refers to this call's locals).
template <class Model>
Tensor<float, Shape<dyn, Model::config::d_model>> capture_residual(Model& model, const std::string& hook, const TokenTensor& tokens) {
  constexpr index_t width = Model::config::d_model;
  for_each_hook_point(model, [&](std::string_view name, const auto& point) {
    if (name == hook && !point.empty()) throw value_error("capture_residual: the hook point '" + hook + "' already has hooks");
  });
  Tensor<float, Shape<dyn, width>> out(Shape<dyn, width>{tokens.extent(0) * tokens.extent(1)});
  float* target = nullptr;
  add_hook(model, hook, [&target](const typename Model::residual_activation& x) {
    const auto values = x.to_tensor();
    std::copy_n(values.data(), values.numel(), target);
  });
  struct ClearOnExit {
    Model& model;
    const std::string& hook;
    ~ClearOnExit() {
      for_each_hook_point(model, [&](std::string_view name, auto& point) {
        if (name == hook) point.clear();
      });
    }
  } clear_on_exit{model, hook};
  constexpr index_t chunk = 64;  // sequences per forward pass
  for (index_t first = 0; first < tokens.extent(0); first += chunk) {
    const index_t rows = std::min(chunk, tokens.extent(0) - first);
    TokenTensor part(Shape<dyn, dyn>{rows, tokens.extent(1)});
    std::copy_n(tokens.data() + first * tokens.extent(1), part.numel(), part.data());
    target = out.data() + first * tokens.extent(1) * width;
    auto scope = tape();
    auto guard = no_grad();
    model(part);
  }
  return out;
}

// Each side minus its mean within its group.
inline std::vector<double> within_groups(const std::vector<double>& values, const std::vector<index_t>& groups, index_t group_count) {
  std::vector<double> sum(std::size_t(group_count), 0.0), count(std::size_t(group_count), 0.0), out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) sum[std::size_t(groups[i])] += values[i], count[std::size_t(groups[i])] += 1;
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = values[i] - sum[std::size_t(groups[i])] / count[std::size_t(groups[i])];
  return out;
}

inline double squared_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return aa > 0 && bb > 0 ? ab * ab / (aa * bb) : 0.0;
}

// eval_tokens / add_alpha_table: the evaluation chains and the add-α Bayes table on them
// (predictive_table's layout); held_out_tokens: other chains, for the FVU.
template <class Model>
ResidualSaeResult residual_sae(Model& model, const TokenTensor& eval_tokens, const std::vector<double>& add_alpha_table,
                               const TokenTensor& held_out_tokens, std::uint64_t seed, const std::filesystem::path& out) {
  constexpr index_t width = Model::config::d_model, states = Model::config::vocab_size;
  using Sae = SparseAutoencoder<residual_sae_k, width, 8 * width>;
  const Stopwatch watch;
  ResidualSaeResult result;
  result.hook = "blocks." + std::to_string(Model::config::n_layers - 1) + ".hook_resid_post";
  const auto state = capture_residual(model, result.hook, eval_tokens);
  const auto held_out = capture_residual(model, result.hook, held_out_tokens);
  const index_t tokens = state.extent(0), context = eval_tokens.extent(1);
  result.training_tokens = tokens;

  // Training: 8 passes over the tokens in new orders, batches of 256.
  Rng gen(seed);
  Sae sae(gen, SaeActivation::batch_top_k);
  sae.hook_name = result.hook;
  constexpr index_t batch = 256, passes = 8;
  const index_t steps_per_pass = tokens / batch;
  result.steps = passes * steps_per_pass;
  SaeTrainer trainer(sae, {.lr = 2e-3, .warmup_steps = result.steps / 20, .decay_steps = result.steps, .dead_after_tokens = 50 * batch});
  train_in_passes(trainer, state.view(), {.passes = passes, .batch_rows = batch}, gen);
  result.held_out = evaluate_sae(sae, held_out.view(), SaeActivation::batch_top_k);

  // The latents on the evaluation chains, against the current token and the inferred row.
  std::vector<double> latent_values(static_cast<std::size_t>(tokens * 8 * width), 0.0);
  {
    auto scope = tape();
    auto guard = no_grad();
    const auto code = sae.encode(constant(state), SaeActivation::batch_top_k);
    for (index_t r = 0; r < code.rows(); ++r)
      for (index_t e = code.row_begin(r); e < code.row_end(r); ++e)
        latent_values[std::size_t(r * 8 * width + code.latent(e))] = code.values.value()(e);
  }
  std::vector<index_t> current(static_cast<std::size_t>(tokens));
  for (index_t i = 0; i < tokens; ++i) current[std::size_t(i)] = eval_tokens.data()[i];
  for (index_t latent = 0; latent < 8 * width; ++latent) {
    // The tokens where the latent fires: its activation, the current token, the inferred row.
    std::vector<double> a;
    std::vector<index_t> token;
    std::vector<std::vector<double>> row(static_cast<std::size_t>(states));
    std::vector<double> mass(static_cast<std::size_t>(states), 0.0), band_mass(static_cast<std::size_t>(position_bands), 0.0);
    for (index_t i = 0; i < tokens; ++i) {
      const double value = latent_values[std::size_t(i * 8 * width + latent)];
      if (value <= 0) continue;
      a.push_back(value);
      token.push_back(current[std::size_t(i)]);
      mass[std::size_t(current[std::size_t(i)])] += value;
      band_mass[std::size_t(i % context * position_bands / context)] += value;
      for (index_t j = 0; j < states; ++j) row[std::size_t(j)].push_back(add_alpha_table[std::size_t(i * states + j)]);
    }
    if (a.empty()) continue;
    ResidualLatent l{.latent = latent, .density = double(a.size()) / double(tokens)};
    l.token_purity = *std::max_element(mass.begin(), mass.end()) / std::accumulate(mass.begin(), mass.end(), 0.0);
    l.token = index_t(std::max_element(mass.begin(), mass.end()) - mass.begin());
    l.position_purity = *std::max_element(band_mass.begin(), band_mass.end()) / std::accumulate(band_mass.begin(), band_mass.end(), 0.0);
    l.position_band = index_t(std::max_element(band_mass.begin(), band_mass.end()) - band_mass.begin());
    if (index_t(a.size()) >= min_active_tokens) {
      const std::vector<double> a_within = within_groups(a, token, states);
      for (index_t j = 0; j < states; ++j)
        if (const double r2 = squared_correlation(a_within, within_groups(row[std::size_t(j)], token, states)); r2 > l.row_r2)
          l.row_r2 = r2, l.row_state = j;
    }
    const bool is_token = l.token_purity >= token_feature_purity, is_row = l.row_r2 >= row_feature_r2,
               is_position = l.position_purity >= position_feature_purity;
    result.token_features += is_token;
    result.row_features += is_row;
    result.position_features += is_position;
    result.none += !is_token && !is_row && !is_position;
    result.latents.push_back(l);
  }
  result.live = index_t(result.latents.size());

  io::save_saelens(sae, out / "residual_sae");
  train::LineFile file(out / "residual_sae.csv");
  file.write_line("latent,density,token_purity,token,row_r2,row_state,position_purity,position_band");
  for (const ResidualLatent& l : result.latents)
    file.write_line(std::to_string(l.latent) + "," + json(l.density) + "," + json(l.token_purity) + "," + std::to_string(l.token) + "," +
                    json(l.row_r2) + "," + std::to_string(l.row_state) + "," + json(l.position_purity) + "," + std::to_string(l.position_band));
  result.seconds = watch.seconds();
  return result;
}

// The result as one JSON object, for summary.json.
inline std::string residual_sae_json(const ResidualSaeResult& r) {
  return "{\"hook\": \"" + r.hook + "\", \"k\": " + std::to_string(residual_sae_k) + ", \"training_tokens\": " +
         std::to_string(r.training_tokens) + ", \"steps\": " + std::to_string(r.steps) + ", \"held_out_fvu\": " + json(r.held_out.fvu) +
         ", \"held_out_l0\": " + json(r.held_out.l0) + ", \"held_out_dead_fraction\": " + json(r.held_out.dead_fraction) +
         ", \"live_latents\": " + std::to_string(r.live) + ", \"token_features\": " + std::to_string(r.token_features) +
         ", \"row_features\": " + std::to_string(r.row_features) + ", \"position_features\": " + std::to_string(r.position_features) +
         ", \"none_of_these\": " + std::to_string(r.none) + ", \"seconds\": " + json(r.seconds) + "}";
}

}  // namespace icl
