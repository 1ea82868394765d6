// A matrix product with a bias, y = x·W + b, and the bias gradient (the column sums of dy,
// added into gb). Our thin GEMM adds b as it stores y; for a product left to BLAS, y's rows are
// filled with b first and the GEMM accumulates onto them (β = 1).
#pragma once
#include <cstring>

#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/reduce.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

// y[r, :] = b for every row.  b: (cols); y: (rows, cols), rows ldy ≥ cols apart (default: dense)
template <Real T>
void fill_rows(const T* b, T* y, index_t rows, index_t cols, index_t ldy = -1) {
  detail::require_extents("fill_rows", rows, cols);
  if (ldy < 0) ldy = cols;
  detail::require(ldy >= cols, "fill_rows", "ldy is smaller than a row");
  if (cols == 0) return;
  parallel_for_rows(rows, cols, 1, [&](index_t r) { std::memcpy(y + r * ldy, b, std::size_t(cols) * sizeof(T)); });
}

// C (m, n) = A (m, k) · op(B) (k, n) + bias on every row; A row-major (lda ≥ k), B as in gemm.
template <Real T>
void gemm_plus_bias(transpose tb, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb,
                    const T* bias, T* c, index_t ldc) {
  detail::check_gemm("gemm_plus_bias", transpose::no, tb, m, n, k, lda, ldb, ldc);  // before C is written
  if constexpr (std::is_same_v<T, float>) {
    if (thin_gemm_suits(m, n, k)) {
      thin_gemm(tb == transpose::yes, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc, bias);
      return;
    }
  }
  fill_rows(bias, c, m, n, ldc);
  gemm<T>(transpose::no, tb, m, n, k, T(1), a, lda, b, ldb, T(1), c, ldc);
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
