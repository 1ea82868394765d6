// ranklens side of the LoRA training-step benchmark (bench/pytorch_lora_step.py is the
// PyTorch + PEFT side; scripts/bench_lora_vs_peft.sh runs both back to back). A Qwen2-style
// decoder (vocab 256, 4 heads over 2 key/value heads, SwiGLU MLP of width 4·d, tied
// embeddings) at the three shapes, d 64 / 3 layers, d 128 / 4 layers, d 256 / 6 layers,
// on batches of 16 × 64 random tokens, trained either fully (--mode full, which is also the
// pretraining step) or through rank-1 adapters on all seven projections of every layer
// (--mode lora: the base frozen, AdamW on the adapters only). Prints one JSON line.
//
//   OPENBLAS_CORETYPE=SkylakeX RANKLENS_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 build/bench/bench_lora_step --d-model 128 --mode lora
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"

using namespace ranklens;

namespace {

constexpr index_t vocab = 256, context = 64;

struct Options {
  std::string mode = "lora";
  index_t batch = 16;
  int warmup = 3;
  double seconds = 10;
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;
}

template <index_t DModel, index_t Layers>
int run(const Options& options) {
  using Config = Qwen2Like<DModel, Layers, 4, 2, vocab, 4 * DModel, /*TiedEmbeddings=*/true, context>;
  using Model = Transformer<Config>;
  std::mt19937 rng(0);
  Model model(rng);
  std::optional<LoraAdapters<1, Model>> adapters;
  if (options.mode == "lora") adapters.emplace(model, LoraConfig{.options = {.alpha = 16, .rslora = true}});
  AdamW optimizer(adapters ? adapters->parameters() : parameters(model),
                  {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = 1e-4});
  if (adapters) {  // non-zero B, so that the adapters' whole backward runs as in training
    std::normal_distribution<float> dist(0.0f, 0.01f);
    adapters->for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
      for (auto& v : adapter.lora_B.value().span()) v = dist(rng);
    });
  }

  using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>>;
  Tokens inputs(Shape<dyn, dyn>{options.batch, context}), targets(Shape<dyn, dyn>{options.batch, context});
  std::uniform_int_distribution<std::int32_t> token(0, vocab - 1);
  for (auto& t : inputs.span()) t = token(rng);
  for (auto& t : targets.span()) t = token(rng);

  const auto step = [&] {
    auto scope = tape();
    auto loss = cross_entropy(model(inputs.view()), targets);
    optimizer.zero_grad();
    backward(loss, {.keep_intermediate_grads = false});
    optimizer.step();
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
  index_t trainable = 0;
  for (const auto& p : optimizer.parameters()) trainable += p.numel;
  std::printf(
      "{\"side\": \"ranklens\", \"mode\": \"%s\", \"d_model\": %ld, \"layers\": %ld, \"steps\": %d, \"seconds\": %.3f, "
      "\"ms_per_step\": %.3f, \"tokens_per_s\": %.1f, \"trainable\": %ld, \"total\": %ld, \"peak_rss_mb\": %.1f, \"loss\": %.4f, "
      "\"threads\": %d, \"openblas_core\": \"%s\"}\n",
      options.mode.c_str(), long(DModel), long(Layers), steps, elapsed, 1e3 * elapsed / steps,
      double(steps) * double(options.batch * context) / elapsed, long(trainable), long(parameter_count(model)), peak_rss_mb(), loss,
      cpu::num_threads(), cpu::openblas_core_name().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ranklens side of the LoRA training-step benchmark against PyTorch + PEFT."};
  Options options;
  int d_model = 128;
  app.add_option("--d-model", d_model, "64 (3 layers), 128 (4 layers) or 256 (6 layers)")->check(CLI::IsMember({64, 128, 256}));
  app.add_option("--mode", options.mode, "lora (rank 1 on every projection) or full")->check(CLI::IsMember({"lora", "full"}));
  app.add_option("--batch", options.batch, "sequences of 64 tokens per step")->check(CLI::PositiveNumber);
  app.add_option("--warmup", options.warmup, "unmeasured steps first");
  app.add_option("--seconds", options.seconds, "minimum measured time");
  CLI11_PARSE(app, argc, argv);
  cpu::check_openblas_core();
  switch (d_model) {
    case 64: return run<64, 3>(options);
    case 128: return run<128, 4>(options);
    default: return run<256, 6>(options);
  }
}
