// Parity of the CUDA products with the CPU: GEMM through cuBLAS and cuBLASLt, causal attention,
// the low-rank adapter path, TopK and the sparse decoder (harness: parity.hpp).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>

#include "parity.hpp"
#include "ranklens/cuda/blas.cuh"
#include "ranklens/cuda/causal_attention.cuh"
#include "ranklens/cuda/low_rank.cuh"
#include "ranklens/cuda/sparse_decoder.cuh"
#include "ranklens/cuda/topk.cuh"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace ref = ranklens::test::reference;
using ranklens::grad_write;
using cpu::transpose;

namespace {

template <class Body>
void for_float_and_bf16(Body&& body) {
  body.template operator()<float>();
  body.template operator()<bfloat16>();
}

const char* name_of(transpose t) { return t == transpose::yes ? "T" : "N"; }

}  // namespace

TEST_CASE("CUDA gemm matches the CPU for every transpose, padded leading dimensions, alpha and beta", "[cuda][blas]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  struct shape {
    index_t m, n, k;
  };
  for (shape s : {shape{1, 1, 1}, shape{37, 29, 13}, shape{129, 67, 257}, shape{sized(1024, 96), sized(768, 80), sized(512, 72)}, shape{5, 7, 0}})
    for (transpose ta : {transpose::no, transpose::yes})
      for (transpose tb : {transpose::no, transpose::yes})
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{-0.5f, 2.0f}}) {
          for_float_and_bf16([&]<class T>() {
            const index_t lda = (ta == transpose::no ? s.k : s.m) + 3, ldb = (tb == transpose::no ? s.n : s.k) + 1, ldc = s.n + 2;
            const index_t a_rows = ta == transpose::no ? s.m : s.k, b_rows = tb == transpose::no ? s.k : s.n;
            twin<T> a(random_values(a_rows * lda, 1)), b(random_values(b_rows * ldb, 2));
            // beta = 0 must not read C: it starts as NaN then.
            twin<T> c = beta == 0.0f ? twin<T>(s.m * ldc) : twin<T>(random_values(s.m * ldc, 3));
            std::vector<float> want = c.host;
            cuda::gemm<T>(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
            ref::gemm(ta, tb, s.m, s.n, s.k, alpha, a.cpu(), lda, b.cpu(), ldb, beta, want.data(), ldc);
            // Only the (m, n) block: the padding stays as it was on both sides (NaN when beta = 0).
            std::vector<float> got_block, want_block;
            const std::vector<float> got = c.download();
            for (index_t i = 0; i < s.m; ++i)
              for (index_t j = 0; j < s.n; ++j) got_block.push_back(got[i * ldc + j]), want_block.push_back(want[i * ldc + j]);
            check_close("gemm " + std::string(name_of(ta)) + name_of(tb) + " (" + std::to_string(s.m) + ", " + std::to_string(s.n) + ", " +
                            std::to_string(s.k) + ") alpha " + std::to_string(alpha) + " beta " + std::to_string(beta) + " (" +
                            type_name<T>() + ")",
                        got_block, want_block, tolerance<T>);
          });
        }
  twin<float> a(4), c(4);
  REQUIRE_THROWS_AS(cuda::gemm<float>(transpose::no, transpose::no, 2, 2, 2, 1.0f, a.data(), 1, a.data(), 2, 0.0f, c.data(), 2),
                    shape_error);
}

TEST_CASE("CUDA strided batched gemm matches the CPU, a zero stride reusing one operand", "[cuda][blas]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t m = 33, n = 17, k = 65, batch = 5;
  for_float_and_bf16([&]<class T>() {
    for (index_t stride_b : {index_t(0), k * n}) {
      twin<T> a(random_values(batch * m * k, 10)), b(random_values(batch * k * n, 11)), c(random_values(batch * m * n, 12));
      std::vector<float> want = c.host;
      cuda::gemm_strided_batched<T>(transpose::no, transpose::yes, m, n, k, 0.75f, a.data(), k, b.data(), k, 1.0f, c.data(), n, batch,
                                    m * k, stride_b, m * n);
      ref::gemm_strided_batched(transpose::no, transpose::yes, m, n, k, 0.75f, a.cpu(), k, b.cpu(), k, 1.0f, want.data(), n, batch, m * k,
                                stride_b, m * n);
      check_close("gemm_strided_batched stride_b=" + std::to_string(stride_b), c, want);
    }
  });
}

TEST_CASE("CUDA gemm_plus_bias and fill_rows match the CPU", "[cuda][blas]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  struct shape {
    index_t m, n, k;
  };
  for (shape s : {shape{37, 29, 13}, shape{sized(8192, 300), 256, 64}, shape{sized(8192, 300), 64, 256}, shape{3, 5, 0}})
    for (transpose tb : {transpose::no, transpose::yes})
      for_float_and_bf16([&]<class T>() {
        const index_t ldb = tb == transpose::no ? s.n : s.k;
        twin<T> a(random_values(s.m * s.k, 20)), b(random_values(std::max<index_t>(1, s.k * s.n), 21)), bias(random_values(s.n, 22));
        twin<T> c(s.m * s.n);
        std::vector<float> want(s.m * s.n);
        cuda::gemm_plus_bias<T>(tb, s.m, s.n, s.k, a.data(), std::max<index_t>(1, s.k), b.data(), std::max<index_t>(1, ldb), bias.data(),
                                c.data(), s.n);
        ref::gemm_plus_bias(tb, s.m, s.n, s.k, a.cpu(), std::max<index_t>(1, s.k), b.cpu(), std::max<index_t>(1, ldb), bias.cpu(),
                            want.data(), s.n);
        check_close("gemm_plus_bias " + std::string(name_of(tb)) + " (" + std::to_string(s.m) + ", " + std::to_string(s.n) + ", " +
                        std::to_string(s.k) + ")",
                    c, want);
        if (std::is_same_v<T, float> && s.m > 1000)
          report_timing("gemm_plus_bias (" + std::to_string(s.m) + ", " + std::to_string(s.n) + ", " + std::to_string(s.k) + ")", [&] {
            cuda::gemm_plus_bias<T>(tb, s.m, s.n, s.k, a.data(), s.k, b.data(), ldb, bias.data(), c.data(), s.n);
          });
      });
  for_float_and_bf16([&]<class T>() {
    const index_t rows = 7, cols = 5, ldy = 9;
    twin<T> b(random_values(cols, 23)), y(random_values(rows * ldy, 24));
    std::vector<float> want = y.host;
    cuda::fill_rows(b.data(), y.data(), rows, cols, ldy);
    ref::fill_rows(b.cpu(), want.data(), rows, cols, ldy);
    check_close("fill_rows", y, want);
  });
}

namespace {

struct attention_case {
  cpu::attention_extents e;
  bool fused;               // q, k, v read from one (B, T, 3, H, D) projection, as GPT-2's c_attn gives them
  index_t pad = 0;          // extra elements after each position of q, k and v (not fused)
  bool every_kernel = true;  // false: under the emulation only bf16 on the tensor cores (or its fallback), to save time
};

const char* name_of(cuda::attention_kernels which) {
  switch (which) {
    case cuda::attention_kernels::cuda_cores: return ", CUDA cores";
    case cuda::attention_kernels::tensor_cores: return ", tensor cores";
    default: return "";
  }
}

template <class T>
void check_attention(const attention_case& c, cuda::attention_kernels which) {
  const auto& e = c.e;
  const std::string at = " (B " + std::to_string(e.batch) + ", Tq " + std::to_string(e.queries) + ", Tk " + std::to_string(e.keys) +
                         ", Hq " + std::to_string(e.query_heads) + ", Hkv " + std::to_string(e.kv_heads) + ", D " +
                         std::to_string(e.head_dim) + (c.fused ? ", fused qkv" : "") +
                         (c.pad ? ", padded by " + std::to_string(c.pad) : std::string()) + name_of(which) + ")";
  const index_t d = e.head_dim;
  cpu::attention_strides qs, ks, vs;
  index_t q_size, kv_size;
  index_t k_at = 0, v_at = 0;  // offsets of k and v in a fused buffer
  if (c.fused) {               // Tq = Tk, Hq = Hkv
    const index_t h = e.query_heads;
    qs = ks = vs = cpu::attention_strides{e.queries * 3 * h * d, 3 * h * d, d};
    q_size = kv_size = e.batch * e.queries * 3 * h * d;
    k_at = h * d, v_at = 2 * h * d;
  } else {
    qs = {e.queries * (e.query_heads * d + c.pad), e.query_heads * d + c.pad, d};
    ks = vs = {e.keys * (e.kv_heads * d + c.pad), e.kv_heads * d + c.pad, d};
    q_size = e.batch * qs.batch;
    kv_size = e.batch * ks.batch;
  }
  const float scale = 1.0f / std::sqrt(float(d));
  twin<T> q(random_values(q_size, 30, -2.0f, 2.0f)), k(random_values(kv_size, 31, -2.0f, 2.0f)), v(random_values(kv_size, 32));
  T* q_data = q.data();
  T* k_data = c.fused ? q.data() + k_at : k.data();
  T* v_data = c.fused ? q.data() + v_at : v.data();
  const float* q_cpu = q.cpu();
  const float* k_cpu = c.fused ? q.cpu() + k_at : k.cpu();
  const float* v_cpu = c.fused ? q.cpu() + v_at : v.cpu();

  const index_t z_size = e.batch * e.queries * e.query_heads * d, lse_size = e.batch * e.query_heads * e.queries;
  twin<T> z(z_size);
  twin<float> lse(lse_size);
  std::vector<float> want_z(z_size), want_lse(lse_size);
  cuda::causal_attention_forward(e, q_data, qs, k_data, ks, v_data, vs, z.data(), lse.data(), scale, which);
  ref::causal_attention_forward(e, q_cpu, qs, k_cpu, ks, v_cpu, vs, want_z.data(), want_lse.data(), scale);
  check_close("causal_attention_forward z" + at, z, want_z);
  check_close("causal_attention_forward lse" + at, lse, want_lse);

  // The backward reads the CPU's z and lse on both sides, and adds onto random gradients.
  twin<T> z_in(want_z), dz(random_values(z_size, 33));
  twin<float> lse_in(want_lse);
  for (bool all : {true, false}) {
    twin<T> dq(random_values(q_size, 34)), dk(random_values(kv_size, 35)), dv(random_values(kv_size, 36));
    std::vector<float> want_dq = dq.host, want_dk = dk.host, want_dv = dv.host;
    T* dk_data = c.fused ? dq.data() + k_at : dk.data();
    T* dv_data = c.fused ? dq.data() + v_at : dv.data();
    float* dk_cpu = c.fused ? want_dq.data() + k_at : want_dk.data();
    float* dv_cpu = c.fused ? want_dq.data() + v_at : want_dv.data();
    cuda::causal_attention_backward(e, q_data, qs, k_data, ks, v_data, vs, z_in.data(), lse_in.data(), dz.data(), dq.data(),
                                    all ? dk_data : nullptr, dv_data, scale, which);
    ref::causal_attention_backward(e, q_cpu, qs, k_cpu, ks, v_cpu, vs, z_in.cpu(), lse_in.cpu(), dz.cpu(), want_dq.data(),
                                   all ? dk_cpu : nullptr, dv_cpu, scale);
    const std::string which = all ? "" : " (no dk)";
    check_close("causal_attention_backward dq" + which + at, dq, want_dq);
    if (!c.fused) {
      check_close("causal_attention_backward dk" + which + at, dk, want_dk);
      check_close("causal_attention_backward dv" + which + at, dv, want_dv);
    }
  }
  if (e.queries >= 256)
    report_timing("causal_attention_forward" + at + " (" + type_name<T>() + ")", [&] {
      cuda::causal_attention_forward(e, q_data, qs, k_data, ks, v_data, vs, z.data(), lse.data(), scale, which);
    });
}

}  // namespace

TEST_CASE("CUDA causal attention matches the CPU: every head width, GQA, a KV cache offset, fused qkv, both kernels for bf16",
          "[cuda][attention]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const std::vector<attention_case> cases = {
      {{2, sized(67, 19), sized(67, 19), 4, 4, 16}, false},
      {{1, sized(130, 21), sized(130, 21), 2, 2, 32}, true},
      {{2, sized(37, 9), sized(101, 23), 6, 2, 64}, false},  // GQA with 64 (14) cached keys before the first query
      {{1, sized(70, 13), sized(70, 13), 2, 1, 128}, false},
      {{sized(4, 1), sized(256, 17), sized(256, 17), 4, 4, 64}, false},
      {{1, sized(64, 40), sized(64, 40), 2, 2, 64}, true},
      // Several tiles of queries and of keys (64 each on the tensor cores, 32 for D = 128 in the
      // backward), GQA, a cache offset, and tails everywhere.
      {{2, sized(301, 70), sized(333, 150), 4, 2, 64}, false, 0, false},
      {{1, sized(200, 67), sized(259, 97), 4, 1, 128}, false, 0, false},
      // Strides that are no multiple of 8 elements: the tensor cores cannot take them.
      {{1, sized(77, 21), sized(77, 21), 2, 2, 64}, false, 4, false},
  };
  for (const attention_case& c : cases) {
    if (c.every_kernel || !cuda::emulated) {
      check_attention<float>(c, cuda::attention_kernels::automatic);
      check_attention<bfloat16>(c, cuda::attention_kernels::cuda_cores);
    }
    const bool tensor_core_case = (c.e.head_dim == 64 || c.e.head_dim == 128) && c.pad == 0;
    check_attention<bfloat16>(c, tensor_core_case ? cuda::attention_kernels::tensor_cores : cuda::attention_kernels::automatic);
  }
  twin<float> x(64), lse(4);
  const cpu::attention_extents odd{1, 2, 2, 1, 1, 24};
  const cpu::attention_strides s{48, 24, 24};
  REQUIRE_THROWS_WITH(cuda::causal_attention_forward(odd, x.data(), s, x.data(), s, x.data(), s, x.data(), lse.data(), 1.0f),
                      Catch::Contains("head_dim 24 has no CUDA kernel"));
  // Demanding the tensor cores where they cannot serve throws, naming why.
  const cpu::attention_extents e64{1, 2, 2, 1, 1, 64};
  const cpu::attention_strides packed{128, 64, 64}, padded{136, 68, 68};
  twin<float> xf(200);
  twin<bfloat16> xb(200);
  twin<bfloat16> zb(128);
  REQUIRE_THROWS_WITH(cuda::causal_attention_forward(e64, xf.data(), packed, xf.data(), packed, xf.data(), packed, xf.data(), lse.data(),
                                                     1.0f, cuda::attention_kernels::tensor_cores),
                      Catch::Contains("bfloat16 only"));
  REQUIRE_THROWS_WITH(cuda::causal_attention_forward(e64, xb.data(), padded, xb.data(), padded, xb.data(), padded, zb.data(), lse.data(),
                                                     1.0f, cuda::attention_kernels::tensor_cores),
                      Catch::Contains("not a multiple of 8"));
  REQUIRE_THROWS_WITH(cuda::causal_attention_forward(e64, xb.data() + 1, packed, xb.data(), packed, xb.data(), packed, zb.data(),
                                                     lse.data(), 1.0f, cuda::attention_kernels::tensor_cores),
                      Catch::Contains("16-byte aligned"));
}

TEST_CASE("CUDA low-rank adapter path matches products on the CPU for ranks 1 to 16", "[cuda][low_rank]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t rows = sized(301, 37), in = 67, out = 45;
  for (index_t rank : {1, 4, 16}) {
    for_float_and_bf16([&]<class T>() {
      const float scale = 2.0f;
      twin<T> x(random_values(rows * in, 40)), a(random_values(rank * in, 41)), b(random_values(out * rank, 42));
      twin<T> y(random_values(rows * out, 43)), gy(random_values(rows * out, 44));
      twin<float> h(rows * rank);
      // CPU: h = x·Aᵀ, y += scale·h·Bᵀ.
      std::vector<float> want_h(rows * rank), want_y = y.host;
      ref::gemm(transpose::no, transpose::yes, rows, rank, in, 1.0f, x.cpu(), in, a.cpu(), in, 0.0f, want_h.data(), rank);
      ref::gemm(transpose::no, transpose::yes, rows, out, rank, scale, want_h.data(), rank, b.cpu(), rank, 1.0f, want_y.data(), out);
      cuda::low_rank_forward(x.data(), a.data(), b.data(), h.data(), y.data(), rows, in, out, rank, scale);
      const std::string at = " rank " + std::to_string(rank);
      check_close("low_rank_forward h" + at, h, want_h);
      check_close("low_rank_forward y" + at, y, want_y);

      // gh = scale·gy·B; gx += gh·A; gA += ghᵀ·x; gB += scale·gyᵀ·h.
      twin<float> h_in(want_h);
      twin<T> gx(random_values(rows * in, 45)), ga(random_values(rank * in, 46)), gb(random_values(out * rank, 47));
      std::vector<float> gh(rows * rank), want_gx = gx.host, want_ga = ga.host, want_gb = gb.host;
      ref::gemm(transpose::no, transpose::no, rows, rank, out, scale, gy.cpu(), out, b.cpu(), rank, 0.0f, gh.data(), rank);
      ref::gemm(transpose::no, transpose::no, rows, in, rank, 1.0f, gh.data(), rank, a.cpu(), in, 1.0f, want_gx.data(), in);
      ref::gemm(transpose::yes, transpose::no, rank, in, rows, 1.0f, gh.data(), rank, x.cpu(), in, 1.0f, want_ga.data(), in);
      ref::gemm(transpose::yes, transpose::no, out, rank, rows, scale, gy.cpu(), out, h_in.cpu(), rank, 1.0f, want_gb.data(), rank);
      cuda::low_rank_backward(x.data(), a.data(), b.data(), h_in.data(), gy.data(), gx.data(), grad_write::add, ga.data(), gb.data(), rows, in,
                              out, rank, scale);
      check_close("low_rank_backward gx" + at, gx, want_gx);
      check_close("low_rank_backward gA" + at, ga, want_ga);
      check_close("low_rank_backward gB" + at, gb, want_gb);
    });
  }
  twin<float> x(17 * 4);
  REQUIRE_THROWS_WITH(cuda::low_rank_forward(x.data(), x.data(), x.data(), nullptr, x.data(), 1, 4, 4, 17, 1.0f),
                      Catch::Contains("rank 17 is outside [1, 16]"));
}

namespace {

// The top k of each row by a full sort in the same order (NaN first, larger first, smaller index first).
void topk_reference(const std::vector<float>& x, index_t rows, index_t cols, index_t k, std::vector<float>& values,
                    std::vector<std::int32_t>& indices) {
  values.assign(rows * k, 0.0f);
  indices.assign(rows * k, 0);
  std::vector<std::int32_t> order(cols);
  for (index_t r = 0; r < rows; ++r) {
    std::iota(order.begin(), order.end(), 0);
    const float* row = x.data() + r * cols;
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      const bool a_nan = std::isnan(row[a]), b_nan = std::isnan(row[b]);
      if (a_nan != b_nan) return a_nan;
      return !a_nan && row[a] > row[b];
    });
    for (index_t j = 0; j < k; ++j) values[r * k + j] = row[order[j]], indices[r * k + j] = order[j];
  }
}

}  // namespace

TEST_CASE("CUDA TopK picks the k largest per row in a sort's order, and scatters their gradients back", "[cuda][sae]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t rows = sized(301, 23), cols = sized(3584, 301);
  for (index_t k : {1, 16, 32}) {
    for_float_and_bf16([&]<class T>() {
      std::vector<float> x = random_values(rows * cols, 50, -3.0f, 3.0f);
      for (index_t i = 0; i < rows * cols; i += 3) x[i] = std::round(x[i] * 4.0f) / 4.0f;  // ties
      x[5] = nan_value;
      twin<T> device_x(x);
      std::vector<float> want_values;
      std::vector<std::int32_t> want_indices;
      topk_reference(device_x.host, rows, cols, k, want_values, want_indices);
      twin<T> values(rows * k);
      cuda::device_buffer<std::int32_t> indices(rows * k);
      cuda::topk_rows(device_x.data(), values.data(), indices.data(), rows, cols, k);
      const std::string at = " k " + std::to_string(k) + " (" + type_name<T>() + ")";
      INFO("topk_rows" << at);
      CHECK(indices.to_host() == want_indices);
      const std::vector<float> got = values.download();
      for (std::size_t i = 0; i < got.size(); ++i)
        if (!(got[i] == want_values[i] || (std::isnan(got[i]) && std::isnan(want_values[i])))) FAIL_CHECK("value " << i << " differs");

      cuda::device_buffer<std::int32_t> indices_in(want_indices);
      twin<T> g(random_values(rows * k, 51));
      for (grad_write mode : {grad_write::store, grad_write::add}) {
        twin<T> gx = mode == grad_write::store ? twin<T>(rows * cols) : twin<T>(random_values(rows * cols, 52));
        std::vector<float> want = mode == grad_write::store ? std::vector<float>(rows * cols, 0.0f) : gx.host;
        for (index_t i = 0; i < rows * k; ++i) want[(i / k) * cols + want_indices[i]] += g.host[i];
        cuda::topk_backward(indices_in.data(), g.data(), gx.data(), rows, cols, k, mode);
        check_close(std::string("topk_backward") + (mode == grad_write::store ? " (store)" : " (add)") + " k " + std::to_string(k), gx,
                    want);
      }
    });
  }
  twin<float> x(10), values(11);
  cuda::device_buffer<std::int32_t> indices(11);
  REQUIRE_THROWS_AS(cuda::topk_rows(x.data(), values.data(), indices.data(), 1, 10, 11), shape_error);
}

TEST_CASE("CUDA TopK keeps the sort's order through massive ties, NaNs and wide rows", "[cuda][sae]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  // Rows whose candidate list overflows (thousands of equal values or NaNs), so that the exact
  // bit-by-bit selection runs, next to a plain random row; then rows past the selection kernel's
  // 32768 columns, which take the plain kernel.
  struct shape {
    index_t cols;
    std::vector<index_t> ks;
  };
  for (const shape& sh : {shape{3001, {1, 7, 32, 256}}, shape{sized(40000, 33000), {3, 32}}})
    for_float_and_bf16([&]<class T>() {
      const index_t rows = 4, cols = sh.cols;
      std::vector<float> x = random_values(rows * cols, 53, -3.0f, 3.0f);
      std::mt19937 gen(54);
      for (index_t j = 0; j < cols; ++j) {
        x[0 * cols + j] = j % 3 == 0 ? -0.0f : 0.0f;                                // all equal (±0)
        x[1 * cols + j] = std::uniform_int_distribution<int>(0, 5)(gen) ? 1.0f : 0.5f;  // mostly equal
        if (std::uniform_int_distribution<int>(0, 9)(gen) < 7) x[2 * cols + j] = nan_value;  // mostly NaN
      }
      twin<T> device_x(x);
      for (index_t k : sh.ks) {
        std::vector<float> want_values;
        std::vector<std::int32_t> want_indices;
        topk_reference(device_x.host, rows, cols, k, want_values, want_indices);
        twin<T> values(rows * k);
        cuda::device_buffer<std::int32_t> indices(rows * k);
        cuda::topk_rows(device_x.data(), values.data(), indices.data(), rows, cols, k);
        INFO("topk_rows cols " << cols << " k " << k << " (" << type_name<T>() << ")");
        CHECK(indices.to_host() == want_indices);
        const std::vector<float> got = values.download();
        for (std::size_t i = 0; i < got.size(); ++i)
          if (!(got[i] == want_values[i] || (std::isnan(got[i]) && std::isnan(want_values[i])))) FAIL_CHECK("value " << i << " differs");
      }
    });
}

TEST_CASE("CUDA sparse decoder matches the dense definition and touches only active rows", "[cuda][sae]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t rows = sized(301, 23), d_sae = sized(3584, 301), d_in = sized(448, 67), k = 16;
  for_float_and_bf16([&]<class T>() {
    // k distinct latents per row, as TopK gives them.
    std::vector<std::int32_t> indices(rows * k);
    std::mt19937 gen(60);
    std::vector<std::int32_t> all(d_sae);
    std::iota(all.begin(), all.end(), 0);
    for (index_t r = 0; r < rows; ++r) {
      std::shuffle(all.begin(), all.end(), gen);
      std::copy(all.begin(), all.begin() + k, indices.begin() + r * k);
    }
    cuda::device_buffer<std::int32_t> device_indices(indices);
    twin<T> values(random_values(rows * k, 61, 0.0f, 2.0f)), w(random_values(d_sae * d_in, 62)), b(random_values(d_in, 63));
    twin<T> y(rows * d_in), gy(random_values(rows * d_in, 64));
    std::vector<float> want(rows * d_in);
    for (index_t r = 0; r < rows; ++r)
      for (index_t c = 0; c < d_in; ++c) {
        double acc = b.host[c];
        for (index_t j = 0; j < k; ++j) acc += double(values.host[r * k + j]) * double(w.host[index_t(indices[r * k + j]) * d_in + c]);
        want[r * d_in + c] = float(acc);
      }
    cuda::sparse_decoder_forward(values.data(), device_indices.data(), w.data(), b.data(), y.data(), rows, k, d_in);
    check_close("sparse_decoder_forward", y, want);

    // Float only for W_dec: bf16 atomics round every one of the rows' contributions.
    twin<T> gvalues(rows * k), gw(random_values(d_sae * d_in, 65)), gb(random_values(d_in, 66));
    std::vector<float> want_gvalues(rows * k), want_gw = gw.host, want_gb = gb.host;
    for (index_t r = 0; r < rows; ++r)
      for (index_t j = 0; j < k; ++j) {
        const index_t latent = indices[r * k + j];
        double dot = 0;
        for (index_t c = 0; c < d_in; ++c) {
          dot += double(gy.host[r * d_in + c]) * double(w.host[latent * d_in + c]);
          want_gw[latent * d_in + c] += values.host[r * k + j] * gy.host[r * d_in + c];
        }
        want_gvalues[r * k + j] = float(dot);
      }
    for (index_t r = 0; r < rows; ++r)
      for (index_t c = 0; c < d_in; ++c) want_gb[c] += gy.host[r * d_in + c];
    cuda::sparse_decoder_backward(values.data(), device_indices.data(), w.data(), gy.data(), gvalues.data(),
                                  std::is_same_v<T, float> ? gw.data() : nullptr, gb.data(), rows, k, d_in, grad_write::store);
    check_close("sparse_decoder_backward gvalues", gvalues, want_gvalues);
    if (std::is_same_v<T, float>) check_close("sparse_decoder_backward gW_dec", gw, want_gw);
    check_close("sparse_decoder_backward gb", gb, want_gb);
  });
}
