#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/blas.hpp"

namespace cpu_test_blas {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

// C = alpha op(A) op(B) + beta C, row-major, in long double, straight from the definition.
template <class T>
std::vector<ld> gemm_ref(transpose ta, transpose tb, index_t m, index_t n, index_t k, ld alpha,
                         const T* a, index_t lda, const T* b, index_t ldb, ld beta, const T* c,
                         index_t ldc) {
  std::vector<ld> out(static_cast<std::size_t>(m * ldc));
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      ld dot = 0;
      for (index_t p = 0; p < k; ++p) {
        const ld av = ta == cpu::transpose::no ? a[i * lda + p] : a[p * lda + i];
        const ld bv = tb == cpu::transpose::no ? b[p * ldb + j] : b[j * ldb + p];
        dot += av * bv;
      }
      out[std::size_t(i * ldc + j)] = alpha * dot + (beta == 0 ? 0 : beta * ld(c[i * ldc + j]));
    }
  return out;
}

// Runs one gemm with padded leading dimensions and checks every element of C, padding
// included (it must be left alone).
template <class T>
void check_gemm(transpose ta, transpose tb, index_t m, index_t n, index_t k, T alpha, T beta) {
  INFO("ta " << int(ta) << " tb " << int(tb) << " m " << m << " n " << n << " k " << k << " alpha "
             << alpha << " beta " << beta);
  const index_t a_rows = ta == cpu::transpose::no ? m : k, a_cols = ta == cpu::transpose::no ? k : m;
  const index_t b_rows = tb == cpu::transpose::no ? k : n, b_cols = tb == cpu::transpose::no ? n : k;
  const index_t lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2;
  const auto a = random_vector<T>(std::max<index_t>(a_rows * lda, 1), -1, 1, 1);
  const auto b = random_vector<T>(std::max<index_t>(b_rows * ldb, 1), -1, 1, 2);
  auto c = random_vector<T>(std::max<index_t>(m * ldc, 1), -1, 1, 3);
  const auto c0 = c;
  const auto want =
      gemm_ref(ta, tb, m, n, k, ld(alpha), a.data(), lda, b.data(), ldb, ld(beta), c0.data(), ldc);
  gemm<T>(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < ldc; ++j) {
      const std::size_t e = std::size_t(i * ldc + j);
      if (j >= n) {
        REQUIRE(c[e] == c0[e]);
      } else {
        // A dot product of k terms of magnitude <= 1: error ~ k ulp of k in the worst case.
        REQUIRE(std::fabs(c[e] - want[e]) <= 4 * epsilon_of<T>() * ld(k + 2) * ld(k + 2));
      }
    }
}

}  // namespace

TEMPLATE_TEST_CASE("gemm matches the definition for every transpose and odd sizes", "[cpu][blas]",
                   float, double) {
  using T = TestType;
  const index_t sizes[][3] = {{1, 1, 1}, {7, 17, 3}, {17, 7, 33}, {64, 65, 66}, {130, 3, 257}};
  for (auto ta : {cpu::transpose::no, cpu::transpose::yes})
    for (auto tb : {cpu::transpose::no, cpu::transpose::yes})
      for (const auto& s : sizes) {
        check_gemm<T>(ta, tb, s[0], s[1], s[2], T(1), T(0));
        check_gemm<T>(ta, tb, s[0], s[1], s[2], T(-0.5), T(2));
      }
}

// Products big enough for cpu::gemm to spread over the pool, by rows (m large), by columns
// (n large) and over k (both narrow, or k the longest: a weight gradient), checked element by
// element on 2 and 3 threads. In double, where the bound above is tight enough that a lost or
// doubled partial product would fail it.
TEST_CASE("gemm split over the pool by rows, columns or k matches the definition", "[cpu][blas]") {
  const int before = num_threads();
  const index_t shapes[][3] = {{1500, 5, 700}, {6, 1500, 700}, {7, 9, 70001}, {300, 260, 1200}};
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    CHECK(cpu::detail::choose_product_split(shapes[0][0], shapes[0][1], shapes[0][2], threads) == cpu::detail::product_split::rows);
    CHECK(cpu::detail::choose_product_split(shapes[1][0], shapes[1][1], shapes[1][2], threads) == cpu::detail::product_split::columns);
    CHECK(cpu::detail::choose_product_split(shapes[2][0], shapes[2][1], shapes[2][2], threads) == cpu::detail::product_split::inner);
    CHECK(cpu::detail::choose_product_split(shapes[3][0], shapes[3][1], shapes[3][2], threads) == cpu::detail::product_split::inner);
    CHECK(cpu::detail::choose_product_split(256, 1024, 1024, threads) == cpu::detail::product_split::inner);
    CHECK(cpu::detail::choose_product_split(2048, 1024, 1024, threads) == cpu::detail::product_split::rows);
    for (auto ta : {cpu::transpose::no, cpu::transpose::yes})
      for (auto tb : {cpu::transpose::no, cpu::transpose::yes})
        for (const auto& s : shapes) check_gemm<double>(ta, tb, s[0], s[1], s[2], -0.5, 2.0);
  }
  set_num_threads(before);
}

TEMPLATE_TEST_CASE("gemm with zero extents", "[cpu][blas]", float, double) {
  using T = TestType;
  SECTION("k = 0 scales C by beta") {
    std::vector<T> c = {1, 2, 3, 4, 5, 6};
    gemm<T>(cpu::transpose::no, cpu::transpose::no, 2, 3, 0, T(1), nullptr, 1, nullptr, 3, T(2), c.data(), 3);
    CHECK(c == std::vector<T>{2, 4, 6, 8, 10, 12});
  }
  SECTION("k = 0 and beta = 0 clears C, even NaN") {
    std::vector<T> c(6, std::numeric_limits<T>::quiet_NaN());
    gemm<T>(cpu::transpose::no, cpu::transpose::yes, 2, 3, 0, T(1), nullptr, 1, nullptr, 1, T(0), c.data(),
            3);
    CHECK(c == std::vector<T>(6, T(0)));
  }
  SECTION("beta = 0 ignores whatever C held") {
    const std::vector<T> a = {1, 2}, b = {3, 4};
    std::vector<T> c(4, std::numeric_limits<T>::quiet_NaN());
    gemm<T>(cpu::transpose::no, cpu::transpose::no, 2, 2, 1, T(1), a.data(), 1, b.data(), 2, T(0), c.data(),
            2);
    CHECK(c == std::vector<T>{3, 4, 6, 8});
  }
  SECTION("m = 0 or n = 0 touches nothing") {
    std::vector<T> c = {7};
    gemm<T>(cpu::transpose::no, cpu::transpose::no, 0, 1, 5, T(1), nullptr, 5, nullptr, 1, T(0), c.data(), 1);
    gemm<T>(cpu::transpose::no, cpu::transpose::no, 1, 0, 5, T(1), nullptr, 5, nullptr, 1, T(0), c.data(), 1);
    CHECK(c[0] == 7);
  }
}

TEST_CASE("gemm rejects leading dimensions that do not fit", "[cpu][blas]") {
  std::vector<float> a(100), b(100), c(100);
  CHECK_THROWS_AS(gemm<float>(cpu::transpose::no, cpu::transpose::no, 4, 5, 6, 1, a.data(), 5, b.data(), 5, 0,
                              c.data(), 5),
                  ranklens::shape_error);  // lda < k
  CHECK_THROWS_AS(gemm<float>(cpu::transpose::yes, cpu::transpose::no, 4, 5, 6, 1, a.data(), 3, b.data(), 5,
                              0, c.data(), 5),
                  ranklens::shape_error);  // lda < m for A^T
  CHECK_THROWS_AS(gemm<float>(cpu::transpose::no, cpu::transpose::yes, 4, 5, 6, 1, a.data(), 6, b.data(), 5,
                              0, c.data(), 5),
                  ranklens::shape_error);  // ldb < k for B^T
  CHECK_THROWS_AS(gemm<float>(cpu::transpose::no, cpu::transpose::no, 4, 5, 6, 1, a.data(), 6, b.data(), 5, 0,
                              c.data(), 4),
                  ranklens::shape_error);  // ldc < n
  CHECK_THROWS_AS(gemm<float>(cpu::transpose::no, cpu::transpose::no, -1, 5, 6, 1, a.data(), 6, b.data(), 5,
                              0, c.data(), 5),
                  ranklens::shape_error);
}

TEMPLATE_TEST_CASE("gemm_strided_batched equals one gemm per batch entry, small and large",
                   "[cpu][blas]", float, double) {
  using T = TestType;
  // Small products take the thread-pool path, large ones the one-after-another path.
  const index_t shapes[][4] = {
      {1, 3, 5, 7}, {37, 5, 6, 7}, {300, 8, 8, 8}, {3, 130, 150, 140}, {3, 260, 250, 240}};
  const int before = num_threads();
  set_num_threads(4);  // so that 3 large products take the one-after-another path
  CHECK(cpu::detail::split_batch_over_pool(37, 5 * 6 * 7, 4));
  CHECK_FALSE(cpu::detail::split_batch_over_pool(3, 260.0 * 250 * 240, 4));
  CHECK(cpu::detail::split_batch_over_pool(8, 260.0 * 250 * 240, 4));
  CHECK_FALSE(cpu::detail::split_batch_over_pool(1, 10, 4));
  CHECK_FALSE(cpu::detail::split_batch_over_pool(100, 10, 1));
  for (const auto& s : shapes) {
    const index_t batch = s[0], m = s[1], n = s[2], k = s[3];
    INFO("batch " << batch << " m " << m << " n " << n << " k " << k);
    // A^T (k, m) and B (k, n), with gaps between batch entries.
    const index_t sa = k * m + 5, sb = k * n + 3, sc = m * n + 7;
    const auto a = random_vector<T>(batch * sa, -1, 1, 1);
    const auto b = random_vector<T>(batch * sb, -1, 1, 2);
    auto c = random_vector<T>(batch * sc, -1, 1, 3);
    auto expected = c;
    for (index_t i = 0; i < batch; ++i)
      gemm<T>(cpu::transpose::yes, cpu::transpose::no, m, n, k, T(0.5), a.data() + i * sa, m,
              b.data() + i * sb, n, T(1), expected.data() + i * sc, n);
    gemm_strided_batched<T>(cpu::transpose::yes, cpu::transpose::no, m, n, k, T(0.5), a.data(), m, b.data(),
                            n, T(1), c.data(), n, batch, sa, sb, sc);
    for (std::size_t i = 0; i < c.size(); ++i)
      REQUIRE(std::fabs(ld(c[i]) - ld(expected[i])) <= 8 * epsilon_of<T>() * ld(k));
  }
  set_num_threads(before);
}

TEST_CASE("gemm_strided_batched leaves OpenBLAS' thread count as it found it", "[cpu][blas]") {
  const int before = openblas_get_num_threads();
  std::vector<float> a(64 * 16, 1.0f), b(64 * 16, 1.0f), c(64 * 16, 0.0f);
  gemm_strided_batched<float>(cpu::transpose::no, cpu::transpose::no, 4, 4, 4, 1, a.data(), 4, b.data(), 4, 0,
                              c.data(), 4, 64, 16, 16, 16);
  CHECK(openblas_get_num_threads() == before);
  CHECK(c[0] == 4.0f);
}

TEST_CASE("check_openblas_core names the core and flags generic ones", "[cpu][blas]") {
  const std::string name = check_openblas_core();
  CHECK(!name.empty());
  CHECK(name == openblas_core_name());
  CHECK(cpu::detail::is_pre_avx2_core("Prescott"));
  CHECK(cpu::detail::is_pre_avx2_core("CORE2"));
  CHECK(cpu::detail::is_pre_avx2_core("katmai"));
  CHECK_FALSE(cpu::detail::is_pre_avx2_core("Haswell"));
  CHECK_FALSE(cpu::detail::is_pre_avx2_core("SkylakeX"));
  CHECK_FALSE(cpu::detail::is_pre_avx2_core("Zen"));
  const auto better = openblas_recommended_coretype();
  CHECK((better == "SkylakeX" || better == "Haswell" || better.empty()));
}

}  // namespace cpu_test_blas
