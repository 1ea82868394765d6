// The cost of the autodiff layer on top of the kernels: ranklens ops (forward, and forward +
// backward) against the raw kernel calls they wrap; and gradient clipping's passes.
// Run: build/bench/bench_ops (scripts/bench.sh sets the fastest OpenBLAS kernels for the CPU).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/core/distributions.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/ops/causal_softmax.hpp"
#include "ranklens/ops/fused_causal_attention.hpp"
#include "ranklens/ops/low_rank_affine.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/normalization.hpp"
#include "ranklens/ops/softmax.hpp"
#include "ranklens/ops/views.hpp"
#include "ranklens/optim/clip_grad_norm.hpp"

using namespace ranklens;

namespace {

template <ShapeType S>
Tensor<float, S> random_floats(const S& shape, unsigned seed) {
  Tensor<float, S> t(shape);
  std::mt19937 rng(seed);
  for (auto& v : t.span()) v = uniform<float>(rng, -1, 1);
  return t;
}

void set_gemm_counters(benchmark::State& state, double m, double n, double k, double passes) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2 * m * n * k * passes * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// (m, k) x (k, n) through cblas_sgemm directly: the ceiling for matmul.
void raw_sgemm(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  auto a = random_floats(Shape<dyn, dyn>{m, k}, 1);
  auto b = random_floats(Shape<dyn, dyn>{k, n}, 2);
  Tensor<float, Shape<dyn, dyn>> c(Shape<dyn, dyn>{m, n});
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, a.data(), int(k), b.data(), int(n), 0.0f,
                c.data(), int(n));
    benchmark::DoNotOptimize(c.data());
  }
  set_gemm_counters(state, double(m), double(n), double(k), 1);
}

// The same product as a ranklens op: shape checks, arena allocation, layout analysis.
void matmul_forward(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  auto a = random_floats(Shape<dyn, dyn>{m, k}, 1);
  auto b = random_floats(Shape<dyn, dyn>{k, n}, 2);
  for (auto _ : state) {
    auto step = tape();
    auto guard = no_grad();
    auto c = matmul(constant(a), constant(b));
    benchmark::DoNotOptimize(c.value().data());
  }
  set_gemm_counters(state, double(m), double(n), double(k), 1);
}

// Forward and backward (dA and dB: three GEMMs in all) of a Linear-style x·Wᵀ.
void matmul_forward_backward(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  auto x = random_floats(Shape<dyn, dyn>{m, k}, 1);
  auto w = random_floats(Shape<dyn, dyn>{n, k}, 2);
  auto seed = random_floats(Shape<dyn, dyn>{m, n}, 3);
  for (auto _ : state) {
    auto step = tape();
    auto xv = variable(x);
    auto wv = variable(w);
    backward(matmul(xv, transpose(wv)), seed.view());
    benchmark::DoNotOptimize(wv.grad().data());
  }
  set_gemm_counters(state, double(m), double(n), double(k), 3);
}

void softmax_forward_backward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  auto x = random_floats(Shape<dyn, dyn>{rows, cols}, 4);
  auto seed = random_floats(Shape<dyn, dyn>{rows, cols}, 5);
  for (auto _ : state) {
    auto step = tape();
    auto xv = variable(x);
    backward(softmax(xv), seed.view());
    benchmark::DoNotOptimize(xv.grad().data());
  }
  // forward reads x, writes y; backward reads y, gy and gx, writes gx
  state.SetBytesProcessed(state.iterations() * rows * cols * int64_t(sizeof(float)) * 6);
}

void layer_norm_forward(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  auto x = random_floats(Shape<dyn, dyn>{rows, cols}, 6);
  auto w = random_floats(Shape<dyn>{cols}, 7);
  auto b = random_floats(Shape<dyn>{cols}, 8);
  for (auto _ : state) {
    auto step = tape();
    auto guard = no_grad();
    auto y = layer_norm(constant(x), constant(w), constant(b));
    benchmark::DoNotOptimize(y.value().data());
  }
  state.SetBytesProcessed(state.iterations() * rows * cols * int64_t(sizeof(float)) * 2);
}

// Causal attention forward and backward for (batch 32, 256 positions, 4 heads, head_dim), as in
// the GPT training-step benchmark: the fused op against scores and pattern materialised
// (Q·Kᵀ, causal_softmax, P·V on permuted heads, the path attention takes under a pattern hook).
template <bool Fused>
void causal_attention_forward_backward(benchmark::State& state) {
  using Heads = Shape<dyn, dyn, dyn, dyn>;
  const index_t head_dim = state.range(0);
  const Heads shape{32, 256, 4, head_dim};
  auto q = random_floats(shape, 9), k = random_floats(shape, 10), v = random_floats(shape, 11), seed = random_floats(shape, 12);
  const float scale = 1.0f / std::sqrt(float(head_dim));
  for (auto _ : state) {
    auto step = tape();
    auto qv = variable(q), kv = variable(k), vv = variable(v);
    if constexpr (Fused) {
      backward(fused_causal_attention(qv, kv, vv, scale), seed.view());
    } else {
      const auto pattern = causal_softmax(matmul(permute<0, 2, 1, 3>(qv), transpose(permute<0, 2, 1, 3>(kv))), scale);
      backward(permute<0, 2, 1, 3>(matmul(pattern, permute<0, 2, 1, 3>(vv))), seed.view());
    }
    benchmark::DoNotOptimize(kv.grad().data());
  }
}

// A frozen Linear layer (x·Wᵀ + b) with a rank-1 LoRA adapter, forward and backward (dx, dA,
// dB; no dW), for 1024 tokens: as one op, the adapter's term added inside the layer's products
// (low_rank_affine), against two ops, the layer then low_rank_update, which read and write y and
// dx once more. Each iteration runs both, one after the other, so that the machine's drifting
// speed falls on both alike; the counters are their median times and one_op / two_ops.
void lora_layer_one_op_vs_two(benchmark::State& state) {
  const index_t rows = 1024, in = state.range(0), out = state.range(1);
  const bool with_bias = state.range(2) != 0;
  auto x = random_floats(Shape<dyn, dyn>{rows, in}, 13);
  auto w = random_floats(Shape<dyn, dyn>{out, in}, 14);
  auto bias = random_floats(Shape<dyn>{out}, 15);
  auto a = random_floats(Shape<1, dyn>{in}, 16);
  auto b = random_floats(Shape<dyn, 1>{out}, 17);
  auto seed = random_floats(Shape<dyn, dyn>{rows, out}, 18);
  const auto run = [&](bool one_op) {
    const auto start = std::chrono::steady_clock::now();
    auto step = tape();
    auto xv = variable(x);
    auto av = variable(a);
    auto bv = variable(b);
    const auto wt = transpose(constant(w));
    const std::optional<Var<float, Shape<dyn>>> bias_v = with_bias ? std::optional(constant(bias)) : std::nullopt;
    if (one_op) {
      backward(low_rank_affine(xv, wt, bias_v, av, bv, 2.0f).output, seed.view());
    } else {
      const auto base = with_bias ? matmul_bias(xv, wt, *bias_v) : matmul(xv, wt);
      backward(low_rank_update(base, xv, av, bv, 2.0f).output, seed.view());
    }
    benchmark::DoNotOptimize(av.grad().data());
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<double> one, two;
  for (auto _ : state) {
    two.push_back(run(false));
    one.push_back(run(true));
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  state.counters["two_ops_us"] = median(two);
  state.counters["one_op_us"] = median(one);
  state.counters["one_op/two_ops"] = median(one) / std::max(median(two), 1e-9);
}

// Global-norm clipping of three float gradients (8M, 4M and 1 elements: 48 MB, past the caches).
// Arg 0: clip_grad_norm (the host form train_step uses), each call's limit 0.999 of the last norm
// so that every call scales (and thousands of calls stay clear of subnormal numbers); arg 1: clip_grad_norm_into the same way; arg 2: clip_grad_norm_into
// under the limit (a coefficient of 1: the gradients are read once, for the norm). GB/s counts
// the bytes each form must move: one read, or two reads and a write.
void clip_gradients(benchmark::State& state) {
  const int form = int(state.range(0));
  std::vector<Parameter<float, Shape<dyn>>> params;
  std::mt19937 rng(1);
  for (index_t n : {index_t(8) << 20, index_t(4) << 20, index_t(1)}) {
    params.emplace_back(Tensor<float, Shape<dyn>>(Shape<dyn>{n}), "p");
    params.back().gradient_buffer() = Tensor<float, Shape<dyn>>(Shape<dyn>{n});
    for (auto& v : params.back().grad().span()) v = uniform<float>(rng, -1, 1);
  }
  ParameterList refs;
  double bytes = 0;
  for (auto& p : params) {
    refs.push_back(p.ref());
    bytes += double(p.grad().numel()) * sizeof(float);
  }
  Tensor<float, Shape<>> norm(Shape<>{});
  const double shrink = 0.999;
  double limit = clip_grad_norm(refs, 1e30) * shrink;
  for (auto _ : state) {
    if (form == 0) {
      limit = clip_grad_norm(refs, limit) * shrink;
    } else {
      clip_grad_norm_into(refs, form == 1 ? limit : 1e30, norm);
      if (form == 1) limit = norm.data()[0] * shrink;
    }
  }
  state.counters["GB/s"] = benchmark::Counter(bytes * (form == 2 ? 1 : 3) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(causal_attention_forward_backward<true>)->Arg(16)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(causal_attention_forward_backward<false>)->Arg(16)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(raw_sgemm)->Args({512, 512, 512})->Args({8192, 256, 256})->Args({8192, 768, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(matmul_forward)->Args({512, 512, 512})->Args({8192, 256, 256})->Args({8192, 768, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(matmul_forward_backward)->Args({8192, 256, 256})->Args({8192, 768, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
// A Qwen2 layer's projections at d 256 (q with its bias, o, gate, down) and d 128 (up, down).
#define LORA_LAYER_SHAPES Args({256, 256, 1})->Args({256, 256, 0})->Args({256, 1024, 0})->Args({1024, 256, 0})->Args({128, 512, 0})->Args({512, 128, 0})
BENCHMARK(lora_layer_one_op_vs_two)->LORA_LAYER_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(softmax_forward_backward)->Args({32 * 4 * 256, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(layer_norm_forward)->Args({65536, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(clip_gradients)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) {
  std::printf("OpenBLAS core: %s\n", cpu::check_openblas_core().c_str());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
