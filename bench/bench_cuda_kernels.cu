// Kernel-level GPU benchmark of the CUDA backend at the training-step shapes of
// bench/bench_gpt_step.cpp's models (B32 T256, d 64/128/256, 4 heads, vocab 64, fp32), at GPT-2
// medium's shape for the big products, attention and the loss (B16 T1024, d 1024, 16 heads, vocab
// 50304, bf16 and fp32), and at the adapter's and the sparse autoencoder's shapes.
//
// Prints one CSV row per case: op, dtype, params (space-separated key=value, enough to rebuild
// the case), microseconds (median over trials of the mean of `reps` back-to-back launches between
// two CUDA events, after warm-up), and the FLOPs and the fewest bytes the case must move.
// bench/pytorch_cuda_kernels.py reads these rows, times the same cases with PyTorch and writes the
// comparison table; scripts/gpu_check.sh runs both. The first rows measure today's ceilings on
// this card: a device-to-device copy (bytes read plus written) and an 8192³ bf16 cuBLAS product.
//
//   bench_cuda_kernels [--quick] > ours.csv
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ranklens/cuda/kernels.cuh"

using namespace ranklens;
using cuda::bfloat16;
using ranklens::grad_write;
using cpu::transpose;

namespace {

bool quick = false;

// x[i] = a deterministic value in [lo, hi) from a hash of (i, seed): no host arrays to upload.
template <class T>
__global__ void fill_random_kernel(T* x, index_t n, std::uint32_t seed, float lo, float hi) {
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
    std::uint32_t h = std::uint32_t(i) * 0x9E3779B1u ^ seed * 0x85EBCA77u ^ std::uint32_t(i >> 32) * 0xC2B2AE3Du;
    h ^= h >> 15, h *= 0x2C1B3C6Du, h ^= h >> 12, h *= 0x297A2D39u, h ^= h >> 15;
    x[i] = cuda::from_float<T>(lo + (hi - lo) * float(h >> 8) * (1.0f / 16777216.0f));
  }
}

template <class T>
struct device_array {
  cuda::device_buffer<T> buffer;
  device_array(index_t n, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) : buffer(n) {
    cuda::launch("fill_random", fill_random_kernel<T>, cuda::launch_shape{dim3(std::min<unsigned>(cuda::blocks_for(n, 256), 65535u)), dim3(256)},
                 buffer.data(), n, seed, lo, hi);
  }
  T* data() { return buffer.data(); }
};

__global__ void fill_targets_kernel(std::int32_t* t, index_t n, std::int32_t vocab) {
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
    t[i] = std::int32_t((std::uint64_t(i) * 2654435761u) % std::uint64_t(vocab));
}
cuda::device_buffer<std::int32_t> targets(index_t n, index_t vocab) {
  cuda::device_buffer<std::int32_t> t(n);
  cuda::launch("fill_targets", fill_targets_kernel, cuda::launch_shape{dim3(std::min<unsigned>(cuda::blocks_for(n, 256), 65535u)), dim3(256)},
               t.data(), n, std::int32_t(vocab));
  return t;
}

// Median over trials of the mean time of `reps` back-to-back calls, in microseconds.
double time_us(const std::function<void()>& launches) {
  const int warm_up = 3, reps = quick ? 5 : 20, trials = quick ? 3 : 7;
  for (int i = 0; i < warm_up; ++i) launches();
  cuda::synchronize();
  cudaEvent_t start = cuda::runtime::create_event(), stop = cuda::runtime::create_event();
  std::vector<double> per_call;
  for (int t = 0; t < trials; ++t) {
    cuda::runtime::record_event(start, cuda::current_stream());
    for (int r = 0; r < reps; ++r) launches();
    cuda::runtime::record_event(stop, cuda::current_stream());
    cuda::runtime::synchronize_event(stop);
    per_call.push_back(1000.0 * cuda::runtime::elapsed_ms(start, stop) / reps);
  }
  cuda::runtime::destroy_event(start);
  cuda::runtime::destroy_event(stop);
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

template <class T>
const char* dtype() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}

void row(const std::string& op, const char* type, const std::string& params, double us, double flops, double bytes) {
  std::printf("%s,%s,%s,%.3f,%.6e,%.6e\n", op.c_str(), type, params.c_str(), us, flops, bytes);
  std::fflush(stdout);
}

std::string kv(const char* key, index_t value) { return std::string(key) + "=" + std::to_string(value) + " "; }
std::string trimmed(std::string s) {
  if (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// ------------------------------------------------------------------------------------------
// Cases

void ceilings() {
  const index_t bytes = quick ? (index_t(1) << 28) : (index_t(1) << 31);
  cuda::device_buffer<std::byte> a(bytes), b(bytes);
  const double us = time_us([&] { cuda::runtime::copy_async(b.data(), a.data(), std::size_t(bytes), cuda::current_stream(), "copy"); });
  row("copy", "u8", trimmed(kv("bytes", bytes)), us, 0, 2.0 * double(bytes));
  const index_t n = quick ? 4096 : 8192;
  device_array<bfloat16> x(n * n, 1), y(n * n, 2), z(n * n, 3);
  const double gemm_us =
      time_us([&] { cuda::gemm<bfloat16>(transpose::no, transpose::no, n, n, n, 1.0f, x.data(), n, y.data(), n, 0.0f, z.data(), n); });
  row("gemm", "bf16", trimmed(kv("m", n) + kv("n", n) + kv("k", n) + "ta=N tb=N"), gemm_us, 2.0 * double(n) * n * n, 3.0 * 2 * double(n) * n);
}

template <class T>
void gemm_case(index_t m, index_t n, index_t k, transpose ta, transpose tb) {
  device_array<T> a(m * k, 10), b(k * n, 11), c(m * n, 12);
  const index_t lda = ta == transpose::no ? k : m, ldb = tb == transpose::no ? n : k;
  const double us = time_us([&] { cuda::gemm<T>(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n); });
  const std::string params = kv("m", m) + kv("n", n) + kv("k", k) + "ta=" + (ta == transpose::yes ? "T" : "N") + " tb=" +
                             (tb == transpose::yes ? "T" : "N");
  row("gemm", dtype<T>(), params, us, 2.0 * double(m) * n * k, double(sizeof(T)) * double(m * k + k * n + m * n));
}

template <class T>
void gemm_bias_case(index_t m, index_t n, index_t k) {
  device_array<T> a(m * k, 13), b(k * n, 14), bias(n, 15), c(m * n, 16);
  const double us = time_us([&] { cuda::gemm_plus_bias<T>(transpose::no, m, n, k, a.data(), k, b.data(), n, bias.data(), c.data(), n); });
  row("gemm_bias", dtype<T>(), trimmed(kv("m", m) + kv("n", n) + kv("k", k)), us, 2.0 * double(m) * n * k,
      double(sizeof(T)) * double(m * k + k * n + m * n + n));
}

template <class T>
void layernorm_cases(index_t rows, index_t cols) {
  device_array<T> x(rows * cols, 20), w(cols, 21, 0.5f, 1.5f), b(cols, 22), y(rows * cols, 23), gy(rows * cols, 24), gx(rows * cols, 25);
  device_array<T> gw(cols, 26), gb(cols, 27);
  cuda::device_buffer<float> mean(rows), rstd(rows);
  const std::string params = trimmed(kv("rows", rows) + kv("cols", cols));
  const double elements = double(rows * cols);
  row("layernorm_fwd", dtype<T>(), params,
      time_us([&] { cuda::layernorm_forward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, cols, 1e-5f); }), 0,
      2 * elements * sizeof(T));
  row("layernorm_bwd", dtype<T>(), params, time_us([&] {
        cuda::layernorm_backward(x.data(), w.data(), mean.data(), rstd.data(), gy.data(), gx.data(), gw.data(), gb.data(), rows, cols,
                                 grad_write::store);
      }),
      0, 3 * elements * sizeof(T));
}

template <class T>
void gelu_cases(index_t n) {
  device_array<T> x(n, 30, -3.0f, 3.0f), y(n, 31), gy(n, 32), gx(n, 33);
  const std::string params = trimmed(kv("n", n));
  row("gelu_tanh_fwd", dtype<T>(), params, time_us([&] { cuda::unary_forward<cuda::gelu_tanh_op>(x.data(), y.data(), n); }), 0,
      2.0 * n * sizeof(T));
  row("gelu_tanh_bwd", dtype<T>(), params,
      time_us([&] { cuda::unary_backward<cuda::gelu_tanh_op>(x.data(), nullptr, gy.data(), gx.data(), n, grad_write::store); }), 0,
      3.0 * n * sizeof(T));
}

// Causal attention with the kernels `which` picks (automatic: the tensor cores for bf16 at head
// dims 64 and 128); a row for the CUDA-core kernels carries "kernels=cuda_cores" in its params.
template <class T>
void attention_cases(index_t batch, index_t t, index_t heads, index_t d,
                     cuda::attention_kernels which = cuda::attention_kernels::automatic) {
  const cpu::attention_extents e{batch, t, t, heads, heads, d};
  const cpu::attention_strides s{t * heads * d, heads * d, d};
  const index_t n = batch * t * heads * d;
  device_array<T> q(n, 40), k(n, 41), v(n, 42), z(n, 43), dz(n, 44), dq(n, 45), dk(n, 46), dv(n, 47);
  cuda::device_buffer<float> lse(batch * heads * t);
  const float scale = 1.0f / std::sqrt(float(d));
  const double flops = 4.0 * double(batch) * heads * double(t) * t * d / 2;  // causal: half the square
  const std::string params = trimmed(kv("b", batch) + kv("t", t) + kv("h", heads) + kv("d", d) +
                                     (which == cuda::attention_kernels::cuda_cores ? "kernels=cuda_cores" : ""));
  row("attention_fwd", dtype<T>(), params,
      time_us([&] { cuda::causal_attention_forward(e, q.data(), s, k.data(), s, v.data(), s, z.data(), lse.data(), scale, which); }),
      flops, 4.0 * n * sizeof(T));
  cuda::causal_attention_forward(e, q.data(), s, k.data(), s, v.data(), s, z.data(), lse.data(), scale, which);
  // FLOPs of FlashAttention-2's backward (2.5 times the forward's); ours recomputes P and dP in
  // both backward kernels, 3.5 times the forward's.
  row("attention_bwd", dtype<T>(), params, time_us([&] {
        cuda::causal_attention_backward(e, q.data(), s, k.data(), s, v.data(), s, z.data(), lse.data(), dz.data(), dq.data(), dk.data(),
                                        dv.data(), scale, which);
      }),
      2.5 * flops, 8.0 * n * sizeof(T));
}

template <class T>
void cross_entropy_cases(index_t rows, index_t vocab) {
  device_array<T> logits(rows * vocab, 50, -4.0f, 4.0f), glogits(rows * vocab, 51), loss(rows, 52);
  auto t = targets(rows, vocab);
  cuda::device_buffer<float> lse(rows);
  const std::string params = trimmed(kv("rows", rows) + kv("vocab", vocab));
  row("cross_entropy_fwd", dtype<T>(), params,
      time_us([&] { cuda::cross_entropy_forward(logits.data(), t.data(), loss.data(), lse.data(), rows, vocab); }), 0,
      double(rows) * vocab * sizeof(T));
  row("cross_entropy_bwd", dtype<T>(), params, time_us([&] {
        cuda::cross_entropy_backward(logits.data(), t.data(), lse.data(), nullptr, 1.0f / float(rows), glogits.data(), rows, vocab);
      }),
      0, 3.0 * rows * vocab * sizeof(T));
}

template <class T>
void embedding_cases(index_t count, index_t vocab, index_t width) {
  device_array<T> w(vocab * width, 60), y(count * width, 61), gy(count * width, 62), gw(vocab * width, 63);
  auto ids = targets(count, vocab);
  const std::string params = trimmed(kv("count", count) + kv("vocab", vocab) + kv("width", width));
  row("embedding_fwd", dtype<T>(), params, time_us([&] { cuda::embedding_forward(w.data(), ids.data(), y.data(), count, vocab, width); }),
      0, 2.0 * count * width * sizeof(T));
  row("embedding_bwd", dtype<T>(), params, time_us([&] { cuda::embedding_backward(ids.data(), gy.data(), gw.data(), count, width); }), 0,
      2.0 * count * width * sizeof(T));
}

template <class T>
void column_sum_case(index_t rows, index_t cols) {
  device_array<T> dy(rows * cols, 70), gb(cols, 71);
  row("bias_grad", dtype<T>(), trimmed(kv("rows", rows) + kv("cols", cols)),
      time_us([&] { cuda::add_column_sums(dy.data(), gb.data(), rows, cols); }), 0, double(rows) * cols * sizeof(T));
}

void adamw_case(index_t n) {
  device_array<float> value(n, 80), grad(n, 81), m(n, 82), v(n, 83, 0.0f, 1.0f);
  const cpu::adamw_coefficients<float> c{0.99999f, 0.9f, 0.999f, 1e-3f, 1.0f, 1e-8f};
  row("adamw", "fp32", trimmed(kv("n", n)), time_us([&] { cuda::adamw_update(value.data(), grad.data(), m.data(), v.data(), n, c); }), 0,
      7.0 * n * sizeof(float));
}

template <class T>
void rope_cases(index_t batch, index_t t, index_t heads, index_t d) {
  const index_t rows = batch * t * heads, n = rows * d;
  device_array<T> x(n, 90), y(n, 91);
  cuda::device_buffer<float> cos(t * d / 2), sin(t * d / 2);
  cuda::rope_tables(t, d, 1e4, 0, cos.data(), sin.data());
  const std::string params = trimmed(kv("b", batch) + kv("t", t) + kv("h", heads) + kv("d", d));
  row("rope_fwd", dtype<T>(), params, time_us([&] { cuda::rope_forward(x.data(), cos.data(), sin.data(), y.data(), rows, d, t, heads); }), 0,
      2.0 * n * sizeof(T));
  row("rope_bwd", dtype<T>(), params, time_us([&] {
        cuda::rope_backward(y.data(), cos.data(), sin.data(), x.data(), rows, d, t, heads, grad_write::store);
      }),
      0, 2.0 * n * sizeof(T));
}

template <class T>
void low_rank_cases(index_t rows, index_t in, index_t out, index_t rank) {
  device_array<T> x(rows * in, 100), a(rank * in, 101), b(out * rank, 102), y(rows * out, 103), gy(rows * out, 104), gx(rows * in, 105);
  device_array<T> ga(rank * in, 106), gb(out * rank, 107);
  cuda::device_buffer<float> h(rows * rank);
  const std::string params = trimmed(kv("rows", rows) + kv("in", in) + kv("out", out) + kv("rank", rank));
  const double flops = 2.0 * rows * rank * (in + out);
  row("lora_fwd", dtype<T>(), params,
      time_us([&] { cuda::low_rank_forward(x.data(), a.data(), b.data(), h.data(), y.data(), rows, in, out, rank, 2.0f); }), flops,
      double(sizeof(T)) * (rows * in + 2.0 * rows * out));
  row("lora_bwd", dtype<T>(), params, time_us([&] {
        cuda::low_rank_backward(x.data(), a.data(), b.data(), h.data(), gy.data(), gx.data(), grad_write::add, ga.data(), gb.data(), rows,
                                in, out, rank, 2.0f);
      }),
      2 * flops, double(sizeof(T)) * (2.0 * rows * in + 2.0 * rows * out));
}

void sae_cases(index_t rows, index_t d_in, index_t d_sae, index_t k) {
  device_array<float> pre(rows * d_sae, 110), values(rows * k, 111, 0.0f, 1.0f), w(d_sae * d_in, 112), b(d_in, 113);
  device_array<float> y(rows * d_in, 114), gy(rows * d_in, 115), gvalues(rows * k, 116), gw(d_sae * d_in, 117), gb(d_in, 118);
  cuda::device_buffer<std::int32_t> indices(rows * k);
  cuda::topk_rows(pre.data(), values.data(), indices.data(), rows, d_sae, k);
  const std::string params = trimmed(kv("rows", rows) + kv("d_in", d_in) + kv("d_sae", d_sae) + kv("k", k));
  row("topk", "fp32", params, time_us([&] { cuda::topk_rows(pre.data(), values.data(), indices.data(), rows, d_sae, k); }), 0,
      double(rows) * d_sae * sizeof(float));
  row("sparse_decoder_fwd", "fp32", params, time_us([&] {
        cuda::sparse_decoder_forward(values.data(), indices.data(), w.data(), b.data(), y.data(), rows, k, d_in);
      }),
      2.0 * rows * k * d_in, double(sizeof(float)) * (rows * k * d_in + rows * d_in));
  row("sparse_decoder_bwd", "fp32", params, time_us([&] {
        cuda::sparse_decoder_backward(values.data(), indices.data(), w.data(), gy.data(), gvalues.data(), gw.data(), gb.data(), rows, k,
                                      d_in, grad_write::store);
      }),
      4.0 * rows * k * d_in, double(sizeof(float)) * (3.0 * rows * k * d_in + rows * d_in));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  if (!cuda::device_available()) {
    std::fprintf(stderr, "bench_cuda_kernels: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp properties{};
  cuda::check(cudaGetDeviceProperties(&properties, 0), "cudaGetDeviceProperties");
  std::printf("# device: %s, %d multiprocessors, %.0f MB L2\n", properties.name, properties.multiProcessorCount,
              properties.l2CacheSize / 1048576.0);
  std::printf("op,dtype,params,us,flops,bytes\n");
  try {
    ceilings();
    // The small models of bench_gpt_step.cpp: B32 T256, 4 layers, 4 heads, vocab 64, MLP 4d, fp32.
    const index_t batch = 32, context = 256, tokens = batch * context, heads = 4, vocab = 64;
    for (index_t d : {64, 128, 256}) {
      gemm_case<float>(tokens, 3 * d, d, transpose::no, transpose::no);
      gemm_case<float>(tokens, 4 * d, d, transpose::no, transpose::no);
      gemm_case<float>(tokens, d, 4 * d, transpose::no, transpose::no);
      gemm_case<float>(tokens, 4 * d, d, transpose::no, transpose::yes);  // dx = dy·Wᵀ
      gemm_case<float>(d, 4 * d, tokens, transpose::yes, transpose::no);  // dW = xᵀ·dy
      gemm_bias_case<float>(tokens, 4 * d, d);
      layernorm_cases<float>(tokens, d);
      gelu_cases<float>(tokens * 4 * d);
      attention_cases<float>(batch, context, heads, d / heads);
      cross_entropy_cases<float>(tokens, vocab);
      embedding_cases<float>(tokens, vocab, d);
      column_sum_case<float>(tokens, 4 * d);
      adamw_case(4 * (12 * d * d + 13 * d) + (vocab + context) * d + 2 * d);
      if (d == 128) rope_cases<float>(batch, context, heads, d / heads);
    }
    // GPT-2 medium's shape: B16 T1024, d 1024, 16 heads, vocab 50304.
    const index_t big_batch = quick ? 4 : 16, big_context = 1024, big_tokens = big_batch * big_context, d = 1024, big_heads = 16;
    const index_t big_vocab = 50304;
    gemm_case<bfloat16>(big_tokens, 3 * d, d, transpose::no, transpose::no);
    gemm_case<bfloat16>(big_tokens, 4 * d, d, transpose::no, transpose::no);
    gemm_case<bfloat16>(big_tokens, d, 4 * d, transpose::no, transpose::no);
    gemm_case<bfloat16>(d, 4 * d, big_tokens, transpose::yes, transpose::no);
    gemm_case<bfloat16>(big_tokens, big_vocab, d, transpose::no, transpose::yes);  // logits = x·Wteᵀ
    gemm_case<float>(big_tokens, 4 * d, d, transpose::no, transpose::no);
    attention_cases<bfloat16>(big_batch, big_context, big_heads, d / big_heads);
    attention_cases<bfloat16>(big_batch, big_context, big_heads, d / big_heads, cuda::attention_kernels::cuda_cores);
    attention_cases<bfloat16>(big_batch, big_context, big_heads / 2, 2 * d / big_heads);  // head_dim 128
    attention_cases<float>(big_batch, big_context, big_heads, d / big_heads);
    layernorm_cases<bfloat16>(big_tokens, d);
    gelu_cases<bfloat16>(big_tokens * 4 * d);
    cross_entropy_cases<bfloat16>(big_tokens, big_vocab);
    rope_cases<bfloat16>(big_batch, big_context, big_heads, d / big_heads);
    // A rank-1 and a rank-16 adapter on a Qwen2.5-0.5B projection (896 wide), B4 T1024, bf16.
    for (index_t rank : {1, 16}) low_rank_cases<bfloat16>(4096, 896, 896, rank);
    // The sparse autoencoder: 448 → 3584 (k 16) and 2304 → 18432 (k 32), 4096 tokens, fp32.
    sae_cases(4096, 448, 3584, 16);
    sae_cases(4096, 2304, 18432, 32);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_cuda_kernels: %s\n", error.what());
    return 1;
  }
  return 0;
}
