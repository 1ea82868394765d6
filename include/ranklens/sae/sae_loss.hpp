// The training objective of a TopK / BatchTopK sparse autoencoder (Gao et al. 2024, Sec. 2.1 and
// A.2, as their reference code computes it):
//
//   L = mse_scale · mean_i ‖x_i − x̂_i‖²  +  α · mean_i ‖e_i − ê_i‖² / mean_i ‖e_i − ē‖²
//
//   mse_scale  1 / mean ‖x − x̄‖² over a sample, fixed at initialisation: the first term is then
//              the fraction of variance unexplained, whatever the activations' scale;
//   e          x − x̂, the main reconstruction's error, cut from the graph;
//   ê          z_aux · W_dec (no bias), z_aux the k_aux largest pre-activations among the latents
//              that have not fired for a while ("dead"), through a ReLU: AuxK, which gives dead
//              latents a gradient that pulls them towards what the live ones miss;
//   α          1/32 and k_aux = 512 (capped by the dead count) in the paper.
//
// The AuxK term is normalised by the residual's own variance in the batch (their normalized_mse)
// and is 0 when no latent is dead. SAELens' TopK/BatchTopK trainers use the same ê but an
// unnormalised sum of squares, k_aux = d_in / 2 and α = 1 by default.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>

#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/sae/sparse_autoencoder.hpp"

namespace ranklens {

struct SaeLossSettings {
  SaeActivation rule = SaeActivation::batch_top_k;
  double mse_scale = 1.0;
  std::span<const std::int32_t> dead{};  // ascending latent indices; empty: no AuxK term
  index_t k_aux = 512;
  double aux_coefficient = 1.0 / 32;
};

template <class T, Device D = cpu_t>
struct SaeLoss {
  Var<T, Shape<>, D> total;
  Var<T, Shape<>, D> reconstruction;             // mse_scale · mean ‖x − x̂‖²
  std::optional<Var<T, Shape<>, D>> auxiliary;   // α · normalised AuxK error, when latents are dead
  SparseActivations<T, D> code;                  // the main code (for firing statistics and the BatchTopK threshold)
};

// The AuxK term alone, for a given residual target e (a constant): α · mean ‖e − ê‖² / mean ‖e − ē‖².
// Returns nothing when e has no variance.
template <class T, ShapeType S, Device D>
std::optional<Var<T, Shape<>, D>> auxk_loss(const Var<T, S, D>& reconstructed_residual, const Var<T, S, D>& residual,
                                            double aux_coefficient) {
  const auto e = to_host(residual.value());  // the spread is a host sum (a copy on a device)
  const index_t rows = e.extent(0), n = e.numel() / std::max<index_t>(rows, 1);
  if (rows == 0) return std::nullopt;
  double spread = 0;
  for (index_t j = 0; j < n; ++j) {
    double mean = 0;
    for (index_t r = 0; r < rows; ++r) mean += double(e.data()[r * n + j]);
    mean /= double(rows);
    for (index_t r = 0; r < rows; ++r) spread += (double(e.data()[r * n + j]) - mean) * (double(e.data()[r * n + j]) - mean);
  }
  if (!(spread > 0)) return std::nullopt;
  // Σ ‖e − ê‖² / rows divided by Σ ‖e − ē‖² / rows.
  return sum(square(sub(reconstructed_residual, residual))) * T(aux_coefficient / spread);
}

template <class Sae>
SaeLoss<typename Sae::value_type, typename Sae::device_type> sae_loss(const Sae& sae, const typename Sae::vars_type& v, const typename Sae::activations_type& x,
                                            const SaeLossSettings& settings) {
  using T = typename Sae::value_type;
  using D = typename Sae::device_type;
  const index_t rows = x.extent(0);
  const index_t k_aux = std::min<index_t>({settings.k_aux, Sae::d_sae, index_t(settings.dead.size())});
  SaeLoss<T, D> loss;
  std::optional<SparseActivations<T, D>> aux_code;
  if (k_aux > 0) {
    auto codes = sae.template encode_with<2>(v, x, {sae.selector(settings.rule), LatentSelector<T>::top_k(k_aux, settings.dead)});
    loss.code = codes[0];
    aux_code = codes[1];
  } else {
    loss.code = sae.template encode_with<1>(v, x, {sae.selector(settings.rule)})[0];
  }
  const auto reconstruction = sae.decode_with(v, loss.code);
  const auto error = sub(reconstruction, x);
  loss.reconstruction = sum(square(error)) * T(settings.mse_scale / double(std::max<index_t>(rows, 1)));
  loss.total = loss.reconstruction;
  if (aux_code) {
    const auto residual = detach(sub(x, reconstruction));
    loss.auxiliary = auxk_loss(sae.decode_directions_with(v, *aux_code), residual, settings.aux_coefficient);
    if (loss.auxiliary) loss.total = add(loss.total, *loss.auxiliary);
  }
  return loss;
}

}  // namespace ranklens
