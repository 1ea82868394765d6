// Our own float GEMM for the tall, thin products of small transformers: C (m, n) = alpha · A ·
// op(B) + beta · C (+ a bias row), with A (m, k) row-major, m large and B small (k, n ≤ 1024,
// n a multiple of 16). These are a layer's forward (x·W) and its input gradient (dy·Wᵀ) at
// widths 64–256. OpenBLAS packs A for them, although k = 64 leaves little to reuse, and fills
// the bias in a pass of its own. Here A's rows are read in place, six at a time, against
// 64-column panels of op(B), with the tile in 24 AVX-512 accumulators; bias and beta are
// applied as the tile is stored, and so is a low-rank term U·V (a LoRA adapter's, which would
// otherwise read and write C once more). op(B) is packed once per call into its panels (it is small;
// in place, its rows lie up to a page apart and evict each other from L1), and blocks of 96
// rows share each 128-row block of a panel from L1.
// Measured on 2 threads against OpenBLAS (docs/performance.md): on a Zen 5, with the operands
// out of cache, 305–418 GFLOP/s where OpenBLAS reached 160–303; on an Intel Xeon (cpu family
// 6, model 207), the packing and the k blocks made a Qwen2 d 256 LoRA step about 8% faster.
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
#include "ranklens/cpu/transpose.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#define RANKLENS_THIN_GEMM 1
#else
#define RANKLENS_THIN_GEMM 0
#endif

namespace ranklens::cpu {

namespace thin_gemm_limits {
inline constexpr index_t max_k = 1024;  // op(B) (k, n) is packed whole into scratch
inline constexpr index_t max_n = 1024;
// Fewer rows are left to OpenBLAS: its small-matrix kernels beat ours on attention's 64-query
// blocks (64 × 256 × 16: 238 against 180 GFLOP/s on one thread), and packing Bᵀ would cost as
// much as such a product.
inline constexpr index_t min_m = 256;
inline constexpr index_t rows_per_tile = 6;
inline constexpr index_t panel_width = 64;  // columns of B per tile: 4 AVX-512 vectors
// Rows of a packed panel that a block of tiles shares from L1: 128 × 64 floats = 32 KiB.
inline constexpr index_t k_block = 128;
inline constexpr index_t tiles_per_block = 16;  // 96 rows of C, at most 384 KiB: they stay in L2
}  // namespace thin_gemm_limits

// Whether the thin kernel takes a product with these extents (A not transposed, B either way).
inline bool thin_gemm_suits(index_t m, index_t n, index_t k) noexcept {
  using namespace thin_gemm_limits;
  return RANKLENS_THIN_GEMM && m >= min_m && n >= 16 && n <= max_n && n % 16 == 0 && k >= 1 && k <= max_k;
}

// A term U·V added to C as its tiles are stored: U (m, rank) and V (rank, n), both row-major
// and dense. rank 0: none.
struct low_rank_term {
  const float* u = nullptr;
  const float* v = nullptr;
  index_t rank = 0;
};

#if RANKLENS_THIN_GEMM
namespace detail::thin {

struct store_rule {
  float alpha;
  float beta;          // 0: C is not read (as in BLAS: whatever it held, NaN included, is gone)
  const float* bias;   // null, or one value per column of C
  low_rank_term term;  // u at the tile's first row, v at its first column
  index_t ldv;         // row stride of term.v: C's n
};

// C[r, 0:16V] = rule(Σ_p A[r, p] · panel[p, 0:16V]) for R rows; panel rows are ldp apart.
// With Prefetch, the next R rows of A are requested while these are read (the first panel of
// a k block only: later panels find A in cache).
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
      // After the bias and in rank order, as cpu::add_low_rank_rows adds it to a stored C: the
      // same bits either way.
      for (index_t q = 0; q < rule.term.rank; ++q)
        value = _mm512_fmadd_ps(_mm512_set1_ps(rule.term.u[r * rule.term.rank + q]), _mm512_loadu_ps(rule.term.v + q * rule.ldv + 16 * v),
                                value);
      _mm512_storeu_ps(out, value);
    }
}

// R rows (1 to 6) by V vectors (1 to 4) of C.
template <int R>
inline void tile_of_width(index_t vectors, index_t k, const float* a, index_t lda, const float* panel, index_t ldp, float* c,
                          index_t ldc, const store_rule& rule, bool prefetch_next) {
  switch (vectors) {
    case 4:
      prefetch_next ? tile<R, 4, true>(k, a, lda, panel, ldp, c, ldc, rule) : tile<R, 4, false>(k, a, lda, panel, ldp, c, ldc, rule);
      break;
    case 3: tile<R, 3, false>(k, a, lda, panel, ldp, c, ldc, rule); break;
    case 2: tile<R, 2, false>(k, a, lda, panel, ldp, c, ldc, rule); break;
    default: tile<R, 1, false>(k, a, lda, panel, ldp, c, ldc, rule); break;
  }
}

inline void any_tile(index_t rows, index_t vectors, index_t k, const float* a, index_t lda, const float* panel, index_t ldp, float* c,
                     index_t ldc, const store_rule& rule, bool prefetch_next) {
  switch (rows) {
    case 6: tile_of_width<6>(vectors, k, a, lda, panel, ldp, c, ldc, rule, prefetch_next); break;
    case 5: tile_of_width<5>(vectors, k, a, lda, panel, ldp, c, ldc, rule, false); break;
    case 4: tile_of_width<4>(vectors, k, a, lda, panel, ldp, c, ldc, rule, false); break;
    case 3: tile_of_width<3>(vectors, k, a, lda, panel, ldp, c, ldc, rule, false); break;
    case 2: tile_of_width<2>(vectors, k, a, lda, panel, ldp, c, ldc, rule, false); break;
    default: tile_of_width<1>(vectors, k, a, lda, panel, ldp, c, ldc, rule, false); break;
  }
}

// Columns j to j + 63 of op(B) (k, n) (fewer in the last panel: 16, 32 or 48) as one panel,
// k × width, dense, at packed + j · k. B is stored (k, n) with row stride ldb, or, transposed,
// (n, k).
inline void pack_panel(bool transposed, index_t j, index_t n, index_t k, const float* b, index_t ldb, float* packed) {
  const index_t width = std::min(thin_gemm_limits::panel_width, n - j);
  float* panel = packed + j * k;
  if (!transposed) {
    for (index_t p = 0; p < k; ++p) std::copy_n(b + p * ldb + j, width, panel + p * width);
    return;
  }
  // 16 rows of the panel at a time, in 16 × 16 register blocks (width is a multiple of 16): the
  // 4 KiB written stay in L1, and each line of B is read once, whole. (transpose_into's order,
  // 16 columns of the panel at a time, rewrote each line of a panel beyond L1 four times: 2x
  // slower; the scalar loop, 5x.)
  const index_t full_k = k / 16 * 16;
  for (index_t p0 = 0; p0 < full_k; p0 += 16)
    for (index_t q0 = 0; q0 < width; q0 += 16) transpose_16x16(b + (j + q0) * ldb + p0, ldb, panel + p0 * width + q0, width);
  for (index_t q = 0; q < width; ++q)
    for (index_t p = full_k; p < k; ++p) panel[p * width + q] = b[(j + q) * ldb + p];
}

}  // namespace detail::thin
#endif

// C = alpha · A · op(B) + beta · C (+ bias[j] on every row when bias is not null) (+ term.u ·
// term.v), for extents where thin_gemm_suits(m, n, k). A is (m, k) row-major with lda ≥ k; B is
// (k, n) with ldb ≥ n, or, transposed_b, (n, k) with ldb ≥ k. Rows of C are spread over the
// thread pool.
inline void thin_gemm(bool transposed_b, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda, const float* b,
                      index_t ldb, float beta, float* c, index_t ldc, const float* bias = nullptr, low_rank_term term = {}) {
#if RANKLENS_THIN_GEMM
  using namespace detail::thin;
  using namespace thin_gemm_limits;
  constexpr index_t R = rows_per_tile;
  const index_t panels = (n + panel_width - 1) / panel_width;
  float* const packed = thread_scratch<float>(scratch_slot::packed_b, std::size_t(n * k)).data();
  parallel_for(panels, std::max<index_t>(1, 65536 / std::max<index_t>(panel_width * k, 1)), [&](index_t first, index_t last) {
    for (index_t panel = first; panel < last; ++panel) pack_panel(transposed_b, panel * panel_width, n, k, b, ldb, packed);
  });
  const index_t k_blocks = (k + k_block - 1) / k_block;
  const index_t tiles = (m + R - 1) / R;
  // About 256k multiply-adds per chunk, so a small product stays on one thread.
  const index_t grain = std::max<index_t>(1, 262144 / std::max<index_t>(R * n * k, 1));
  // Tile t of C's rows, panel j of its columns, over op(B)'s rows p0 to p1, stored as rule says.
  const auto one_tile = [&](index_t t, index_t j, index_t p0, index_t p1, const store_rule& rule, bool prefetch_next) {
    const index_t i = t * R, width = std::min(panel_width, n - j);
    store_rule at_j = rule;
    if (rule.bias != nullptr) at_j.bias = rule.bias + j;
    if (rule.term.rank > 0) at_j.term = {rule.term.u + i * rule.term.rank, rule.term.v + j, rule.term.rank};
    any_tile(std::min(R, m - i), width / 16, p1 - p0, a + i * lda + p0, lda, packed + j * k + p0 * width, width, c + i * ldc + j,
             ldc, at_j, prefetch_next);
  };
  parallel_for(tiles, grain, [&](index_t first, index_t last) {
    if (k_blocks == 1) {
      // k ≤ 128: each tile sweeps every panel with its rows of A in L1 (read from memory once,
      // the next tile's requested meanwhile); the panels, 32 KiB each at most, come from L2.
      for (index_t t = first; t < last; ++t)
        for (index_t j = 0; j < n; j += panel_width) one_tile(t, j, 0, k, {alpha, beta, bias, term, n}, j == 0 && t + 1 < last);
      return;
    }
    // Longer k: blocks of tiles_per_block tiles share each block of a panel (k_block × 64
    // floats) from L1, where a whole panel would not fit; their rows of A (96 × k_block floats)
    // and of C (96 × n) stay in L2 across the k blocks (a whole chunk's C, 1024 rows at
    // m = 8192, did not, and went to memory once per k block).
    for (index_t t0 = first; t0 < last; t0 += tiles_per_block) {
      const index_t t1 = std::min(last, t0 + tiles_per_block);
      for (index_t kb = 0; kb < k_blocks; ++kb) {
        const index_t p0 = k * kb / k_blocks, p1 = k * (kb + 1) / k_blocks;
        // The first k block applies beta and the bias, the last the low-rank term; the others
        // add to what the one before stored.
        store_rule rule = kb == 0 ? store_rule{alpha, beta, bias, {}, n} : store_rule{alpha, 1.0f, nullptr, {}, n};
        if (kb + 1 == k_blocks) rule.term = term;
        for (index_t j = 0; j < n; j += panel_width)
          for (index_t t = t0; t < t1; ++t) one_tile(t, j, p0, p1, rule, j == 0 && t + 1 < last);
      }
    }
  });
#else
  (void)transposed_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c,
      (void)ldc, (void)bias, (void)term;
  throw std::logic_error("thin_gemm: built without AVX-512; check thin_gemm_suits() first");
#endif
}

}  // namespace ranklens::cpu
