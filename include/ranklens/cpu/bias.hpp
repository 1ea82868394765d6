// The two memory passes a bias costs around a matrix product y = x·W + b, when the product
// itself is left to BLAS: filling y's rows with b before a GEMM that accumulates into y (β = 1),
// and the bias gradient, the column sums of dy, added into gb.
#pragma once
#include <cstring>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/reduce.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

// y[r, :] = b for every row.  b: (cols); y: (rows, cols)
template <Real T>
void fill_rows(const T* b, T* y, index_t rows, index_t cols) {
  detail::require_extents("fill_rows", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, 1, [&](index_t r) { std::memcpy(y + r * cols, b, std::size_t(cols) * sizeof(T)); });
}

// gb[j] += Σ_r dy[r, j].  dy: (rows, cols); gb: (cols)
template <Real T>
void add_column_sums(const T* dy, T* gb, index_t rows, index_t cols) {
  detail::require_extents("add_column_sums", rows, cols);
  sum_over_row_blocks<T>(
      rows, cols, std::max<index_t>(parallel_grain(1) / std::max<index_t>(cols, 1), 1),
      [&](index_t first, index_t last, T* partial) { detail::add_rows(dy + first * cols, last - first, cols, partial, cols); },
      [&](index_t j, double total) { gb[j] += T(total); });
}

}  // namespace ranklens::cpu
