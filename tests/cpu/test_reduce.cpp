#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/reduce.hpp"

namespace cpu_test_reduce {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

struct view {
  index_t outer, n, inner;
};

// (outer, n, inner) shapes covering the last-axis, leading-axis and general paths, with odd
// extents and some large enough to be split over threads.
const view views[] = {{1, 0, 1},  {3, 0, 4},      {0, 5, 2},      {1, 1, 1},   {1, 7, 1},
                      {5, 17, 1}, {1, 100003, 1}, {37, 1000, 1},  {1, 17, 33}, {1, 4099, 257},
                      {3, 7, 5},  {6, 33, 17},    {2, 1000, 130}, {1, 1, 9}};

}  // namespace

TEMPLATE_TEST_CASE("sum_axis matches a long-double sum on every path", "[cpu][reduce]", float,
                   double) {
  using T = TestType;
  for (const auto& v : views) {
    INFO("outer " << v.outer << " n " << v.n << " inner " << v.inner);
    const auto x = random_vector<T>(v.outer * v.n * v.inner, -1, 1, 3);
    std::vector<T> y(static_cast<std::size_t>(v.outer * v.inner), T(-99));
    sum_axis(x.data(), y.data(), v.outer, v.n, v.inner);
    for (index_t o = 0; o < v.outer; ++o)
      for (index_t k = 0; k < v.inner; ++k) {
        ld want = 0, magnitude = 0;
        for (index_t j = 0; j < v.n; ++j) {
          want += x[std::size_t((o * v.n + j) * v.inner + k)];
          magnitude += std::fabs(ld(x[std::size_t((o * v.n + j) * v.inner + k)]));
        }
        const ld got = y[std::size_t(o * v.inner + k)];
        // Blocked accumulation: error a few ulp of the sum of magnitudes, far below n ulp.
        REQUIRE(std::fabs(got - want) <= 8 * epsilon_of<T>() * (magnitude + 1));
      }
  }
}

TEST_CASE("a float sum of a million values stays accurate", "[cpu][reduce]") {
  // 0.1f a million times: naive float accumulation drifts by ~1%.
  const std::vector<float> x(1000000, 0.1f);
  const double want = 1000000.0 * double(0.1f);
  CHECK(std::fabs(sum_all(x.data(), index_t(x.size())) - want) <= 1e-6 * want);
  float column = 0;
  sum_axis(x.data(), &column, 1, index_t(x.size()), 1);
  CHECK(std::fabs(column - want) <= 1e-6 * want);
  std::vector<float> columns(10);
  sum_axis(x.data(), columns.data(), 1, 100000, 10);
  CHECK(std::fabs(columns[3] - want / 10) <= 1e-6 * want / 10);
}

TEMPLATE_TEST_CASE("sum_all matches a long-double sum", "[cpu][reduce]", float, double) {
  using T = TestType;
  for (index_t n : odd_sizes) {
    const auto x = random_vector<T>(n, -1, 1, 5);
    ld want = 0, magnitude = 0;
    for (T v : x) {
      want += v;
      magnitude += std::fabs(ld(v));
    }
    REQUIRE(std::fabs(ld(sum_all(x.data(), n)) - want) <= 8 * epsilon_of<T>() * (magnitude + 1));
  }
}

TEMPLATE_TEST_CASE("sum_of_squares matches a long-double sum of squares, tails and thread splits included", "[cpu][reduce]", float, double) {
  using T = TestType;
  for (index_t n : odd_sizes) {
    const auto x = random_vector<T>(n, -2, 2, 7);
    ld want = 0;
    for (T v : x) want += ld(v) * ld(v);
    T got = T(-7);
    sum_of_squares(x.data(), n, &got);
    REQUIRE(std::fabs(ld(got) - want) <= 8 * epsilon_of<T>() * (want + 1));
  }
  T none = T(-7);
  sum_of_squares<T>(nullptr, 0, &none);
  CHECK(none == T(0));
}

TEMPLATE_TEST_CASE("sum_all into memory writes the returned sum, and its backward adds the one gradient to every element",
                   "[cpu][reduce]", float, double) {
  using T = TestType;
  const auto x = random_vector<T>(1001, -1, 1, 6);
  T total = T(-7);
  sum_all(x.data(), index_t(x.size()), &total);
  CHECK(total == sum_all(x.data(), index_t(x.size())));

  const T gy = T(0.25);
  std::vector<T> gx = {T(1), T(2), T(3)};
  sum_all_backward(&gy, gx.data(), 3);
  CHECK(gx == std::vector<T>{T(1.25), T(2.25), T(3.25)});
}

TEMPLATE_TEST_CASE("sum_axis_backward broadcasts gy over the reduced axis and accumulates",
                   "[cpu][reduce]", float, double) {
  using T = TestType;
  for (const auto& v : views) {
    INFO("outer " << v.outer << " n " << v.n << " inner " << v.inner);
    const auto gy = random_vector<T>(v.outer * v.inner, -1, 1, 7);
    const auto gx0 = random_vector<T>(v.outer * v.n * v.inner, -1, 1, 8);
    auto gx = gx0;
    sum_axis_backward(gy.data(), gx.data(), v.outer, v.n, v.inner);
    for (index_t o = 0; o < v.outer; ++o)
      for (index_t j = 0; j < v.n; ++j)
        for (index_t k = 0; k < v.inner; ++k) {
          const std::size_t i = std::size_t((o * v.n + j) * v.inner + k);
          REQUIRE(gx[i] == gx0[i] + gy[std::size_t(o * v.inner + k)]);
        }
  }
}

TEMPLATE_TEST_CASE("max_axis finds the first maximum on every path", "[cpu][reduce]", float,
                   double) {
  using T = TestType;
  for (const auto& v : views) {
    if (v.n == 0) continue;
    INFO("outer " << v.outer << " n " << v.n << " inner " << v.inner);
    // Few distinct values, so ties are common and "first index" is really tested.
    auto x = random_vector<T>(v.outer * v.n * v.inner, -4, 4, 9);
    for (auto& e : x) e = std::round(e);
    std::vector<T> y(static_cast<std::size_t>(v.outer * v.inner));
    std::vector<index_t> arg(y.size(), -1);
    max_axis(x.data(), y.data(), arg.data(), v.outer, v.n, v.inner);
    for (index_t o = 0; o < v.outer; ++o)
      for (index_t k = 0; k < v.inner; ++k) {
        index_t best = 0;
        for (index_t j = 1; j < v.n; ++j)
          if (x[std::size_t((o * v.n + j) * v.inner + k)] >
              x[std::size_t((o * v.n + best) * v.inner + k)])
            best = j;
        const std::size_t out = std::size_t(o * v.inner + k);
        REQUIRE(arg[out] == best);
        REQUIRE(y[out] == x[std::size_t((o * v.n + best) * v.inner + k)]);
      }
  }
}

TEMPLATE_TEST_CASE("max_axis propagates NaN and handles -inf, padding and empty axes",
                   "[cpu][reduce]", float, double) {
  using T = TestType;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  SECTION("last axis: the first NaN wins") {
    std::vector<T> x(37, T(1));
    x[20] = nan;
    x[30] = nan;
    x[5] = T(7);
    T y;
    index_t arg;
    max_axis(x.data(), &y, &arg, 1, 37, 1);
    CHECK(std::isnan(y));
    CHECK(arg == 20);
  }
  SECTION("leading axis: NaN per column") {
    std::vector<T> x = {1, 2, nan, 4, 5, 6};  // (n=3, inner=2)
    std::vector<T> y(2);
    std::vector<index_t> arg(2);
    max_axis(x.data(), y.data(), arg.data(), 1, 3, 2);
    CHECK(std::isnan(y[0]));
    CHECK(arg[0] == 1);
    CHECK(y[1] == 6);
    CHECK(arg[1] == 2);
  }
  SECTION("all negative values: zero padding of a ragged vector must not win") {
    std::vector<T> x(19);
    for (index_t i = 0; i < 19; ++i) x[std::size_t(i)] = T(-100 - i);
    x[3] = T(-1);
    T y;
    index_t arg;
    max_axis(x.data(), &y, &arg, 1, 19, 1);
    CHECK(y == T(-1));
    CHECK(arg == 3);
  }
  SECTION("all -inf") {
    std::vector<T> x(5, -inf);
    T y;
    max_axis(x.data(), &y, nullptr, 1, 5, 1);
    CHECK(y == -inf);
  }
  SECTION("an empty axis is an error") {
    T y;
    CHECK_THROWS_AS(max_axis<T>(nullptr, &y, nullptr, 1, 0, 1), ranklens::shape_error);
  }
}

TEMPLATE_TEST_CASE("max_axis_backward sends each gradient to its argmax", "[cpu][reduce]", float,
                   double) {
  using T = TestType;
  const index_t outer = 2, n = 3, inner = 2;
  const std::vector<index_t> arg = {2, 0, 1, 1};
  const std::vector<T> gy = {1, 2, 3, 4};
  std::vector<T> gx(12, T(10));
  max_axis_backward(arg.data(), gy.data(), gx.data(), outer, n, inner);
  const std::vector<T> want = {10, 12, 10, 10, 11, 10,   // o = 0: (j=2,k=0) += 1, (j=0,k=1) += 2
                               10, 10, 13, 14, 10, 10};  // o = 1: (j=1,k=0) += 3, (j=1,k=1) += 4
  CHECK(gx == want);
  const std::vector<index_t> bad = {3, 0, 0, 0};
  CHECK_THROWS_AS(max_axis_backward(bad.data(), gy.data(), gx.data(), outer, n, inner),
                  ranklens::value_error);
}

TEST_CASE("sums are identical whatever the thread count", "[cpu][reduce]") {
  const auto x = random_vector<float>(5000 * 129, -1, 1, 4);
  const int before = num_threads();
  std::vector<std::vector<float>> columns;
  std::vector<float> totals;
  for (int threads : {1, 2, 5}) {
    set_num_threads(threads);
    std::vector<float> y(129);
    sum_axis(x.data(), y.data(), 1, 5000, 129);
    columns.push_back(y);
    totals.push_back(sum_all(x.data(), index_t(x.size())));
  }
  set_num_threads(before);
  CHECK(columns[0] == columns[1]);
  CHECK(columns[0] == columns[2]);
  CHECK(totals[0] == totals[1]);
  CHECK(totals[0] == totals[2]);
}

}  // namespace cpu_test_reduce
