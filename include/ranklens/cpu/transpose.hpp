// A transposed copy of a float or double matrix, in 16 × 16 register blocks where the CPU has
// AVX-512: the keys and values that attention's score products read, and the panels of a
// transposed B that the thin GEMM packs.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <algorithm>
#include <type_traits>

#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

namespace ranklens::cpu {

namespace detail {

#if defined(__AVX512F__)
// GCC 12 reports its own headers' _mm512_undefined_*() in the unpack and shuffle intrinsics as
// "(maybe) used uninitialized" once they inline here (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// to (16 × 16 block, leading dimension ld_to) = fromᵀ (16 × 16 block, leading dimension ld_from),
// in registers: 16 row loads, four rounds of 16 shuffles, 16 row stores.
inline void transpose_16x16(const float* from, index_t ld_from, float* to, index_t ld_to) {
  __m512 r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(from + i * ld_from);
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) {
    auto lo = [&](int a, int b) { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[a]), _mm512_castps_pd(t[b]))); };
    auto hi = [&](int a, int b) { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[a]), _mm512_castps_pd(t[b]))); };
    r[i] = lo(i, i + 2);
    r[i + 1] = hi(i, i + 2);
    r[i + 2] = lo(i + 1, i + 3);
    r[i + 3] = hi(i + 1, i + 3);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 8)
#pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
    }
#pragma GCC unroll 16
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(to + i * ld_to, r[i]);
}
#pragma GCC diagnostic pop
#endif

// to (cols, rows) = fromᵀ for from (rows, cols) with leading dimension ld, in tiles.
template <Real T>
void transpose_into(const T* from, index_t ld, index_t rows, index_t cols, T* to) {
  constexpr index_t tile = 16;
  index_t full_rows = 0, full_cols = 0;  // the part done in 16 × 16 register blocks
#if defined(__AVX512F__)
  // float: the scalar loop below took 3.7% of the d=64 training step (one thread); gathers were
  // slower still on this Zen 5.
  if constexpr (std::is_same_v<T, float>) {
    full_rows = rows / tile * tile;
    full_cols = cols / tile * tile;
    for (index_t r0 = 0; r0 < full_rows; r0 += tile)
      for (index_t c0 = 0; c0 < full_cols; c0 += tile) transpose_16x16(from + r0 * ld + c0, ld, to + c0 * rows + r0, rows);
  }
#endif
  auto one = [&](index_t r, index_t c) { to[c * rows + r] = from[r * ld + c]; };
  for (index_t r0 = 0; r0 < rows; r0 += tile)
    for (index_t c = 0; c < cols; ++c)
      for (index_t r = r0; r < std::min(r0 + tile, rows); ++r)
        if (r >= full_rows || c >= full_cols) one(r, c);
}

}  // namespace detail
}  // namespace ranklens::cpu
