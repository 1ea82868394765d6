// The backward of a sparse autoencoder's encoder at its active entries only. The forward,
// pre = x̃ · W + b with W: (n, m) (SAELens' W_enc layout), is one dense product: every
// pre-activation is needed to choose the top k. But only the k chosen entries per row carry a
// gradient g_e (∂loss/∂pre at entry e), so the backward costs k·n per row instead of m·n:
//
//   gb[j]    += Σ_{e in column j} g_e
//   gW[:, j] += Σ_{e in column j} g_e · x̃[r_e]                  (column j of W; Gao et al.'s sparse transpose)
//   gx̃[r]   += Σ_{e in row r} g_e · W[:, j_e]
//   gc       −= W · (Σ_{e in column j} g_e)_j                   x̃ = x − c: the centring bias, summed
//                                                                 over rows before the product
//
// gW is built 16 columns at a time in a small buffer and then added row by row, so each row of
// gW is touched in whole cache lines although W's columns are strided in memory.
#pragma once
#include <algorithm>

#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/sparse_decode.hpp"

namespace ranklens::cpu {

// g: one gradient per entry of s; xt: (s.rows, n); w: (n, s.cols). Adds into whichever of
// gx (s.rows, n), gw (n, s.cols), gb (s.cols) and gc (n) are not nullptr; gw, gb and gc need
// by_column (group_by_column of s).
template <Real T>
void sparse_encode_backward(const CompressedRows& s, const EntriesByColumn& by_column, const T* g, const T* xt, const T* w, index_t n,
                            optional_out<T> gx, optional_out<T> gw, optional_out<T> gb, optional_out<T> gc) {
  detail::require_extents("sparse_encode_backward", s.rows, n);
  const index_t m = s.cols, nnz = s.entries();
  if (gb != nullptr || gc != nullptr) {
    // Column sums of the gradient, in row order per column.
    const std::span<T> sums = thread_scratch<T>(scratch_slot::totals, std::size_t(m));
    parallel_for(m, 4096, [&](index_t first, index_t last) {
      for (index_t j = first; j < last; ++j) {
        T total = 0;
        for (index_t c = by_column.column_offsets[j]; c < by_column.column_offsets[j + 1]; ++c) total += g[by_column.entries[c]];
        sums[std::size_t(j)] = total;
      }
    });
    if (gb != nullptr)
      for (index_t j = 0; j < m; ++j) gb[j] += sums[std::size_t(j)];
    if (gc != nullptr)
      parallel_for(n, detail::rows_per_chunk(double(m)), [&](index_t first, index_t last) {
        for (index_t i = first; i < last; ++i) gc[i] -= T(detail::dot_row(w + i * m, sums.data(), m));
      });
  }
  if (gw != nullptr) {
    constexpr index_t block = 16;
    const index_t blocks = (m + block - 1) / block;
    const double per_block = m > 0 ? double(nnz) / double(blocks) * double(n) + double(block * n) : 0;
    parallel_for(blocks, detail::rows_per_chunk(per_block), [&](index_t first, index_t last) {
      const std::span<T> columns = thread_scratch<T>(scratch_slot::block, std::size_t(block * n));
      for (index_t b = first; b < last; ++b) {
        const index_t j0 = b * block, width = std::min(block, m - j0);
        bool used[block] = {};
        bool any = false;
        for (index_t jj = 0; jj < width; ++jj) {
          T* column = columns.data() + jj * n;
          const index_t j = j0 + jj;
          for (index_t c = by_column.column_offsets[j]; c < by_column.column_offsets[j + 1]; ++c) {
            const index_t e = by_column.entries[c];
            if (g[e] == T(0)) continue;
            if (!used[jj]) {
              std::fill(column, column + n, T(0));
              used[jj] = any = true;
            }
            detail::add_scaled_row(column, g[e], xt + index_t(by_column.entry_rows[e]) * n, n);
          }
        }
        if (!any) continue;
        for (index_t i = 0; i < n; ++i) {
          T* row = gw + i * m + j0;
          for (index_t jj = 0; jj < width; ++jj)
            if (used[jj]) row[jj] += columns[std::size_t(jj * n + i)];
        }
      }
    });
  }
  if (gx != nullptr) {
    const double per_row = s.rows > 0 ? double(nnz) / double(s.rows) * double(n) : 0;
    parallel_for(s.rows, detail::rows_per_chunk(per_row), [&](index_t first, index_t last) {
      for (index_t r = first; r < last; ++r) {
        const index_t begin = s.row_offsets[r], end = s.row_offsets[r + 1];
        T* gxr = gx + r * n;
        for (index_t i = 0; i < n; ++i) {
          const T* wi = w + i * m;
          T total = 0;
          for (index_t e = begin; e < end; ++e) total += g[e] * wi[s.columns[e]];
          gxr[i] += total;
        }
      }
    });
  }
}

}  // namespace ranklens::cpu
