// The argument contract of a row-major matrix product, shared by cpu::gemm and cuda::gemm:
//   C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C,
// op(A) = A stored (m, k) with lda >= k, or A transposed, stored (k, m) with lda >= m; likewise
// B. Both BLAS libraries behind them (CBLAS, cuBLAS) take int extents. No SIMD here, so that
// nvcc can include it.
#pragma once
#include <algorithm>
#include <climits>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::cpu {

enum class transpose { no, yes };

namespace detail {

// Checks extents and leading dimensions of a row-major GEMM, and that BLAS' int holds them.
inline void check_gemm(const char* kernel, transpose ta, transpose tb, index_t m, index_t n,
                       index_t k, index_t lda, index_t ldb, index_t ldc) {
  auto fail = [&](const std::string& what) {
    throw shape_error(std::string(kernel) + ": " + what + " (m=" + std::to_string(m) +
                      ", n=" + std::to_string(n) + ", k=" + std::to_string(k) +
                      ", lda=" + std::to_string(lda) + ", ldb=" + std::to_string(ldb) +
                      ", ldc=" + std::to_string(ldc) + ")");
  };
  if (m < 0 || n < 0 || k < 0) fail("negative extent");
  const index_t a_cols = ta == transpose::no ? k : m;
  const index_t b_cols = tb == transpose::no ? n : k;
  if (lda < std::max<index_t>(a_cols, 1)) fail("lda is smaller than a row of A");
  if (ldb < std::max<index_t>(b_cols, 1)) fail("ldb is smaller than a row of B");
  if (ldc < std::max<index_t>(n, 1)) fail("ldc is smaller than a row of C");
  for (index_t v : {m, n, k, lda, ldb, ldc})
    if (v > INT_MAX) fail("an extent exceeds what BLAS can address (int)");
}

}  // namespace detail
}  // namespace ranklens::cpu
