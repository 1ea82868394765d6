// Training a TopK / BatchTopK sparse autoencoder the way Gao et al. 2024 describe it:
//
//   initialise(sample)   b_dec at the geometric median of the sample (Weiszfeld), the loss's
//                        mse_scale = 1 / mean ‖x − x̄‖², and, with normalize_activations, the
//                        input scale s = √d_in / mean ‖x‖ (SAELens' "expected_average_only_in",
//                        estimated on the sample instead of on 1000 batches);
//   step(batch)          the loss of sae_loss.hpp (reconstruction + AuxK on dead latents), then
//                        the decoder gradient's component along each decoder row is removed,
//                        Adam steps (ranklens AdamW with weight decay 0; Gao et al.'s ε), and
//                        the decoder rows are put back on the unit sphere.
//
// Dead latents: every latent counts the tokens since it last fired (a positive activation in the
// main code); one that has not fired for dead_after_tokens tokens is dead and takes part in AuxK.
//
// BatchTopK's inference threshold is estimated as SAELens' BatchTopKTrainingSAE does: after every
// step, θ ← (1 − λ) θ + λ · (the smallest positive activation the batch kept), λ = 0.01, θ
// starting at 0, and every latent's JumpReLU threshold is set to θ. Like SAELens' estimate it
// starts biased low: it needs several times 1/λ steps to settle.
//
// train_in_passes(trainer, x, {.passes, .batch_rows}, rng) runs the usual loop over a table of
// activations: each pass in a new order drawn from rng, initialise() on the first pass's first
// rows.
//
// On a device (an SAE on cuda_t): batches come from the host and are copied over; the step, the
// decoder's projection and normalisation and Adam run there; the firing statistics and the
// threshold read a host copy of the code (its pattern and values: k numbers per token).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/backend/unit_norm_rows.hpp"
#include "ranklens/core/distributions.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/lr_schedule.hpp"
#include "ranklens/sae/geometric_median.hpp"
#include "ranklens/sae/sae_loss.hpp"

namespace ranklens {

struct SaeTrainerOptions {
  double lr = 5e-4;               // Adam's learning rate (the seed paper of issue 11)
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 6.25e-10;          // Gao et al.'s Adam ε
  index_t warmup_steps = 0;       // linear warm-up from 0
  index_t decay_steps = 0;        // > 0: cosine decay to final_lr_fraction · lr at this step; 0: constant
  double final_lr_fraction = 0.1; // SAELens' lr_end default, lr / 10
  index_t k_aux = 512;            // AuxK's latents per token (capped by d_sae and the dead count)
  double aux_coefficient = 1.0 / 32;
  index_t dead_after_tokens = 10'000'000;
  double threshold_lr = 0.01;     // SAELens' topk_threshold_lr
  bool normalize_activations = false;
  GeometricMedianOptions median{};
};

struct SaeStepReport {
  double loss = 0;
  double reconstruction = 0;  // mse_scale · mean ‖x − x̂‖²: about the FVU of this batch
  double auxiliary = 0;
  double l0 = 0;              // mean active latents per token
  index_t dead = 0;           // dead latents before this step (those AuxK trained)
  double threshold = 0;       // the JumpReLU threshold estimate after this step
  double lr = 0;
};

template <class Sae>
class SaeTrainer {
 public:
  using T = typename Sae::value_type;
  using D = typename Sae::device_type;
  static constexpr index_t d_in = Sae::d_in, d_sae = Sae::d_sae;
  using batch_view = TensorView<const T, Shape<dyn, d_in>, cpu_t>;

  SaeTrainer(Sae& sae, SaeTrainerOptions options = {})
      : sae_(sae),
        options_(options),
        optimizer_(parameters(sae), {.lr = options.lr, .beta1 = options.beta1, .beta2 = options.beta2, .eps = options.eps, .weight_decay = 0}),
        tokens_since_fired_(std::size_t(d_sae), 0) {
    if (sae.activation == SaeActivation::jump_relu)
      throw value_error("SaeTrainer: trains the top_k and batch_top_k rules; jump_relu is BatchTopK's inference form");
    if (!(options.lr > 0) || options.warmup_steps < 0 || options.decay_steps < 0 || options.k_aux < 0 || options.dead_after_tokens < 0 ||
        !(options.threshold_lr >= 0 && options.threshold_lr <= 1))
      throw value_error("SaeTrainer: need lr > 0, warmup_steps, decay_steps, k_aux, dead_after_tokens >= 0 and threshold_lr in [0, 1]");
  }

  void initialise(batch_view sample) {
    check_batch(sample, "initialise");
    const index_t rows = sample.extent(0);
    const T* x = sample.data();
    double mean_norm = 0, spread = 0;
    std::vector<double> mean(static_cast<std::size_t>(d_in), 0.0);
    for (index_t r = 0; r < rows; ++r) {
      double squares = 0;
      for (index_t i = 0; i < d_in; ++i) {
        squares += double(x[r * d_in + i]) * double(x[r * d_in + i]);
        mean[std::size_t(i)] += double(x[r * d_in + i]) / double(rows);
      }
      mean_norm += std::sqrt(squares) / double(rows);
    }
    for (index_t r = 0; r < rows; ++r)
      for (index_t i = 0; i < d_in; ++i) spread += (double(x[r * d_in + i]) - mean[std::size_t(i)]) * (double(x[r * d_in + i]) - mean[std::size_t(i)]);
    spread /= double(rows);
    if (!(spread > 0)) throw value_error("SaeTrainer::initialise: the sample has no variance; an autoencoder cannot be fitted to it");
    mse_scale_ = 1.0 / spread;
    sae_.input_scale = options_.normalize_activations ? std::sqrt(double(d_in)) / mean_norm : 1.0;
    const GeometricMedian median = geometric_median(sample, options_.median);
    Tensor<T, Shape<d_in>> centre(Shape<d_in>{});
    for (index_t i = 0; i < d_in; ++i) centre(i) = T(sae_.input_scale * median.point[std::size_t(i)]);
    copy_from_host(sae_.b_dec.value(), centre);
    initialised_ = true;
  }

  SaeStepReport step(batch_view batch) {
    check_batch(batch, "step");
    if (!initialised_) throw value_error("SaeTrainer::step: call initialise(sample) before the first step");
    const index_t rows = batch.extent(0);
    SaeStepReport report;
    report.dead = index_t(dead_.size());
    report.lr = lr_at(steps_);
    std::vector<char> fired(static_cast<std::size_t>(d_sae), 0);
    double smallest_kept = std::numeric_limits<double>::infinity();
    optimizer_.zero_grad();
    {
      auto scope = tape();
      // The batch where the autoencoder is (a copy on a device, kept for the backward).
      const auto placed = [&] {
        if constexpr (std::same_as<D, cpu_t>)
          return batch;
        else
          return on_device<D>(to_tensor(batch));
      }();
      const auto x = constant(placed);
      const auto loss = sae_loss(sae_, sae_.vars(), x,
                                 {.rule = sae_.activation,
                                  .mse_scale = mse_scale_,
                                  .dead = std::span<const std::int32_t>(dead_),
                                  .k_aux = options_.k_aux,
                                  .aux_coefficient = options_.aux_coefficient});
      report.loss = double(loss.total.item());
      report.reconstruction = double(loss.reconstruction.item());
      report.auxiliary = loss.auxiliary ? double(loss.auxiliary->item()) : 0.0;
      if (!std::isfinite(report.loss))
        throw value_error("SaeTrainer::step: the loss is " + std::to_string(report.loss) + " at step " + std::to_string(steps_) +
                          "; the autoencoder was left unchanged");
      const auto code = loss.code.to_host();
      const T* values = code.values.value().data();
      index_t active = 0;
      for (index_t e = 0; e < code.entries(); ++e)
        if (values[e] > T(0)) {
          ++active;
          fired[std::size_t(code.latent(e))] = 1;
          smallest_kept = std::min(smallest_kept, double(values[e]));
        }
      report.l0 = double(active) / double(rows);
      backward(loss.total, {.keep_intermediate_grads = false});
    }
    backend::remove_parallel_component(D{}, sae_.W_dec.value().data(), sae_.W_dec.grad().data(), d_sae, d_in);
    optimizer_.set_lr(report.lr);
    optimizer_.step();
    backend::normalize_rows(D{}, sae_.W_dec.value().data(), d_sae, d_in);

    dead_.clear();
    for (index_t j = 0; j < d_sae; ++j) {
      std::int64_t& since = tokens_since_fired_[std::size_t(j)];
      since = fired[std::size_t(j)] ? 0 : since + rows;
      if (since > options_.dead_after_tokens) dead_.push_back(std::int32_t(j));
    }
    if (sae_.activation == SaeActivation::batch_top_k && std::isfinite(smallest_kept)) {
      threshold_ = (1 - options_.threshold_lr) * threshold_ + options_.threshold_lr * smallest_kept;
      std::fill(sae_.threshold.data(), sae_.threshold.data() + d_sae, T(threshold_));
    }
    report.threshold = threshold_;
    ++steps_;
    tokens_seen_ += rows;
    return report;
  }

  double lr_at(index_t step) const {
    if (options_.decay_steps > 0)
      return WarmupCosineLr{.peak_lr = options_.lr,
                            .warmup_steps = std::min(options_.warmup_steps, options_.decay_steps),
                            .total_steps = options_.decay_steps,
                            .min_lr = options_.lr * options_.final_lr_fraction}(step);
    return step < options_.warmup_steps ? options_.lr * double(step) / double(options_.warmup_steps) : options_.lr;
  }

  index_t steps_taken() const noexcept { return steps_; }
  index_t tokens_seen() const noexcept { return tokens_seen_; }
  double mse_scale() const noexcept { return mse_scale_; }
  double threshold_estimate() const noexcept { return threshold_; }
  const std::vector<std::int64_t>& tokens_since_fired() const noexcept { return tokens_since_fired_; }
  const std::vector<std::int32_t>& dead_latents() const noexcept { return dead_; }
  const SaeTrainerOptions& options() const noexcept { return options_; }
  AdamW<D>& optimizer() noexcept { return optimizer_; }

 private:
  static void check_batch(batch_view batch, const char* what) {
    if (batch.extent(0) < 1) throw value_error(std::string("SaeTrainer::") + what + ": the batch is empty");
    if (!batch.is_contiguous()) throw value_error(std::string("SaeTrainer::") + what + ": the batch must be contiguous");
  }

  Sae& sae_;
  SaeTrainerOptions options_;
  AdamW<D> optimizer_;
  std::vector<std::int64_t> tokens_since_fired_;
  std::vector<std::int32_t> dead_;
  double mse_scale_ = 1;
  double threshold_ = 0;
  index_t steps_ = 0, tokens_seen_ = 0;
  bool initialised_ = false;
};

struct SaePasses {
  index_t passes = 1;
  index_t batch_rows = 256;
  index_t initial_rows = 16384;  // initialise() reads at most this many rows
};

// Trains on the rows of x (tokens, d_in) for plan.passes passes, each over the rows in a new
// order (Fisher-Yates from `order`, a generator of core/distributions.hpp), in batches of
// plan.batch_rows; a pass's last rows that do not fill a batch wait for the next order, so every
// step sees as many tokens. Before the first step, initialise() on the first pass's first
// min(tokens, plan.initial_rows) rows. Returns the steps taken: passes · (tokens / batch_rows).
template <class Sae, class Generator>
index_t train_in_passes(SaeTrainer<Sae>& trainer, typename SaeTrainer<Sae>::batch_view x, const SaePasses& plan, Generator& order) {
  using T = typename Sae::value_type;
  constexpr index_t width = Sae::d_in;
  const index_t tokens = x.extent(0);
  if (plan.passes < 1 || plan.batch_rows < 1 || plan.initial_rows < 1)
    throw value_error("train_in_passes: passes, batch_rows and initial_rows must be at least 1");
  if (tokens < plan.batch_rows)
    throw value_error("train_in_passes: " + std::to_string(tokens) + " rows do not fill one batch of " + std::to_string(plan.batch_rows));
  if (!x.is_contiguous()) throw value_error("train_in_passes: the activations must be contiguous");
  const index_t steps_per_pass = tokens / plan.batch_rows;
  Tensor<T, Shape<dyn, width>> ordered(Shape<dyn, width>{tokens});
  std::vector<index_t> rows(static_cast<std::size_t>(tokens));
  for (index_t pass = 0; pass < plan.passes; ++pass) {
    std::iota(rows.begin(), rows.end(), 0);
    shuffle(std::span<index_t>(rows), order);
    for (index_t r = 0; r < tokens; ++r) std::copy_n(x.data() + rows[std::size_t(r)] * width, width, ordered.data() + r * width);
    using rows_view = typename SaeTrainer<Sae>::batch_view;
    if (pass == 0) trainer.initialise(rows_view(ordered.data(), Shape<dyn, width>{std::min(tokens, plan.initial_rows)}));
    for (index_t s = 0; s < steps_per_pass; ++s) trainer.step(rows_view(ordered.data() + s * plan.batch_rows * width, Shape<dyn, width>{plan.batch_rows}));
  }
  return plan.passes * steps_per_pass;
}

}  // namespace ranklens
