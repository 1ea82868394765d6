#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/bias.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/low_rank_gemm.hpp"
#include "ranklens/cpu/thin_gemm.hpp"

namespace cpu_test_thin_gemm {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

// Runs thin_gemm through cpu::gemm (or gemm_plus_bias) with padded leading dimensions and
// checks every element of C against the definition in long double, and that the padding is
// left alone.
void check_thin(bool transposed_b, index_t m, index_t n, index_t k, float alpha, float beta, bool with_bias) {
  INFO("transposed_b " << transposed_b << " m " << m << " n " << n << " k " << k << " alpha " << alpha << " beta " << beta
                       << " bias " << with_bias);
  REQUIRE(thin_gemm_suits(m, n, k) == bool(RANKLENS_THIN_GEMM));
  const index_t lda = k + 3, ldb = (transposed_b ? k : n) + 5, ldc = n + 7;
  const auto a = random_vector<float>(m * lda, -1, 1, 11);
  const auto b = random_vector<float>((transposed_b ? n : k) * ldb, -1, 1, 12);
  const auto bias = random_vector<float>(n, -1, 1, 13);
  auto c = random_vector<float>(m * ldc, -1, 1, 14);
  const auto c0 = c;
  const cpu::transpose tb = transposed_b ? cpu::transpose::yes : cpu::transpose::no;
  if (with_bias)
    gemm_plus_bias<float>(tb, m, n, k, a.data(), lda, b.data(), ldb, bias.data(), c.data(), ldc);
  else
    gemm<float>(cpu::transpose::no, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  const ld tolerance = 4 * ld(std::numeric_limits<float>::epsilon()) * ld(k + 2) * ld(k + 2);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < ldc; ++j) {
      const std::size_t e = std::size_t(i * ldc + j);
      if (j >= n) {
        REQUIRE(c[e] == c0[e]);
        continue;
      }
      ld dot = 0;
      for (index_t p = 0; p < k; ++p) dot += ld(a[i * lda + p]) * ld(transposed_b ? b[j * ldb + p] : b[p * ldb + j]);
      const ld want = with_bias ? dot + bias[j] : ld(alpha) * dot + (beta == 0 ? 0 : ld(beta) * c0[e]);
      REQUIRE(std::fabs(ld(c[e]) - want) <= tolerance);
    }
}

}  // namespace

// Row counts around the 6-row tile (full tiles, every tail), widths of one to sixteen 16-column
// vectors (full 64-column panels and every narrower last panel), k from 1 up to the limit, in
// one 128-term block or several (even and uneven); the kernel takes 256 rows and more.
TEST_CASE("thin gemm matches the definition for tile tails, panel tails and both layouts of B", "[cpu][blas]") {
  const index_t shapes[][3] = {{16, 16, 1}, {17, 32, 3}, {23, 48, 16}, {64, 64, 17}, {67, 80, 64},
                               {71, 192, 64}, {100, 256, 256}, {20, 1024, 5}, {66, 112, 1024},
                               {21, 64, 129}, {35, 128, 300}};
  for (bool transposed_b : {false, true})
    for (const auto& s : shapes) {
      const index_t m = s[0] + 240;
      check_thin(transposed_b, m, s[1], s[2], 1.0f, 0.0f, false);
      check_thin(transposed_b, m, s[1], s[2], -0.5f, 2.0f, false);
      check_thin(transposed_b, m, s[1], s[2], 1.0f, 0.0f, true);
    }
}

TEST_CASE("thin gemm splits rows over 1, 2 and 3 threads with the same result", "[cpu][blas]") {
  const int before = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    check_thin(false, 2000, 64, 64, 1.0f, 1.0f, false);
    check_thin(true, 1999, 192, 64, 1.0f, 0.0f, true);
    check_thin(false, 1001, 48, 100, 2.0f, 0.0f, false);
    // Several blocks of 16 tiles in one chunk, each through several k blocks.
    check_thin(false, 2003, 80, 300, 1.0f, 1.0f, false);
    check_thin(true, 1999, 192, 1024, -0.5f, 2.0f, false);
  }
  set_num_threads(before);
}

namespace {

// gemm_plus_low_rank (the thin GEMM adding U·V as it stores C) against the product first and
// add_low_rank_rows after: the same bits. And add_low_rank_rows against the definition.
void check_low_rank_term(bool transposed_b, index_t m, index_t n, index_t k, index_t rank, float beta, bool with_bias) {
  INFO("transposed_b " << transposed_b << " m " << m << " n " << n << " k " << k << " rank " << rank << " beta " << beta << " bias "
                       << with_bias);
  const index_t lda = k + 3, ldb = (transposed_b ? k : n) + 5, ldc = n + 7;
  const auto a = random_vector<float>(m * lda, -1, 1, 31);
  const auto b = random_vector<float>((transposed_b ? n : k) * ldb, -1, 1, 32);
  const auto bias = random_vector<float>(n, -1, 1, 33);
  const auto u = random_vector<float>(m * rank, -1, 1, 34);
  const auto v = random_vector<float>(rank * n, -1, 1, 35);
  const auto c0 = random_vector<float>(m * ldc, -1, 1, 36);
  const cpu::transpose tb = transposed_b ? cpu::transpose::yes : cpu::transpose::no;
  auto fused = c0, after = c0;
  gemm_plus_low_rank<float>(tb, m, n, k, a.data(), lda, b.data(), ldb, beta, with_bias ? bias.data() : nullptr, u.data(), v.data(), rank,
                            fused.data(), ldc);
  if (with_bias)
    gemm_plus_bias<float>(tb, m, n, k, a.data(), lda, b.data(), ldb, bias.data(), after.data(), ldc);
  else
    gemm<float>(cpu::transpose::no, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, beta, after.data(), ldc);
  const auto product = after;
  add_low_rank_rows<float>(u.data(), v.data(), after.data(), m, n, rank, ldc);
  for (std::size_t e = 0; e < fused.size(); ++e) REQUIRE(fused[e] == after[e]);  // padding included
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      ld want = product[std::size_t(i * ldc + j)];
      for (index_t q = 0; q < rank; ++q) want += ld(u[std::size_t(i * rank + q)]) * ld(v[std::size_t(q * n + j)]);
      REQUIRE(std::fabs(ld(after[std::size_t(i * ldc + j)]) - want) <= 8 * ld(std::numeric_limits<float>::epsilon()) * ld(rank + 2));
    }
}

}  // namespace

TEST_CASE("thin gemm adds a low-rank term as it stores C, the bits of adding it afterwards", "[cpu][blas]") {
  const int before = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (bool transposed_b : {false, true}) {
      check_low_rank_term(transposed_b, 300, 80, 64, 1, 0.0f, false);   // one k block
      check_low_rank_term(transposed_b, 301, 80, 64, 1, 0.0f, true);
      check_low_rank_term(transposed_b, 1001, 128, 300, 3, 1.0f, false);  // three k blocks
      check_low_rank_term(transposed_b, 997, 48, 129, 2, 0.0f, true);
      check_low_rank_term(transposed_b, 257, 40, 32, 1, 1.0f, false);  // n not a multiple of 16: BLAS, then the pass
      check_low_rank_term(transposed_b, 50, 64, 32, 4, 0.0f, true);    // too few rows: BLAS
    }
  }
  set_num_threads(before);
  std::vector<float> c(256 * 16), a(256), b(16), u(256), v(16);
  CHECK_THROWS_WITH(gemm_plus_low_rank<float>(cpu::transpose::no, 256, 16, 1, a.data(), 1, b.data(), 16, 1.0f, b.data(), u.data(), v.data(),
                                              1, c.data(), 16),
                    Catch::Contains("gemm_plus_low_rank") && Catch::Contains("beta"));
}

TEST_CASE("thin gemm with beta = 0 ignores whatever C held, NaN included", "[cpu][blas]") {
  const index_t m = 256, n = 16, k = 2;
  std::vector<float> a(std::size_t(m * k), 1.0f), b(std::size_t(k * n), 0.5f);
  std::vector<float> c(std::size_t(m * n), std::numeric_limits<float>::quiet_NaN());
  gemm<float>(cpu::transpose::no, cpu::transpose::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  for (float v : c) REQUIRE(v == 1.0f);
}

TEST_CASE("thin gemm takes only the extents it is built for", "[cpu][blas]") {
  CHECK_FALSE(thin_gemm_suits(255, 64, 64));   // attention's blocks stay with OpenBLAS
  CHECK_FALSE(thin_gemm_suits(1000, 40, 64));  // n not a multiple of 16
  CHECK_FALSE(thin_gemm_suits(1000, 2048, 64));
  CHECK_FALSE(thin_gemm_suits(1000, 64, 2048));
  CHECK_FALSE(thin_gemm_suits(1000, 64, 0));
  CHECK(thin_gemm_suits(256, 64, 64) == bool(RANKLENS_THIN_GEMM));
  CHECK(thin_gemm_suits(8192, 256, 1024) == bool(RANKLENS_THIN_GEMM));
}

TEST_CASE("gemm_plus_bias rejects a C row shorter than n before writing anything", "[cpu][blas]") {
  std::vector<float> a(64 * 8, 1.0f), b(8 * 40, 1.0f), bias(40, 1.0f), c(64 * 40, 7.0f);
  CHECK_THROWS_AS(gemm_plus_bias<float>(cpu::transpose::no, 64, 40, 8, a.data(), 8, b.data(), 40, bias.data(), c.data(), 39),
                  ranklens::shape_error);
  for (float v : c) REQUIRE(v == 7.0f);
}

TEST_CASE("gemm_plus_bias adds the bias to every row when BLAS does the product", "[cpu][blas]") {
  // n = 40 is not for the thin kernel: the fill-then-accumulate path, with a padded C.
  const index_t m = 70, n = 40, k = 9, ldc = 43;
  const auto a = random_vector<float>(m * k, -1, 1, 21);
  const auto b = random_vector<float>(k * n, -1, 1, 22);
  const auto bias = random_vector<float>(n, -1, 1, 23);
  std::vector<float> c(std::size_t(m * ldc), 7.0f);
  gemm_plus_bias<float>(cpu::transpose::no, m, n, k, a.data(), k, b.data(), n, bias.data(), c.data(), ldc);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < ldc; ++j) {
      if (j >= n) {
        REQUIRE(c[std::size_t(i * ldc + j)] == 7.0f);
        continue;
      }
      ld dot = bias[j];
      for (index_t p = 0; p < k; ++p) dot += ld(a[i * k + p]) * ld(b[p * n + j]);
      REQUIRE(std::fabs(ld(c[std::size_t(i * ldc + j)]) - dot) <= 1e-5L);
    }
}

}  // namespace cpu_test_thin_gemm
