// ranklens side of the sparse-autoencoder training-step benchmark (bench/pytorch_sae_step.py is
// the PyTorch side; scripts/bench_sae_vs_pytorch.sh runs both back to back). A BatchTopK
// SparseAutoencoder trained by SaeTrainer (sae/sae_trainer.hpp): encoder GEMM, BatchTopK choice,
// sparse decoder, loss, backward over the active entries, decoder-gradient projection, Adam,
// decoder renormalisation, dead-latent counts and the threshold estimate, on a fixed batch of
// Gaussian activations. Prints one JSON line with tokens/s, like the PyTorch side.
//
// Two shapes: "paper" (448 → 3584, k 16: the seed paper's SAE on LoRA adapter states) and
// "resid" (512 → 16384, k 32: a residual-stream SAE).
//
// Build and run by hand (scripts/bench_sae_vs_pytorch.sh does both):
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -Iinclude bench/bench_sae_step.cpp -o bench_sae_step -lopenblas -lpthread
//   OPENBLAS_CORETYPE=SkylakeX RANKLENS_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./bench_sae_step --shape paper
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "ranklens/cpu/blas.hpp"
#include "ranklens/sae/sae_trainer.hpp"

using namespace ranklens;

namespace {

struct Options {
  std::string shape = "paper";
  index_t batch = 4096;
  int warmup = 3;
  double seconds = 10;
};

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;
}

template <index_t K, index_t DIn, index_t DSae>
int run(const Options& options) {
  using Sae = SparseAutoencoder<K, DIn, DSae>;
  Rng gen(0);
  Sae sae(gen, SaeActivation::batch_top_k);
  SaeTrainer trainer(sae, {.lr = 5e-4});
  Tensor<float, Shape<dyn, DIn>> batch(Shape<dyn, DIn>{options.batch});
  for (float& v : batch.span()) v = float(standard_normal(gen));
  trainer.initialise(batch.view());

  for (int i = 0; i < options.warmup; ++i) trainer.step(batch.view());
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const double cpu_start = process_cpu_seconds();
  int steps = 0;
  double elapsed = 0;
  SaeStepReport report;
  do {
    report = trainer.step(batch.view());
    ++steps;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < options.seconds || steps < 3);
  std::printf(
      "{\"side\": \"ranklens\", \"shape\": \"%s\", \"d_in\": %ld, \"d_sae\": %ld, \"k\": %ld, \"batch\": %ld, \"steps\": %d, "
      "\"seconds\": %.3f, \"tokens_per_s\": %.1f, \"ms_per_step\": %.2f, \"cpu_ms_per_step\": %.1f, \"peak_rss_mb\": %.1f, "
      "\"loss\": %.5f, \"l0\": %.2f, \"threads\": %d, \"openblas_core\": \"%s\"}\n",
      options.shape.c_str(), long(DIn), long(DSae), long(K), long(options.batch), steps, elapsed, double(steps * options.batch) / elapsed,
      1e3 * elapsed / steps, 1e3 * (process_cpu_seconds() - cpu_start) / steps, peak_rss_mb(), report.loss, report.l0, cpu::num_threads(),
      cpu::openblas_core_name().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ranklens side of the sparse-autoencoder training-step benchmark against PyTorch."};
  Options options;
  app.add_option("--shape", options.shape, "paper (448 -> 3584, k 16) or resid (512 -> 16384, k 32)")->check(CLI::IsMember({"paper", "resid"}));
  app.add_option("--batch", options.batch, "tokens per step")->check(CLI::PositiveNumber);
  app.add_option("--warmup", options.warmup, "unmeasured steps first");
  app.add_option("--seconds", options.seconds, "minimum measured time");
  CLI11_PARSE(app, argc, argv);
  cpu::check_openblas_core();
  try {
    if (options.shape == "paper") return run<16, 448, 3584>(options);
    return run<32, 512, 16384>(options);
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "bench_sae_step: %s\n", failure.what());
    return 1;
  }
}
