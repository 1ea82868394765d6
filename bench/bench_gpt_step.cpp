// ranklens side of the training-step benchmark (bench/pytorch_gpt_step.py is the PyTorch side;
// scripts/bench_vs_pytorch.sh runs both back to back). A GPT-2 style decoder — vocab 64,
// context 256, 4 layers, 4 heads, MLP 4x, float32 — trained with AdamW on random tokens; prints
// one JSON line with tokens/s and peak RSS, like the PyTorch side.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <random>

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
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

template <index_t DModel>
int run(const Options& options) {
  using Config = Gpt2Like<DModel, layers, heads, vocab, context>;
  std::mt19937 rng(0);
  Transformer<Config> model(rng);
  AdamW opt(parameters(model), {.lr = 1e-3});

  using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>>;
  Tokens inputs(Shape<dyn, dyn>{options.batch, context}), targets(Shape<dyn, dyn>{options.batch, context});
  std::uniform_int_distribution<std::int32_t> token(0, vocab - 1);
  for (auto& t : inputs.span()) t = token(rng);
  for (index_t b = 0; b < options.batch; ++b) {
    for (index_t t = 0; t + 1 < context; ++t) targets(b, t) = inputs(b, t + 1);
    targets(b, context - 1) = token(rng);
  }

  auto step = [&] {
    auto scope = tape();
    auto loss = cross_entropy(model(inputs.view()), targets);
    opt.zero_grad();
    backward(loss);
    opt.step();
    return double(loss.item());
  };

  for (int i = 0; i < options.warmup; ++i) step();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  int steps = 0;
  double loss = 0, elapsed = 0;
  do {
    loss = step();
    ++steps;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < options.seconds || steps < 3);
  const double tokens_per_s = double(steps) * double(options.batch * context) / elapsed;
  std::printf(
      "{\"side\": \"ranklens\", \"d_model\": %ld, \"steps\": %d, \"seconds\": %.3f, \"tokens_per_s\": %.1f, "
      "\"peak_rss_mb\": %.1f, \"loss\": %.4f, \"threads\": %d, \"openblas_core\": \"%s\"}\n",
      long(DModel), steps, elapsed, tokens_per_s, peak_rss_mb(), loss, cpu::num_threads(), cpu::openblas_core_name().c_str());
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
  CLI11_PARSE(app, argc, argv);
  cpu::check_openblas_core();
  switch (d_model) {
    case 64: return run<64>(options);
    case 128: return run<128>(options);
    default: return run<256>(options);
  }
}
