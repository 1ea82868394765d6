// The sparse autoencoder's ops and training, written once for every device: sparse_encode with
// each way of choosing latents, then sparse_decode and a squared error, differentiated; and a
// SparseAutoencoder trained by SaeTrainer (AuxK on dead latents, the decoder kept on the unit
// sphere, the BatchTopK threshold), then evaluated and saved as a SAELens directory.
// test_sae.cu runs it on cuda_t, cpu_reference/ on cpu_t, and the two must agree.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/io/saelens_files.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/sae/sae_metrics.hpp"
#include "ranklens/sae/sae_trainer.hpp"

namespace ranklens::test::sae {

enum class selection { top_k, top_k_among, batch_top_k, jump_relu };

// The sizes are odd (tails past every block of 32, 128 and 256 threads) and small (the host
// emulation runs every CUDA thread in turn).
inline constexpr index_t op_rows = 9, op_inputs = 13, op_latents = 300;

struct ops_result {
  std::vector<float> code;            // dense (rows, latents), zeros off the pattern
  std::vector<float> reconstruction;  // (rows, inputs)
  std::vector<float> gx, gcentre, gw_enc, gb_enc, gw_dec, gb_dec;
  index_t entries = 0;
};

inline std::vector<float> normal_values(Rng& rng, index_t count, double scale) {
  std::vector<float> out(static_cast<std::size_t>(count));
  for (float& v : out) v = float(scale * standard_normal(rng));
  return out;
}

template <Device D, ShapeType S>
Tensor<float, S, D> placed(const std::vector<float>& values, const S& shape) {
  Tensor<float, S> host(shape);
  std::copy(values.begin(), values.end(), host.data());
  return on_device<D>(std::move(host));
}

template <class T, ShapeType S, Device D>
std::vector<float> host_values(TensorView<T, S, D> view) {
  const auto host = to_host(view);
  return {host.data(), host.data() + host.numel()};
}

// sparse_encode (one selector) + sparse_decode, the loss Σ (x̂ − target)², and every gradient.
template <Device D>
ops_result run_ops(selection which, std::uint64_t seed) {
  constexpr index_t rows = op_rows, n = op_inputs, m = op_latents;
  Rng rng(seed);
  const auto x_values = normal_values(rng, rows * n, 1.0), centre_values = normal_values(rng, n, 0.3);
  const auto w_enc_values = normal_values(rng, n * m, 0.5), b_enc_values = normal_values(rng, m, 0.2);
  const auto w_dec_values = normal_values(rng, m * n, 0.5), b_dec_values = normal_values(rng, n, 0.2);
  const auto target_values = normal_values(rng, rows * n, 1.0);
  std::vector<std::int32_t> among;
  for (std::int32_t j = 3; j < m; j += 7) among.push_back(j);
  std::vector<float> thresholds = normal_values(rng, m, 0.5);

  // The values outlive the tape (variable() borrows them).
  const auto x_value = placed<D>(x_values, Shape<dyn, dyn>{rows, n});
  const auto centre_value = placed<D>(centre_values, Shape<dyn>{n});
  const auto w_enc_value = placed<D>(w_enc_values, Shape<dyn, dyn>{n, m});
  const auto b_enc_value = placed<D>(b_enc_values, Shape<dyn>{m});
  const auto w_dec_value = placed<D>(w_dec_values, Shape<dyn, dyn>{m, n});
  const auto b_dec_value = placed<D>(b_dec_values, Shape<dyn>{n});
  const auto target_value = placed<D>(target_values, Shape<dyn, dyn>{rows, n});
  auto scope = tape();
  const auto x = variable(x_value);
  const auto centre = variable(centre_value);
  const auto w_enc = variable(w_enc_value);
  const auto b_enc = variable(b_enc_value);
  const auto w_dec = variable(w_dec_value);
  const auto b_dec = variable(b_dec_value);
  const auto target = constant(target_value);
  const LatentSelector<float> selector = [&] {
    switch (which) {
      case selection::top_k: return LatentSelector<float>::top_k(5);
      case selection::top_k_among: return LatentSelector<float>::top_k(4, among);
      case selection::batch_top_k: return LatentSelector<float>::batch_top_k(6);
      case selection::jump_relu: return LatentSelector<float>::jump_relu(thresholds);
    }
    return LatentSelector<float>::top_k(1);
  }();
  const auto code = sparse_encode(x, centre, w_enc, b_enc, selector);
  const auto reconstruction = sparse_decode(code, w_dec, b_dec);
  backward(sum(square(sub(reconstruction, target))));

  ops_result out;
  const auto dense = code.to_dense();
  out.code.assign(dense.data(), dense.data() + dense.numel());
  out.reconstruction = host_values(reconstruction.value());
  out.gx = host_values(x.grad());
  out.gcentre = host_values(centre.grad());
  out.gw_enc = host_values(w_enc.grad());
  out.gb_enc = host_values(b_enc.grad());
  out.gw_dec = host_values(w_dec.grad());
  out.gb_dec = host_values(b_dec.grad());
  out.entries = code.entries();
  return out;
}

// ---- Training ----------------------------------------------------------------------------------

// Small: the host emulation runs every CUDA thread in turn, and TopK's kernel has 512 per row.
inline constexpr index_t train_inputs = 16, train_latents = 40, train_k = 3, train_rows = 8, train_steps = 2;
template <Device D>
using trained_sae = SparseAutoencoder<train_k, train_inputs, train_latents, float, D>;

struct training_result {
  std::vector<float> losses, auxiliary, thresholds;  // per step
  std::vector<double> l0;
  std::vector<index_t> dead;
  std::vector<float> w_enc, b_enc, w_dec, b_dec;
  SaeEvaluation evaluation;
};

// Activations with a sparse structure: each row a sum of 3 of 40 random directions, plus noise.
inline Tensor<float, Shape<dyn, train_inputs>> training_rows(index_t rows, std::uint64_t seed) {
  Rng rng(seed);
  const auto directions = normal_values(rng, 40 * train_inputs, 1.0);
  Tensor<float, Shape<dyn, train_inputs>> x(Shape<dyn, train_inputs>{rows});
  for (index_t r = 0; r < rows; ++r) {
    for (index_t i = 0; i < train_inputs; ++i) x(r, i) = float(0.05 * standard_normal(rng));
    for (int a = 0; a < 3; ++a) {
      const index_t d = index_t(uniform_below(rng, 40));
      const double c = 0.5 + unit_uniform(rng);
      for (index_t i = 0; i < train_inputs; ++i) x(r, i) += float(c * directions[std::size_t(d * train_inputs + i)] / 4.0);
    }
  }
  return x;
}

// train_steps steps of SaeTrainer on batches of train_rows; a latent that did not fire in a step
// is dead, so AuxK trains from the second step on. The autoencoder is then saved to
// `directory` (unless empty) as a SAELens directory.
template <Device D>
training_result train(SaeActivation rule, std::uint64_t seed, const std::filesystem::path& directory = {}) {
  Rng rng(seed);
  trained_sae<D> sae(rng, rule);
  // Adam's ε far above Gao et al.'s 6.25e-10. An encoder gradient is a sum over the batch's
  // entries per latent, taken in another order on each device (atomics on cuda_t), and some of
  // those sums nearly cancel; Adam divides each by its own size (plus ε), which turns their
  // rounding into relative differences of whole steps. Measured on the emulation, b_enc apart by
  // 3.0e-4 with ε = 1e-6 and by 3.1e-6 with ε = 1e-4 (everything else within 1.2e-7 with 1e-4).
  SaeTrainer<trained_sae<D>> trainer(
      sae, {.lr = 1e-2, .eps = 1e-4, .k_aux = 8, .dead_after_tokens = train_rows - 1, .threshold_lr = 0.3, .normalize_activations = true});
  const auto data = training_rows((train_steps + 1) * train_rows, seed + 1);
  using rows_view = typename SaeTrainer<trained_sae<D>>::batch_view;
  trainer.initialise(rows_view(data.data(), Shape<dyn, train_inputs>{2 * train_rows}));
  training_result out;
  for (index_t s = 0; s < train_steps; ++s) {
    const SaeStepReport report = trainer.step(rows_view(data.data() + s * train_rows * train_inputs, Shape<dyn, train_inputs>{train_rows}));
    out.losses.push_back(float(report.loss));
    out.auxiliary.push_back(float(report.auxiliary));
    out.l0.push_back(report.l0);
    out.thresholds.push_back(float(report.threshold));
    out.dead.push_back(report.dead);
  }
  out.w_enc = host_values(sae.W_enc.value().view());
  out.b_enc = host_values(sae.b_enc.value().view());
  out.w_dec = host_values(sae.W_dec.value().view());
  out.b_dec = host_values(sae.b_dec.value().view());
  // Every row, in batches that leave a short last one.
  const index_t rows = (train_steps + 1) * train_rows;
  const TensorView<const float, Shape<dyn, train_inputs>, cpu_t> all_rows(data.data(), Shape<dyn, train_inputs>{rows});
  out.evaluation = evaluate_sae(sae, all_rows, rule == SaeActivation::batch_top_k ? SaeActivation::jump_relu : rule, 10);
  if (!directory.empty()) io::save_saelens(sae, directory);
  return out;
}

// A SAELens directory read into a fresh autoencoder on D: its four parameters as host copies.
template <Device D>
std::vector<std::vector<float>> load(const std::filesystem::path& directory) {
  Rng rng(7);
  trained_sae<D> sae(rng);
  io::load_saelens(sae, directory);
  return {host_values(sae.W_enc.value().view()), host_values(sae.b_enc.value().view()), host_values(sae.W_dec.value().view()), host_values(sae.b_dec.value().view())};
}

ops_result cpu_run_ops(selection which, std::uint64_t seed);
training_result cpu_train(SaeActivation rule, std::uint64_t seed);
std::vector<std::vector<float>> cpu_load(const std::filesystem::path& directory);

}  // namespace ranklens::test::sae
