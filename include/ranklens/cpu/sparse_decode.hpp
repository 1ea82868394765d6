// The decoder of a sparse autoencoder, forward and backward side by side: a sparse S (rows, m)
// with k entries per row times a dense W (m, n) whose rows are the dictionary directions.
//
//   forward:   y[r] = bias + Σ_{e in row r} s_e · W[j_e]                  (k·n per row, not m·n)
//   backward:  gs_e    += gy[r_e] · W[j_e]                                  (a dot per entry)
//              gW[j]   += Σ_{e in column j} s_e · gy[r_e]                   (only the rows of W in use)
//              gbias   += Σ_r gy[r]
//
// Every loop runs over the pattern's entries, never over all m rows of W: with k of m latents
// active this is m/k times less work than the dense product (SAELens multiplies the dense
// (rows, m) activations by W). gW is accumulated per column of S (one thread per row of gW, in
// row order), so results do not depend on the thread count.
#pragma once
#include "ranklens/cpu/bias.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/sparse_rows.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

namespace detail {

// dst[0, n) += a · src[0, n)
template <Real T>
RANKLENS_ALWAYS_INLINE void add_scaled_row(T* dst, T a, const T* src, index_t n) {
  const simd<T> scale(a);
  simd_for<T>(n, [&](index_t i, auto step) { store(dst + i, multiply_add(scale, load(src + i, step), load(dst + i, step)), step); });
}

template <Real T>
RANKLENS_ALWAYS_INLINE double dot_row(const T* a, const T* b, index_t n) {
  return simd_sum<T>(n, [&](index_t i, auto step) { return load(a + i, step) * load(b + i, step); });
}

// Rows per chunk of a parallel loop doing `work_per_row` multiply-adds per row.
inline index_t rows_per_chunk(double work_per_row) {
  return std::max<index_t>(1, index_t(double(parallel_grain(2)) / std::max(work_per_row, 1.0)));
}

}  // namespace detail

// y: (s.rows, n) is overwritten; values: one per entry of s; w: (s.cols, n); bias: (n) or nullptr.
template <Real T>
void sparse_decode_forward(const CompressedRows& s, const T* values, const T* w, index_t n, optional_in<T> bias, T* y) {
  detail::require_extents("sparse_decode_forward", s.rows, n);
  const double per_row = s.rows > 0 ? double(s.entries()) / double(s.rows) * double(n) : 0;
  parallel_for(s.rows, detail::rows_per_chunk(per_row + double(n)), [&](index_t first, index_t last) {
    for (index_t r = first; r < last; ++r) {
      T* yr = y + r * n;
      if (bias != nullptr)
        std::copy(bias, bias + n, yr);
      else
        std::fill(yr, yr + n, T(0));
      for (index_t e = s.row_offsets[r]; e < s.row_offsets[r + 1]; ++e)
        if (values[e] != T(0)) detail::add_scaled_row(yr, values[e], w + index_t(s.columns[e]) * n, n);
    }
  });
}

// gy: (s.rows, n). Adds into whichever of gvalues (one per entry), gw (s.cols, n) and gbias (n)
// are not nullptr; gw needs by_column (group_by_column of s).
template <Real T>
void sparse_decode_backward(const CompressedRows& s, const EntriesByColumn& by_column, const T* values, const T* w, index_t n,
                            const T* gy, optional_out<T> gvalues, optional_out<T> gw, optional_out<T> gbias) {
  detail::require_extents("sparse_decode_backward", s.rows, n);
  const index_t nnz = s.entries();
  if (gvalues != nullptr) {
    const double per_row = s.rows > 0 ? double(nnz) / double(s.rows) * double(n) : 0;
    parallel_for(s.rows, detail::rows_per_chunk(per_row), [&](index_t first, index_t last) {
      for (index_t r = first; r < last; ++r)
        for (index_t e = s.row_offsets[r]; e < s.row_offsets[r + 1]; ++e)
          gvalues[e] += T(detail::dot_row(gy + r * n, w + index_t(s.columns[e]) * n, n));
    });
  }
  if (gw != nullptr) {
    const double per_column = s.cols > 0 ? double(nnz) / double(s.cols) * double(n) : 0;
    parallel_for(s.cols, detail::rows_per_chunk(per_column), [&](index_t first, index_t last) {
      for (index_t j = first; j < last; ++j) {
        T* gwj = gw + j * n;
        for (index_t c = by_column.column_offsets[j]; c < by_column.column_offsets[j + 1]; ++c) {
          const index_t e = by_column.entries[c];
          if (values[e] != T(0)) detail::add_scaled_row(gwj, values[e], gy + index_t(by_column.entry_rows[e]) * n, n);
        }
      }
    });
  }
  if (gbias != nullptr) add_column_sums(gy, gbias, s.rows, n);
}

}  // namespace ranklens::cpu
