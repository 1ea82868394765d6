// Micro-benchmarks of the CPU kernels (include/ranklens/cpu/).
//
// Memory-bound kernels report bytes/s counting each array read or written once (a kernel
// reading x and writing y over n floats moves 8n bytes); compare them with BM_memcpy and
// BM_copy_parallel, the machine's copy bandwidth measured the same way. Matrix products
// report FLOP/s (2 m n k per product).
//
// Run with the OpenBLAS core set, e.g.
//   OPENBLAS_CORETYPE=SkylakeX ./bench_kernels --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "fma_peak.hpp"
#include "ranklens/core/distributions.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/cross_entropy.hpp"
#include "ranklens/cpu/elementwise.hpp"
#include "ranklens/cpu/norm.hpp"
#include "ranklens/cpu/reduce.hpp"
#include "ranklens/cpu/softmax.hpp"

namespace {

using ranklens::index_t;
namespace cpu = ranklens::cpu;

std::vector<float> random_floats(index_t n, std::uint64_t seed, float lo = -2, float hi = 2) {
  std::mt19937_64 gen(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = ranklens::uniform<float>(gen, lo, hi);
  return v;
}

void set_bytes(benchmark::State& state, index_t arrays, index_t elements,
               std::size_t element_size) {
  state.SetBytesProcessed(std::int64_t(state.iterations()) * arrays * elements *
                          std::int64_t(element_size));
}

// 16M floats = 64 MiB per array: far beyond the last-level cache.
constexpr index_t large = index_t(1) << 24;

void BM_memcpy(benchmark::State& state) {
  const auto x = random_floats(large, 1);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    std::memcpy(y.data(), x.data(), x.size() * sizeof(float));
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, large, sizeof(float));
}
BENCHMARK(BM_memcpy)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_copy_parallel(benchmark::State& state) {
  const auto x = random_floats(large, 1);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    cpu::copy(x.data(), y.data(), large);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, large, sizeof(float));
}
BENCHMARK(BM_copy_parallel)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_add(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = random_floats(n, 1), b = random_floats(n, 2);
  std::vector<float> y(a.size());
  for (auto _ : state) {
    cpu::binary_forward<cpu::add_op>(a.data(), b.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 3, n, sizeof(float));
}
BENCHMARK(BM_add)->Arg(1 << 12)->Arg(1 << 16)->Arg(large)->UseRealTime();

template <class Op>
void BM_unary_forward(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto x = random_floats(n, 3, -5, 5);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    cpu::unary_forward<Op>(x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, n, sizeof(float));
}
BENCHMARK(BM_unary_forward<cpu::gelu_tanh_op>)->Arg(1 << 16)->Arg(large)->UseRealTime();
BENCHMARK(BM_unary_forward<cpu::gelu_exact_op>)->Arg(large)->UseRealTime();
BENCHMARK(BM_unary_forward<cpu::silu_op>)->Arg(large)->UseRealTime();

template <class Op>
void BM_unary_backward(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto x = random_floats(n, 3, -5, 5), gy = random_floats(n, 4);
  std::vector<float> gx(x.size(), 0.0f);
  for (auto _ : state) {
    cpu::unary_backward<Op>(x.data(), nullptr, gy.data(), gx.data(), n);
    benchmark::DoNotOptimize(gx.data());
  }
  set_bytes(state, 4, n, sizeof(float));  // x, gy, gx read, gx written
}
BENCHMARK(BM_unary_backward<cpu::gelu_tanh_op>)->Arg(large)->UseRealTime();

void BM_softmax_forward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto x = random_floats(rows * cols, 5, -10, 10);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    cpu::softmax_forward(x.data(), y.data(), rows, cols);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, rows * cols, sizeof(float));
}
BENCHMARK(BM_softmax_forward)->Args({8192, 1024})->Args({32 * 4 * 256, 256})->UseRealTime();

void BM_softmax_backward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto y = random_floats(rows * cols, 5, 0, 1), gy = random_floats(rows * cols, 6);
  std::vector<float> gx(y.size(), 0.0f);
  for (auto _ : state) {
    cpu::softmax_backward(y.data(), gy.data(), gx.data(), rows, cols);
    benchmark::DoNotOptimize(gx.data());
  }
  set_bytes(state, 4, rows * cols, sizeof(float));
}
BENCHMARK(BM_softmax_backward)->Args({8192, 1024})->UseRealTime();

void BM_causal_softmax_forward(benchmark::State& state) {
  const index_t matrices = state.range(0), t = state.range(1);
  const auto x = random_floats(matrices * t * t, 5, -10, 10);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    cpu::causal_softmax_forward(x.data(), y.data(), matrices, t, 0.125f);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, matrices * t * t, sizeof(float));
}
BENCHMARK(BM_causal_softmax_forward)->Args({32 * 4, 256})->UseRealTime();

void BM_cross_entropy(benchmark::State& state) {
  const index_t rows = state.range(0), vocab = state.range(1);
  const auto logits = random_floats(rows * vocab, 7, -5, 5);
  std::vector<std::int32_t> targets(static_cast<std::size_t>(rows));
  for (index_t r = 0; r < rows; ++r) targets[std::size_t(r)] = std::int32_t((r * 131) % vocab);
  std::vector<float> loss(static_cast<std::size_t>(rows)), lse(loss.size()), g(logits.size(), 0.0f);
  for (auto _ : state) {
    cpu::cross_entropy_forward(logits.data(), targets.data(), loss.data(), lse.data(), rows, vocab);
    cpu::cross_entropy_backward(logits.data(), targets.data(), lse.data(), nullptr,
                                1.0f / float(rows), g.data(), rows, vocab);
    benchmark::DoNotOptimize(g.data());
  }
  set_bytes(state, 4, rows * vocab, sizeof(float));  // logits twice, g read and written
}
BENCHMARK(BM_cross_entropy)->Args({1024, 8192})->UseRealTime();

void BM_layernorm_forward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto x = random_floats(rows * cols, 8), w = random_floats(cols, 9),
             b = random_floats(cols, 10);
  std::vector<float> y(x.size()), mean(static_cast<std::size_t>(rows)), rstd(mean.size());
  for (auto _ : state) {
    cpu::layernorm_forward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows,
                           cols, 1e-5f);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, rows * cols, sizeof(float));
}
BENCHMARK(BM_layernorm_forward)->Args({65536, 256})->UseRealTime();

void BM_layernorm_backward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto x = random_floats(rows * cols, 8), w = random_floats(cols, 9);
  const auto gy = random_floats(rows * cols, 11);
  std::vector<float> mean(static_cast<std::size_t>(rows)), rstd(mean.size()), y(x.size());
  cpu::layernorm_forward<float>(x.data(), w.data(), nullptr, y.data(), mean.data(), rstd.data(),
                                rows, cols, 1e-5f);
  std::vector<float> gx(x.size(), 0.0f), gw(static_cast<std::size_t>(cols), 0.0f),
      gb(gw.size(), 0.0f);
  for (auto _ : state) {
    cpu::layernorm_backward(x.data(), w.data(), mean.data(), rstd.data(), gy.data(), gx.data(),
                            gw.data(), gb.data(), rows, cols);
    benchmark::DoNotOptimize(gx.data());
  }
  set_bytes(state, 4, rows * cols, sizeof(float));  // x, gy, gx read, gx written
}
BENCHMARK(BM_layernorm_backward)->Args({65536, 256})->UseRealTime();

void BM_rmsnorm_forward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto x = random_floats(rows * cols, 8), w = random_floats(cols, 9);
  std::vector<float> y(x.size()), rstd(static_cast<std::size_t>(rows));
  for (auto _ : state) {
    cpu::rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, cols, 1e-6f);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 2, rows * cols, sizeof(float));
}
BENCHMARK(BM_rmsnorm_forward)->Args({65536, 256})->UseRealTime();

void BM_sum_columns(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto x = random_floats(rows * cols, 12);
  std::vector<float> y(static_cast<std::size_t>(cols));
  for (auto _ : state) {
    cpu::sum_axis(x.data(), y.data(), 1, rows, cols);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 1, rows * cols, sizeof(float));
}
BENCHMARK(BM_sum_columns)->Args({65536, 256})->UseRealTime();

// ---------------------------------------------------------------------------------------
// Matrix products

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["FLOP/s"] = benchmark::Counter(flops_per_iteration * double(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

// The FP32 FMA peak that GEMM and the training step are measured against: independent chains
// of vector FMAs on 1 and 2 threads (bench/fma_peak.hpp). FLOP/s sums over the threads.
void BM_fma_peak(benchmark::State& state) {
  constexpr long iterations = 1 << 16;
  constexpr double flops = 16.0 * double(ranklens::cpu::simd_width<float>) * 2.0 * double(iterations);
  for (auto _ : state) benchmark::DoNotOptimize(ranklens::bench::detail::fma_chains(iterations));
  set_flops(state, flops);
}
BENCHMARK(BM_fma_peak)->Threads(1)->Threads(2)->UseRealTime();

void BM_gemm_ranklens(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto a = random_floats(m * k, 1), b = random_floats(k * n, 2);
  std::vector<float> c(static_cast<std::size_t>(m * n));
  for (auto _ : state) {
    cpu::gemm<float>(cpu::transpose::no, cpu::transpose::no, m, n, k, 1.0f, a.data(), k, b.data(),
                     n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(m) * double(n) * double(k));
}
// The thin shapes are a small transformer's (tokens × width): cpu::gemm splits their rows
// (or columns) over the pool (cpu/blas.hpp, choose_product_split); the last three are weight
// gradients.
BENCHMARK(BM_gemm_ranklens)->Args({512, 512, 512})->Args({8192, 256, 256})->Args({8192, 64, 64})->Args({8192, 256, 64})->Args({8192, 64, 256})->Args({64, 64, 8192})->Args({256, 64, 8192})->Args({64, 256, 8192})->UseRealTime();

void BM_gemm_cblas(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  const auto a = random_floats(index_t(m) * k, 1), b = random_floats(index_t(k) * n, 2);
  std::vector<float> c(static_cast<std::size_t>(m) * std::size_t(n));
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n,
                0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(m) * double(n) * double(k));
}
BENCHMARK(BM_gemm_cblas)->Args({512, 512, 512})->Args({8192, 256, 256})->Args({8192, 64, 64})->Args({8192, 256, 64})->Args({8192, 64, 256})->Args({64, 64, 8192})->Args({256, 64, 8192})->Args({64, 256, 8192})->UseRealTime();

// The same thin products with their operands out of cache, as in a training step (whose
// activations do not fit in L2): 64 MiB are written between iterations, outside the timing.
// Args: m, n, k, B transposed (dy·Wᵀ) or not (x·W). ranklens goes through cpu::gemm (the thin
// kernel, cpu/thin_gemm.hpp); cblas is OpenBLAS with its own threads.
template <bool Ours>
void BM_gemm_cold(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  const bool tb = state.range(3) != 0;
  const auto a = random_floats(m * k, 1), b = random_floats(k * n, 2);
  std::vector<float> c(static_cast<std::size_t>(m * n)), flush(std::size_t(16) << 20);
  for (auto _ : state) {
    state.PauseTiming();
    for (float& x : flush) x += 1.0f;
    benchmark::DoNotOptimize(flush.data());
    state.ResumeTiming();
    if constexpr (Ours) {
      cpu::gemm<float>(cpu::transpose::no, tb ? cpu::transpose::yes : cpu::transpose::no, m, n, k, 1.0f, a.data(), k, b.data(),
                       tb ? k : n, 0.0f, c.data(), n);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, a.data(), int(k),
                  b.data(), int(tb ? k : n), 0.0f, c.data(), int(n));
    }
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(m) * double(n) * double(k));
}
// The last four are a Qwen2 d 256 layer's MLP over 1024 tokens (bench_lora_step): gate/up and
// down forward, their input gradients.
#define RANKLENS_COLD_GEMM_SHAPES \
  ->Args({8192, 192, 64, 0})->Args({8192, 64, 64, 0})->Args({8192, 256, 64, 0})->Args({8192, 64, 256, 0}) \
  ->Args({8192, 64, 192, 1})->Args({8192, 64, 64, 1})->Args({8192, 64, 256, 1})->Args({8192, 256, 64, 1}) \
  ->Args({1024, 1024, 256, 0})->Args({1024, 256, 1024, 0})->Args({1024, 256, 1024, 1})->Args({1024, 1024, 256, 1})->UseRealTime()
BENCHMARK(BM_gemm_cold<true>) RANKLENS_COLD_GEMM_SHAPES;
BENCHMARK(BM_gemm_cold<false>) RANKLENS_COLD_GEMM_SHAPES;

// Attention-shaped batches (batch, m, n, k): Q K^T per head. The ranklens version splits
// small products over the thread pool; the loop lets OpenBLAS thread each product.
void BM_batched_ranklens(benchmark::State& state) {
  const index_t batch = state.range(0), m = state.range(1), n = state.range(2), k = state.range(3);
  const auto a = random_floats(batch * m * k, 1), b = random_floats(batch * n * k, 2);
  std::vector<float> c(static_cast<std::size_t>(batch * m * n));
  for (auto _ : state) {
    cpu::gemm_strided_batched<float>(cpu::transpose::no, cpu::transpose::yes, m, n, k, 1.0f,
                                     a.data(), k, b.data(), k, 0.0f, c.data(), n, batch, m * k,
                                     n * k, m * n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(batch) * double(m) * double(n) * double(k));
}

void BM_batched_openblas_loop(benchmark::State& state) {
  const index_t batch = state.range(0), m = state.range(1), n = state.range(2), k = state.range(3);
  const auto a = random_floats(batch * m * k, 1), b = random_floats(batch * n * k, 2);
  std::vector<float> c(static_cast<std::size_t>(batch * m * n));
  for (auto _ : state) {
    for (index_t i = 0; i < batch; ++i)
      cpu::gemm<float>(cpu::transpose::no, cpu::transpose::yes, m, n, k, 1.0f, a.data() + i * m * k,
                       k, b.data() + i * n * k, k, 0.0f, c.data() + i * m * n, n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(batch) * double(m) * double(n) * double(k));
}

#define ATTENTION_SHAPES          \
  ->Args({128, 64, 64, 64})       \
      ->Args({128, 128, 128, 64}) \
      ->Args({128, 256, 256, 64}) \
      ->Args({32, 256, 256, 256}) \
      ->Args({8, 512, 512, 64})   \
      ->UseRealTime()
BENCHMARK(BM_batched_ranklens) ATTENTION_SHAPES;
BENCHMARK(BM_batched_openblas_loop) ATTENTION_SHAPES;

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("openblas_core", cpu::check_openblas_core());
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("ranklens_threads", std::to_string(cpu::num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
