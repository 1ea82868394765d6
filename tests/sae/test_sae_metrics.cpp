#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/sae/sae_metrics.hpp"
#include "sae_test_support.hpp"

namespace sae_test_sae_metrics {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("evaluate_sae measures FVU, L0 and latent density as their definitions say", "[sae][metrics]") {
  constexpr index_t n = 8, m = 32;
  const sae_test::SparseSource<n> source(16, 2, 1);
  const auto x = source.sample(300, 0);
  Rng gen(2);
  SparseAutoencoder<3, n, m> sae(gen, SaeActivation::top_k);
  for (index_t j = 0; j < 5; ++j) sae.b_enc.value()(j) = -1e3f;  // latents 0..4 never fire
  sae.b_enc.value()(5) = 1e3f;                                    // latent 5 always fires
  // In batches of 64 (the last one short), as one would over a long stream.
  const SaeEvaluation e = evaluate_sae(sae, x.view(), SaeActivation::top_k, 64);

  auto guard = no_grad();
  auto step = tape();
  const auto code = sae.encode(constant(x), SaeActivation::top_k);
  const auto xhat = sae.decode(code).to_tensor();
  double error = 0, spread = 0;
  for (index_t i = 0; i < n; ++i) {
    double mean = 0;
    for (index_t r = 0; r < 300; ++r) mean += x(r, i) / 300.0;
    for (index_t r = 0; r < 300; ++r) {
      error += std::pow(double(x(r, i)) - double(xhat(r, i)), 2);
      spread += std::pow(double(x(r, i)) - mean, 2);
    }
  }
  CHECK(e.tokens == 300);
  CHECK(e.fvu == Approx(error / spread).epsilon(1e-6));
  CHECK(e.explained_variance == Approx(1 - error / spread).epsilon(1e-6));
  CHECK(e.mse == Approx(error / 300).epsilon(1e-6));
  CHECK(e.l0 == Approx(double(code.active()) / 300));
  for (index_t j = 0; j < 5; ++j) CHECK(e.density[std::size_t(j)] == 0);
  CHECK(e.density[5] == 1.0);
  index_t dead = 0, dense = 0;
  for (const double d : e.density) dead += d == 0, dense += d > 0.1;
  CHECK(e.dead_fraction == Approx(double(dead) / m));
  CHECK(e.dead_fraction >= 5.0 / m);
  CHECK(e.dense_fraction == Approx(double(dense) / m));
}

TEST_CASE("the density histogram counts latents by log10 density, dead ones apart", "[sae][metrics]") {
  const DensityHistogram h = density_histogram({0.0, 1e-9, 1e-6, 3e-4, 0.05, 0.5, 1.0, 0.0}, -6, 1, 6);
  CHECK(h.dead == 2);
  CHECK(h.counts == std::vector<index_t>{2, 0, 1, 0, 1, 2});  // 1e-9 clamps into the first bin; 1.0 into the last
  CHECK(h.bin_start(2) == -4);
}

}  // namespace sae_test_sae_metrics
