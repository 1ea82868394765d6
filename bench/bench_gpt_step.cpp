// ranklens side of the training-step benchmark (bench/pytorch_gpt_step.py is the PyTorch side;
// scripts/bench_vs_pytorch.sh runs both back to back). A GPT-2 style decoder — vocab 64,
// context 256, 4 layers, 4 heads, MLP 4x, float32 — trained with AdamW on random tokens; prints
// one JSON line with tokens/s and peak RSS, like the PyTorch side, plus the step's FLOP rate
// against this machine's FMA peak (measured first, bench/fma_peak.hpp).
//
// Build and run by hand (scripts/bench_vs_pytorch.sh does both through CMake):
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -Iinclude bench/bench_gpt_step.cpp -o bench_gpt_step -lopenblas -lpthread
//   OPENBLAS_CORETYPE=SkylakeX RANKLENS_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./bench_gpt_step --d-model 256
//
// --run-time-sizes trains the same model built from Gpt2Like<dyn, dyn, dyn, dyn, dyn> with its
// sizes given at run time; --compare-run-time-sizes R trains both in turns, R rounds in one
// process, and prints the ratio of their CPU time per step (docs/performance.md).
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "fma_peak.hpp"
#include "gpt_step_flops.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/thread_pool.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"

using namespace ranklens;

namespace {

constexpr index_t vocab = 64, context = 256, layers = 4, heads = 4;

struct Options {
  index_t batch = 32;
  int warmup = 3;
  double seconds = 10;
  bool keep_intermediate_grads = false;  // PyTorch does not keep them either
  bool run_time_sizes = false;           // the model of dyn sizes, given their values at run time
};

// CPU time of this process (all threads), for comparisons on a machine other programs share:
// unlike wall time it does not count the time other processes hold the cores.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

// One model, its optimizer and a batch of random tokens: step() trains on it once.
template <class Config>
struct Training {
  Training(const Options& options, const transformer_dims& sizes)
      : rng(0),
        model(rng, sizes),
        optimizer(parameters(model), {.lr = 1e-3}),
        inputs(Shape<dyn, dyn>{options.batch, context}),
        targets(Shape<dyn, dyn>{options.batch, context}),
        keep_intermediate_grads(options.keep_intermediate_grads) {
    const auto token = [&] { return std::int32_t(uniform_below(rng, vocab)); };
    for (auto& t : inputs.span()) t = token();
    for (index_t b = 0; b < options.batch; ++b) {
      for (index_t t = 0; t + 1 < context; ++t) targets(b, t) = inputs(b, t + 1);
      targets(b, context - 1) = token();
    }
  }

  double step() {
    auto scope = tape();
    auto loss = cross_entropy(model(inputs.view()), targets);
    optimizer.zero_grad();
    backward(loss, {.keep_intermediate_grads = keep_intermediate_grads});
    optimizer.step();
    return double(loss.item());
  }

  std::mt19937 rng;
  Transformer<Config> model;
  AdamW<> optimizer;
  Tensor<std::int32_t, Shape<dyn, dyn>> inputs, targets;
  bool keep_intermediate_grads;
};

template <class Config>
int run(const Options& options, const bench::FmaPeak& peak, const transformer_dims& sizes) {
  Training<Config> training(options, sizes);
  for (int i = 0; i < options.warmup; ++i) training.step();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const double cpu_start = process_cpu_seconds();
  int steps = 0;
  double loss = 0, elapsed = 0;
  do {
    loss = training.step();
    ++steps;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < options.seconds || steps < 3);
  const double cpu_ms_per_step = 1e3 * (process_cpu_seconds() - cpu_start) / steps;
  const double tokens_per_s = double(steps) * double(options.batch * context) / elapsed;
  const bench::StepFlops flops = bench::gpt_step_flops(sizes.d_model, layers, vocab, context, options.batch);
  const double gflops = flops.per_step * double(steps) / elapsed / 1e9;
  std::printf(
      "{\"side\": \"ranklens\", \"sizes\": \"%s\", \"d_model\": %ld, \"steps\": %d, \"seconds\": %.3f, \"tokens_per_s\": %.1f, "
      "\"peak_rss_mb\": %.1f, \"loss\": %.4f, \"threads\": %d, \"openblas_core\": \"%s\", \"gflop_per_step\": %.2f, "
      "\"gflops\": %.1f, \"fma_peak_gflops\": %.1f, \"peak_percent\": %.1f, \"arena_mb\": %.1f, \"cpu_ms_per_step\": %.1f}\n",
      options.run_time_sizes ? "run-time" : "static", long(sizes.d_model), steps, elapsed, tokens_per_s, peak_rss_mb(), loss,
      cpu::num_threads(), cpu::openblas_core_name().c_str(), flops.per_step / 1e9, gflops, peak.gflops,
      peak.gflops > 0 ? 100 * gflops / peak.gflops : 0.0, double(Tape::current().arena_capacity()) / (1 << 20), cpu_ms_per_step);
  return 0;
}

// The static model and the model of run-time sizes, trained in turns in one process (`rounds`
// rounds of `steps` steps each): a shared machine's slow spells fall on both alike, which
// separate runs cannot promise. Prints the median over rounds of each side's CPU milliseconds
// per step and of their ratio.
template <class Static, class Dynamic>
int compare(const Options& options, const transformer_dims& sizes, int rounds, int steps) {
  Training<Static> fixed(options, sizes);
  Training<Dynamic> flexible(options, sizes);
  for (int i = 0; i < options.warmup; ++i) {
    fixed.step();
    flexible.step();
  }
  const auto cpu_ms_per_step = [&](auto& training) {
    const double start = process_cpu_seconds();
    for (int i = 0; i < steps; ++i) training.step();
    return 1e3 * (process_cpu_seconds() - start) / steps;
  };
  std::vector<double> fixed_ms, flexible_ms, ratios;
  for (int r = 0; r < rounds; ++r) {
    // Alternate which goes first, so that neither always follows the other's cache state.
    double fixed_round = 0, flexible_round = 0;
    if (r % 2 == 0) {
      fixed_round = cpu_ms_per_step(fixed);
      flexible_round = cpu_ms_per_step(flexible);
    } else {
      flexible_round = cpu_ms_per_step(flexible);
      fixed_round = cpu_ms_per_step(fixed);
    }
    fixed_ms.push_back(fixed_round);
    flexible_ms.push_back(flexible_round);
    ratios.push_back(flexible_round / fixed_round);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  std::printf(
      "{\"side\": \"ranklens\", \"compare\": \"run-time sizes / static\", \"d_model\": %ld, \"rounds\": %d, \"steps_per_round\": %d, "
      "\"static_cpu_ms_per_step\": %.1f, \"run_time_cpu_ms_per_step\": %.1f, \"median_ratio\": %.4f, \"min_ratio\": %.4f, "
      "\"max_ratio\": %.4f, \"threads\": %d}\n",
      long(sizes.d_model), rounds, steps, median(fixed_ms), median(flexible_ms), median(ratios),
      *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()), cpu::num_threads());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ranklens side of the GPT training-step benchmark against PyTorch."};
  Options options;
  int d_model = 128;
  app.add_option("--d-model", d_model, "model width (compiled: 64, 128, 256)")->check(CLI::IsMember({64, 128, 256}));
  app.add_option("--batch", options.batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--warmup", options.warmup, "unmeasured steps first");
  app.add_option("--seconds", options.seconds, "minimum measured time");
  app.add_flag("--run-time-sizes", options.run_time_sizes, "build the model from Gpt2Like<dyn, ...> with its sizes given at run time");
  int compare_rounds = 0, compare_steps = 5;
  app.add_option("--compare-run-time-sizes", compare_rounds,
                 "train the static model and the one of run-time sizes in turns for this many rounds and print their CPU time ratio");
  app.add_option("--compare-steps", compare_steps, "steps of each model per round of --compare-run-time-sizes")->check(CLI::PositiveNumber);
  app.add_flag("--keep-intermediate-grads", options.keep_intermediate_grads,
               "keep every intermediate's gradient until the step ends (more memory; the default releases them)");
  CLI11_PARSE(app, argc, argv);
  cpu::check_openblas_core();
  // Measured before the model exists, on as many threads as the step uses.
  const auto peak = bench::measure_fma_peak(cpu::num_threads(), 0.1, 5);
  const auto sizes_of = [&](index_t width) {
    return transformer_dims{.d_model = width, .n_layers = layers, .n_heads = heads, .n_kv_heads = heads, .vocab_size = vocab,
                            .mlp_width = 4 * width, .max_positions = context, .rope_theta = 1e4, .norm_eps = 1e-5};
  };
  if (compare_rounds > 0) {
    const auto sizes = sizes_of(d_model);
    switch (d_model) {
      case 64: return compare<Gpt2Like<64, layers, heads, vocab, context>, AnyGpt2Like>(options, sizes, compare_rounds, compare_steps);
      case 128: return compare<Gpt2Like<128, layers, heads, vocab, context>, AnyGpt2Like>(options, sizes, compare_rounds, compare_steps);
      default: return compare<Gpt2Like<256, layers, heads, vocab, context>, AnyGpt2Like>(options, sizes, compare_rounds, compare_steps);
    }
  }
  if (options.run_time_sizes) return run<AnyGpt2Like>(options, peak, sizes_of(d_model));
  switch (d_model) {
    case 64: return run<Gpt2Like<64, layers, heads, vocab, context>>(options, peak, sizes_of(64));
    case 128: return run<Gpt2Like<128, layers, heads, vocab, context>>(options, peak, sizes_of(128));
    default: return run<Gpt2Like<256, layers, heads, vocab, context>>(options, peak, sizes_of(256));
  }
}
