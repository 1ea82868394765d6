// A sweep over K, the active latents of a sparse autoencoder, compiled from a Boost.Hana list:
// one SparseAutoencoder<K, 64, 512> per K, each trained on the same residual-stream activations
// of a small transformer, and one table of what each achieves.
//
//   1. A two-layer GPT-2-style transformer (width 64, MLPs) is trained for a few hundred steps on
//      in-context Markov chains (data::dirichlet_markov_source: every sequence from its own
//      random chain, as in examples/icl_emergence).
//   2. Its residual stream at --hook (blocks.1.hook_resid_post: after the last block, before the
//      final norm) is captured on fresh sequences: the training set of the autoencoders, and a
//      held-out set.
//   3. For each K in the list, a BatchTopK autoencoder with 8x expansion is trained as Gao et al.
//      2024 describe (sae/sae_trainer.hpp), then measured on the held-out activations in its
//      JumpReLU inference form: FVU, L0, dead latents, the next-token loss with the reconstruction
//      spliced in at the hook (loss and KL recovered against zero-ablation), and how many live
//      latents are "token latents" (at least 90% of their activation mass on one current token).
#include <CLI/CLI.hpp>

#include <boost/hana.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/token_batch.hpp"
#include "ranklens/interp/downstream_score.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/lr_schedule.hpp"
#include "ranklens/sae/sae_metrics.hpp"
#include "ranklens/sae/sae_trainer.hpp"
#include "ranklens/train/train_step.hpp"

namespace hana = boost::hana;
using namespace ranklens;

namespace {

constexpr index_t states = 4, width = 64, latents = 8 * width;
using Model = Transformer<Gpt2Like<width, 2, 2, states, 128>>;
using Residual = Model::residual_activation;
using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>>;
using Activations = Tensor<float, Shape<dyn, width>>;

// The K values swept, fixed at compile time: each is a template argument of its autoencoder.
constexpr auto k_values = hana::tuple_c<int, 4, 8, 16, 32>;

struct Options {
  index_t model_steps = 400, context = 64, batch = 32;
  double model_lr = 3e-3;
  index_t capture_sequences = 2048, held_out_sequences = 128;
  index_t sae_steps = 2000, sae_batch = 1024;
  double sae_lr = 1e-3;
  std::string hook = "blocks.1.hook_resid_post";
  std::uint64_t seed = 0;
  int threads = 2;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sequences first_index .. first_index + rows − 1 of the source, split into inputs and next tokens.
struct TokenBatch {
  Tokens inputs, targets;
};
TokenBatch markov_batch(const data::dirichlet_markov_source& source, std::uint64_t seed, index_t rows, index_t context,
                        std::uint64_t first_index) {
  std::vector<std::int32_t> sequences(static_cast<std::size_t>(rows * (context + 1)));
  data::sample_batch_into(source, seed, rows, context + 1, sequences, first_index);
  TokenBatch out{Tokens(Shape<dyn, dyn>{rows, context}), Tokens(Shape<dyn, dyn>{rows, context})};
  for (index_t b = 0; b < rows; ++b)
    for (index_t t = 0; t < context; ++t) {
      out.inputs(b, t) = sequences[std::size_t(b * (context + 1) + t)];
      out.targets(b, t) = sequences[std::size_t(b * (context + 1) + t + 1)];
    }
  return out;
}

void train_model(Model& model, const data::dirichlet_markov_source& source, const Options& options) {
  AdamW optimizer(parameters(model), {.lr = options.model_lr, .weight_decay = 0.0});
  const ParameterList params = parameters(model);
  const WarmupCosineLr schedule{.peak_lr = options.model_lr, .warmup_steps = std::min<index_t>(50, options.model_steps / 10),
                                .total_steps = options.model_steps, .min_lr = options.model_lr / 10};
  double loss = 0;
  for (index_t step = 0; step < options.model_steps; ++step) {
    const TokenBatch batch = markov_batch(source, options.seed, options.batch, options.context, std::uint64_t(step * options.batch));
    loss = train::train_step(optimizer, [&] { return cross_entropy(model(batch.inputs), batch.targets); },
                             {.lr = schedule(step), .max_grad_norm = 1.0, .parameters = &params})
               .loss;
    if ((step + 1) % 100 == 0 || step + 1 == options.model_steps)
      std::fprintf(stderr, "model step %lld/%lld: loss %.4f\n", (long long)(step + 1), (long long)options.model_steps, loss);
  }
}

// The hook's activations on `sequences` fresh sequences (stream seed + 1), as (tokens, width) rows,
// with each row's current token.
struct Captured {
  Activations rows;
  std::vector<std::int32_t> current_token;
};
Captured capture(Model& model, const data::dirichlet_markov_source& source, const Options& options, index_t sequences, std::uint64_t stream) {
  Captured out{Activations(Shape<dyn, width>{sequences * options.context}), {}};
  index_t filled = 0;
  model.add_hook(options.hook, [&](const Residual& a) {
    const auto t = a.to_tensor();
    std::copy(t.data(), t.data() + t.numel(), out.rows.data() + filled * width);
    filled += t.numel() / width;
  });
  auto guard = no_grad();
  constexpr index_t chunk = 64;
  for (index_t first = 0; first < sequences; first += chunk) {
    const index_t rows = std::min(chunk, sequences - first);
    const TokenBatch batch = markov_batch(source, options.seed + stream, rows, options.context, std::uint64_t(first));
    for (const std::int32_t token : batch.inputs.span()) out.current_token.push_back(token);
    auto scope = tape();
    model(batch.inputs);
  }
  model.reset_hooks();
  return out;
}

struct SweepRow {
  int k = 0;
  SaeEvaluation batch{}, jump{};
  interp::DownstreamScore downstream{};
  index_t token_latents = 0, live = 0;
  double threshold = 0, seconds = 0;
};

template <int K>
SweepRow train_and_measure(Model& model, const Captured& train, const Captured& held_out, const TokenBatch& downstream_batch, const Options& options) {
  const auto started = std::chrono::steady_clock::now();
  using Sae = SparseAutoencoder<K, width, latents>;
  Rng gen(options.seed + 77);
  Sae sae(gen, SaeActivation::batch_top_k);
  sae.hook_name = options.hook;
  SaeTrainer trainer(sae, {.lr = options.sae_lr,
                           .warmup_steps = options.sae_steps / 20,
                           .decay_steps = options.sae_steps,
                           .dead_after_tokens = 20 * options.sae_batch * 10});
  const index_t rows = train.rows.extent(0);
  trainer.initialise(TensorView<const float, Shape<dyn, width>, cpu_t>(train.rows.data(), Shape<dyn, width>{std::min<index_t>(rows, 16384)}));
  // Batches of consecutive rows from a random start each step (the rows are many sequences long).
  Rng picker(options.seed + 5);
  SaeStepReport report;
  for (index_t step = 0; step < options.sae_steps; ++step) {
    const index_t first = index_t(uniform_below(picker, std::uint64_t(rows - options.sae_batch + 1)));
    report = trainer.step(TensorView<const float, Shape<dyn, width>, cpu_t>(train.rows.data() + first * width, Shape<dyn, width>{options.sae_batch}));
  }
  SweepRow row;
  row.k = K;
  row.threshold = report.threshold;
  row.batch = evaluate_sae(sae, held_out.rows.view(), SaeActivation::batch_top_k);
  row.jump = evaluate_sae(sae, held_out.rows.view(), SaeActivation::jump_relu);
  row.downstream = interp::downstream_score_at_hook<Residual>(model, options.hook, downstream_batch.inputs, downstream_batch.targets,
                                                              [&](const Residual& a) { return sae.reconstruct(a, SaeActivation::jump_relu); });
  // Token latents: the share of a latent's activation mass on its most frequent current token.
  std::vector<double> mass(static_cast<std::size_t>(latents * states), 0.0);
  {
    auto guard = no_grad();
    auto scope = tape();
    const auto code = sae.encode(constant(held_out.rows), SaeActivation::jump_relu);
    for (index_t r = 0; r < code.rows(); ++r)
      for (index_t e = code.row_begin(r); e < code.row_end(r); ++e)
        mass[std::size_t(code.latent(e) * states + held_out.current_token[std::size_t(r)])] += double(code.values.value()(e));
  }
  for (index_t j = 0; j < latents; ++j) {
    double total = 0, top = 0;
    for (index_t s = 0; s < states; ++s) total += mass[std::size_t(j * states + s)], top = std::max(top, mass[std::size_t(j * states + s)]);
    if (total > 0) {
      ++row.live;
      row.token_latents += top >= 0.9 * total;
    }
  }
  row.seconds = seconds_since(started);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train sparse autoencoders with K = 4, 8, 16, 32 on a small transformer's residual stream and compare them."};
  Options options;
  app.add_option("--model-steps", options.model_steps, "training steps of the transformer")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--context", options.context, "tokens per sequence")->check(CLI::Range(4, 127))->capture_default_str();
  app.add_option("--capture-sequences", options.capture_sequences, "sequences whose activations train the autoencoders")
      ->check(CLI::Range(32, 1 << 20))
      ->capture_default_str();
  app.add_option("--sae-steps", options.sae_steps, "training steps of each autoencoder")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--sae-batch", options.sae_batch, "tokens per autoencoder step")->check(CLI::Range(16, 1 << 20))->capture_default_str();
  app.add_option("--sae-lr", options.sae_lr, "peak Adam learning rate of the autoencoders")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--hook", options.hook, "residual-stream hook point (TransformerLens name)")->capture_default_str();
  app.add_option("--seed", options.seed, "seed of data and initialisation")->capture_default_str();
  app.add_option("--threads", options.threads, "CPU threads")->check(CLI::Range(1, 1024))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (options.capture_sequences * options.context < options.sae_batch) {
    std::fprintf(stderr, "sae_k_sweep: --capture-sequences × --context must give at least --sae-batch tokens\n");
    return 2;
  }
  cpu::check_openblas_core();
  cpu::set_all_threads(options.threads);
  try {
    const auto started = std::chrono::steady_clock::now();
    const data::dirichlet_markov_source source{states, 1.0};
    std::mt19937 init(std::uint32_t(options.seed));
    Model model(init);
    train_model(model, source, options);
    const Captured train = capture(model, source, options, options.capture_sequences, 1);
    const Captured held_out = capture(model, source, options, options.held_out_sequences, 2);
    const TokenBatch downstream_batch = markov_batch(source, options.seed + 2, options.held_out_sequences, options.context, 0);
    std::fprintf(stderr, "transformer and activations ready in %.1f s: %lld training tokens, %lld held out, hook %s\n", seconds_since(started),
                 (long long)train.rows.extent(0), (long long)held_out.rows.extent(0), options.hook.c_str());

    std::vector<SweepRow> rows;
    hana::for_each(k_values, [&](auto k) {
      constexpr int K = decltype(k)::value;
      rows.push_back(train_and_measure<K>(model, train, held_out, downstream_batch, options));
      std::fprintf(stderr, "K = %d done in %.1f s\n", K, rows.back().seconds);
    });

    std::printf("SparseAutoencoder<K, %lld, %lld>, BatchTopK, %lld steps of %lld tokens; held out: %lld tokens at %s\n", (long long)width,
                (long long)latents, (long long)options.sae_steps, (long long)options.sae_batch, (long long)held_out.rows.extent(0),
                options.hook.c_str());
    std::printf("JumpReLU inference form (threshold θ from training) unless marked batch:\n");
    std::printf("%4s %9s %11s %7s %7s %8s %10s %11s %10s %10s %9s %7s %6s\n", "K", "FVU", "FVU(batch)", "L0", "θ", "dead %", "loss", "loss spliced",
                "loss zero", "loss rec.", "KL rec.", "token", "s");
    for (const SweepRow& r : rows)
      std::printf("%4d %9.4f %11.4f %7.2f %7.3f %8.1f %10.4f %11.4f %10.4f %10.4f %9.4f %3lld/%-3lld %6.1f\n", r.k, r.jump.fvu, r.batch.fvu,
                  r.jump.l0, r.threshold, 100 * r.jump.dead_fraction, r.downstream.loss_clean, r.downstream.loss_spliced,
                  r.downstream.loss_ablated, r.downstream.loss_recovered, r.downstream.kl_recovered, (long long)r.token_latents,
                  (long long)r.live, r.seconds);
    std::printf("token: live latents with >= 90%% of their activation mass on one current token / live latents\n");
    std::printf("total %.1f s\n", seconds_since(started));
    return 0;
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "sae_k_sweep: %s\n", failure.what());
    return 1;
  }
}
