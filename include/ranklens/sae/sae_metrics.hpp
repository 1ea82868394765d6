// How well a sparse autoencoder reconstructs, and how its latents are used, over a set of
// activations (the measures of Gao et al. 2024 and of SAELens' evals):
//
//   fvu                 Σ‖x − x̂‖² / Σ‖x − x̄‖², the fraction of variance unexplained
//                       (x̄ the mean over all tokens evaluated);
//   explained_variance  1 − fvu (SAELens' explained_variance);
//   l0                  mean number of latents active (positive) per token;
//   density             per latent, the fraction of tokens on which it was active;
//   dead_fraction       latents active on no token evaluated;
//   dense_fraction      latents active on more than dense_above of the tokens (default 10%);
//   density histogram   counts of latents by log10(density), dead ones apart.
//
// SaeMetrics accumulates batch by batch, so a large set of activations never has to be encoded
// at once; evaluate_sae is the loop over a (tokens, d_in) tensor.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ranklens/sae/sparse_autoencoder.hpp"

namespace ranklens {

struct SaeEvaluation {
  index_t tokens = 0;
  double fvu = 0;
  double explained_variance = 0;
  double mse = 0;  // mean over tokens of ‖x − x̂‖²
  double l0 = 0;
  double dead_fraction = 0;
  double dense_fraction = 0;
  std::vector<double> density;  // one per latent
};

// Latents by log10 of their density: bin b covers [lowest + b·width, lowest + (b + 1)·width);
// densities below the first bin count in the first, and dead latents (density 0) only in `dead`.
struct DensityHistogram {
  double lowest = -6, width = 0.5;
  std::vector<index_t> counts;
  index_t dead = 0;

  double bin_start(std::size_t b) const noexcept { return lowest + double(b) * width; }
};

inline DensityHistogram density_histogram(const std::vector<double>& density, double lowest = -6, double width = 0.5, index_t bins = 12) {
  if (!(width > 0) || bins < 1) throw value_error("density_histogram: need width > 0 and at least one bin");
  DensityHistogram h{.lowest = lowest, .width = width, .counts = std::vector<index_t>(static_cast<std::size_t>(bins), 0), .dead = 0};
  for (const double d : density) {
    if (!(d > 0)) {
      ++h.dead;
      continue;
    }
    const auto b = index_t(std::floor((std::log10(d) - lowest) / width));
    ++h.counts[std::size_t(std::clamp<index_t>(b, 0, bins - 1))];
  }
  return h;
}

template <index_t DIn, index_t DSae>
class SaeMetrics {
 public:
  explicit SaeMetrics(double dense_above = 0.1)
      : dense_above_(dense_above), sum_(std::size_t(DIn), 0.0), squares_(std::size_t(DIn), 0.0), fired_(std::size_t(DSae), 0) {}

  // x, x̂: (rows, DIn); code: the same rows' latents.
  template <class T>
  void add(TensorView<const T, Shape<dyn, DIn>, cpu_t> x, TensorView<const T, Shape<dyn, DIn>, cpu_t> reconstruction,
           const SparseActivations<T>& code) {
    const index_t rows = x.extent(0);
    if (reconstruction.extent(0) != rows || code.rows() != rows || code.latents() != DSae)
      throw shape_error("SaeMetrics::add: " + std::to_string(rows) + " activations, " + std::to_string(reconstruction.extent(0)) +
                        " reconstructions and a code of " + std::to_string(code.rows()) + " rows over " + std::to_string(code.latents()) +
                        " latents (expected " + std::to_string(DSae) + ")");
    for (index_t r = 0; r < rows; ++r)
      for (index_t i = 0; i < DIn; ++i) {
        const double v = double(x(r, i)), e = v - double(reconstruction(r, i));
        sum_[std::size_t(i)] += v;
        squares_[std::size_t(i)] += v * v;
        error_ += e * e;
      }
    const T* values = code.values.value().data();
    for (index_t e = 0; e < code.entries(); ++e)
      if (values[e] > T(0)) {
        ++active_;
        ++fired_[std::size_t(code.latent(e))];
      }
    tokens_ += rows;
  }

  SaeEvaluation result() const {
    SaeEvaluation out;
    out.tokens = tokens_;
    if (tokens_ == 0) return out;
    double spread = 0;
    for (index_t i = 0; i < DIn; ++i) spread += squares_[std::size_t(i)] - sum_[std::size_t(i)] * sum_[std::size_t(i)] / double(tokens_);
    out.fvu = spread > 0 ? error_ / spread : 0;
    out.explained_variance = 1 - out.fvu;
    out.mse = error_ / double(tokens_);
    out.l0 = double(active_) / double(tokens_);
    out.density.resize(std::size_t(DSae));
    index_t dead = 0, dense = 0;
    for (index_t j = 0; j < DSae; ++j) {
      const double d = double(fired_[std::size_t(j)]) / double(tokens_);
      out.density[std::size_t(j)] = d;
      dead += d == 0;
      dense += d > dense_above_;
    }
    out.dead_fraction = double(dead) / double(DSae);
    out.dense_fraction = double(dense) / double(DSae);
    return out;
  }

 private:
  double dense_above_;
  std::vector<double> sum_, squares_;
  std::vector<index_t> fired_;
  double error_ = 0;
  index_t active_ = 0, tokens_ = 0;
};

// Encodes x (tokens, DIn) in batches of batch_rows with `rule` and measures it all. x is on the
// host; on a device each batch is copied there, and its code and reconstruction come back.
template <index_t K, index_t DIn, index_t DSae, class T, Device D>
SaeEvaluation evaluate_sae(const SparseAutoencoder<K, DIn, DSae, T, D>& sae, TensorView<const T, Shape<dyn, DIn>, cpu_t> x, SaeActivation rule,
                           index_t batch_rows = 4096, double dense_above = 0.1) {
  if (batch_rows < 1) throw value_error("evaluate_sae: batch_rows must be positive");
  if (!x.is_contiguous()) throw value_error("evaluate_sae: the activations must be contiguous");
  SaeMetrics<DIn, DSae> metrics(dense_above);
  auto guard = no_grad();
  for (index_t first = 0; first < x.extent(0); first += batch_rows) {
    const index_t rows = std::min(batch_rows, x.extent(0) - first);
    auto scope = tape();
    const TensorView<const T, Shape<dyn, DIn>, cpu_t> part(x.data() + first * DIn, Shape<dyn, DIn>{rows});
    const auto placed = on_device<D>(to_tensor(part));
    const auto code = sae.encode(constant(placed), rule);
    const auto reconstruction = to_host(sae.decode(code).value());
    metrics.add(part, reconstruction.view(), code.to_host());
  }
  return metrics.result();
}

}  // namespace ranklens
