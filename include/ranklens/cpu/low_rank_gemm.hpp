// A matrix product with a low-rank term added, C = A·op(B) (+ bias) + beta·C + U·V: a layer with
// a LoRA adapter in one call, y = x·Wᵀ + b + (scale·x·Aᵀ)·Bᵀ forward and gx = gy·W +
// (scale·gy·B)·A backward. Where the thin GEMM takes the product, the term is added as each tile
// is stored; the adapter's own pass would read and write all of C once more (the adapters' row
// kernels, that pass included, were about 8% of a d 128 LoRA step's profile). Elsewhere the
// product is followed by that pass, add_low_rank_rows, which adds the term in the same order:
// the same bits either way.
#pragma once
#include "ranklens/cpu/bias.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/low_rank.hpp"
#include "ranklens/cpu/thin_gemm.hpp"

namespace ranklens::cpu {

// C (m, n) = A (m, k) · op(B) (k, n) (+ bias on every row) + beta · C + u · v. A row-major
// (lda ≥ k), B as in gemm; bias null or (n); u (m, rank) and v (rank, n) dense, 1 ≤ rank ≤
// low_rank_max_rank. With a bias, beta must be 0.
template <Real T>
void gemm_plus_low_rank(transpose tb, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb,
                        std::type_identity_t<T> beta, const T* bias, const T* u, const T* v, index_t rank, T* c, index_t ldc) {
  detail::check_gemm("gemm_plus_low_rank", transpose::no, tb, m, n, k, lda, ldb, ldc);  // before C is written
  detail::check_low_rank("gemm_plus_low_rank", m, k, n, rank);
  detail::require(bias == nullptr || beta == T(0), "gemm_plus_low_rank", "a bias needs beta = 0");
  if (m == 0 || n == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (k > 0 && thin_gemm_suits(m, n, k)) {
      thin_gemm(tb == transpose::yes, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, bias, {u, v, rank});
      return;
    }
  }
  if (bias != nullptr) {
    fill_rows(bias, c, m, n, ldc);
    gemm<T>(transpose::no, tb, m, n, k, T(1), a, lda, b, ldb, T(1), c, ldc);
  } else {
    gemm<T>(transpose::no, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
  }
  add_low_rank_rows(u, v, c, m, n, rank, ldc);
}

}  // namespace ranklens::cpu
