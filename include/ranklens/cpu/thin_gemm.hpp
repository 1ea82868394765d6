// Our own float GEMM for the tall, thin products of small transformers: C (m, n) = alpha · A ·
// op(B) + beta · C (+ a bias row), with A (m, k) row-major, m large and B small (k, n ≤ 1024,
// n a multiple of 16). These are a layer's forward (x·W) and its input gradient (dy·Wᵀ) at
// widths 64–256. OpenBLAS packs A for them, although k = 64 leaves little to reuse, and fills
// the bias in a pass of its own. Here A's rows are read in place, six at a time, against
// 64-column panels of B (read in place too, or packed once when B is transposed: it is small),
// with the tile in 24 AVX-512 accumulators; bias and beta are applied as the tile is stored, so
// C is written once.
// Measured on 2 threads of this Zen 5 (bench_kernels BM_gemm_cold, docs/performance.md): with
// the operands out of cache 305–418 GFLOP/s where OpenBLAS reached 160–303; in cache 444–486
// against 374–399.
//
// Built only where the compiler targets AVX-512 (-march=native on such a CPU); elsewhere
// thin_gemm_suits() is false and every product goes to OpenBLAS.
#pragma once
#include <algorithm>
#include <span>
#include <stdexcept>

#include "ranklens/core/config.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/thread_pool.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#define RANKLENS_THIN_GEMM 1
#else
#define RANKLENS_THIN_GEMM 0
#endif

namespace ranklens::cpu {

namespace thin_gemm_limits {
inline constexpr index_t max_k = 1024;  // a transposed B (n, k) is packed whole into scratch
inline constexpr index_t max_n = 1024;
// Fewer rows are left to OpenBLAS: its small-matrix kernels beat ours on attention's 64-query
// blocks (64 × 256 × 16: 238 against 180 GFLOP/s on one thread), and packing Bᵀ would cost as
// much as such a product.
inline constexpr index_t min_m = 256;
inline constexpr index_t rows_per_tile = 6;
inline constexpr index_t panel_width = 64;  // columns of B per tile: 4 AVX-512 vectors
}  // namespace thin_gemm_limits

// Whether the thin kernel takes a product with these extents (A not transposed, B either way).
inline bool thin_gemm_suits(index_t m, index_t n, index_t k) noexcept {
  using namespace thin_gemm_limits;
  return RANKLENS_THIN_GEMM && m >= min_m && n >= 16 && n <= max_n && n % 16 == 0 && k >= 1 && k <= max_k;
}

#if RANKLENS_THIN_GEMM
namespace detail::thin {

struct store_rule {
  float alpha;
  float beta;          // 0: C is not read (as in BLAS: whatever it held, NaN included, is gone)
  const float* bias;   // null, or one value per column of C
};

// C[r, 0:16V] = rule(Σ_p A[r, p] · panel[p, 0:16V]) for R rows; panel rows are ldp apart.
// With Prefetch, the next R rows of A are requested while these are read (the first panel of
// a row block only: later panels find A in L1).
template <int R, int V, bool Prefetch>
inline void tile(index_t k, const float* a, index_t lda, const float* panel, index_t ldp, float* c, index_t ldc,
                 const store_rule& rule) {
  // The loops over r and v must unroll completely, or the accumulators live on the stack:
  // GCC 12 does so for -march=znver4 but not for Intel targets (-march=sapphirerapids),
  // where the tile then ran at a third of OpenBLAS' speed (docs/performance.md).
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (index_t p = 0; p < k; ++p) {
    if constexpr (Prefetch) {
      if ((p & 15) == 0)
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(a + (r + R) * lda + p), _MM_HINT_T0);
    }
    __m512 b[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(panel + p * ldp + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + p]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(rule.alpha), beta = _mm512_set1_ps(rule.beta);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      float* out = c + r * ldc + 16 * v;
      __m512 value = _mm512_mul_ps(acc[r][v], alpha);
      if (rule.beta != 0.0f) value = _mm512_fmadd_ps(beta, _mm512_loadu_ps(out), value);
      if (rule.bias != nullptr) value = _mm512_add_ps(value, _mm512_loadu_ps(rule.bias + 16 * v));
      _mm512_storeu_ps(out, value);
    }
}

// B as the tiles read it: in place (row p of the panel at column j is base[p · ld + j]), or
// packed by pack_b (panel j is k × width, dense, at base + j · k).
struct b_panels {
  const float* base;
  index_t ld;  // in place only
  bool packed;
  index_t k;
  const float* panel(index_t j) const noexcept { return packed ? base + j * k : base + j; }
  index_t stride(index_t width) const noexcept { return packed ? width : ld; }
};

// R rows of C, every panel.
template <int R>
inline void row_block(index_t n, index_t k, const float* a, index_t lda, const b_panels& b, float* c, index_t ldc,
                      const store_rule& rule, bool prefetch_next) {
  constexpr index_t w = thin_gemm_limits::panel_width;
  for (index_t j = 0; j < n; j += w) {
    const index_t width = std::min(w, n - j);
    const float* panel = b.panel(j);
    const index_t ldp = b.stride(width);
    store_rule at_j = rule;
    if (rule.bias != nullptr) at_j.bias = rule.bias + j;
    const bool pf = prefetch_next && j == 0;
    switch (width / 16) {
      case 4: pf ? tile<R, 4, true>(k, a, lda, panel, ldp, c + j, ldc, at_j) : tile<R, 4, false>(k, a, lda, panel, ldp, c + j, ldc, at_j); break;
      case 3: pf ? tile<R, 3, true>(k, a, lda, panel, ldp, c + j, ldc, at_j) : tile<R, 3, false>(k, a, lda, panel, ldp, c + j, ldc, at_j); break;
      case 2: pf ? tile<R, 2, true>(k, a, lda, panel, ldp, c + j, ldc, at_j) : tile<R, 2, false>(k, a, lda, panel, ldp, c + j, ldc, at_j); break;
      default: tile<R, 1, false>(k, a, lda, panel, ldp, c + j, ldc, at_j); break;
    }
  }
}

// The last rows of a range, fewer than a full tile.
inline void tail_rows(index_t rows, index_t n, index_t k, const float* a, index_t lda, const b_panels& b, float* c, index_t ldc,
                      const store_rule& rule) {
  switch (rows) {
    case 5: row_block<5>(n, k, a, lda, b, c, ldc, rule, false); break;
    case 4: row_block<4>(n, k, a, lda, b, c, ldc, rule, false); break;
    case 3: row_block<3>(n, k, a, lda, b, c, ldc, rule, false); break;
    case 2: row_block<2>(n, k, a, lda, b, c, ldc, rule, false); break;
    case 1: row_block<1>(n, k, a, lda, b, c, ldc, rule, false); break;
    default: break;
  }
}

// op(B) (k, n) = Bᵀ, B stored (n, k), into panels of 64 columns (the last one 16, 32 or 48
// wide), each k × width, dense: panel j starts at j · k.
inline void pack_b(index_t n, index_t k, const float* b, index_t ldb, float* packed) {
  for (index_t j = 0; j < n; j += thin_gemm_limits::panel_width) {
    const index_t width = std::min(thin_gemm_limits::panel_width, n - j);
    float* panel = packed + j * k;
    for (index_t q = 0; q < width; ++q)
      for (index_t p = 0; p < k; ++p) panel[p * width + q] = b[(j + q) * ldb + p];
  }
}

}  // namespace detail::thin
#endif

// C = alpha · A · op(B) + beta · C (+ bias[j] on every row when bias is not null), for extents
// where thin_gemm_suits(m, n, k). A is (m, k) row-major with lda ≥ k; B is (k, n) with
// ldb ≥ n, or, transposed_b, (n, k) with ldb ≥ k. Rows of C are spread over the thread pool.
inline void thin_gemm(bool transposed_b, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda, const float* b,
                      index_t ldb, float beta, float* c, index_t ldc, const float* bias = nullptr) {
#if RANKLENS_THIN_GEMM
  using namespace detail::thin;
  constexpr index_t R = thin_gemm_limits::rows_per_tile;
  b_panels panels{b, ldb, false, k};
  if (transposed_b) {
    const std::span<float> packed = thread_scratch<float>(scratch_slot::packed_b, std::size_t(n * k));
    pack_b(n, k, b, ldb, packed.data());
    panels = {packed.data(), 0, true, k};
  }
  const store_rule rule{alpha, beta, bias};
  const index_t tiles = (m + R - 1) / R;
  // About 256k multiply-adds per chunk, so a small product stays on one thread.
  const index_t grain = std::max<index_t>(1, 262144 / std::max<index_t>(R * n * k, 1));
  parallel_for(tiles, grain, [&](index_t first, index_t last) {
    for (index_t t = first; t < last; ++t) {
      const index_t i = t * R, rows = std::min(R, m - i);
      if (rows == R)
        row_block<R>(n, k, a + i * lda, lda, panels, c + i * ldc, ldc, rule, t + 1 < last);
      else
        tail_rows(rows, n, k, a + i * lda, lda, panels, c + i * ldc, ldc, rule);
    }
  });
#else
  (void)transposed_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c,
      (void)ldc, (void)bias;
  throw std::logic_error("thin_gemm: built without AVX-512; check thin_gemm_suits() first");
#endif
}

}  // namespace ranklens::cpu
