#include <atomic>
#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace cpu_test_simd {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

TEMPLATE_TEST_CASE("simd_for visits every element once, full vectors then one partial step",
                   "[cpu][simd]", float, double) {
  using T = TestType;
  for (index_t n : odd_sizes) {
    std::vector<int> seen(static_cast<std::size_t>(n), 0);
    index_t partial_steps = 0;
    simd_for<T>(n, [&](index_t i, auto step) {
      if constexpr (std::is_same_v<decltype(step), partial_step>) ++partial_steps;
      for (index_t k = 0; k < step.count; ++k) ++seen[std::size_t(i + k)];
    });
    CHECK(partial_steps == (n % simd_width<T> != 0 ? 1 : 0));
    for (int s : seen) REQUIRE(s == 1);
  }
}

TEMPLATE_TEST_CASE("partial loads read zeros past the end and partial stores write nothing there",
                   "[cpu][simd]", float, double) {
  using T = TestType;
  std::vector<T> src(static_cast<std::size_t>(simd_width<T>), T(7)), dst(src.size(), T(-1));
  const partial_step step{simd_width<T> - 1};
  const simd<T> v = load(src.data(), step);
  CHECK(v.get(std::size_t(simd_width<T> - 1)) == 0);
  store(dst.data(), v, step);
  CHECK(dst[0] == 7);
  CHECK(dst.back() == -1);
  CHECK(keep_valid<T>(simd<T>(T(3)), partial_step{1}).get(std::size_t(simd_width<T> - 1)) == 0);
}

TEMPLATE_TEST_CASE(
    "simd_sums ignores the lanes past the end, even when the body makes them non-zero",
    "[cpu][simd]", float, double) {
  using T = TestType;
  for (index_t n : odd_sizes) {
    const auto x = random_vector<T>(n, -1, 1, 1);
    // Σ (x + 1) and Σ 2: the padded zeros would turn into 1 and 2 without masking.
    const auto sums = simd_sums<T, 2>(n, [&](index_t i, auto step) {
      return std::array<simd<T>, 2>{load(x.data() + i, step) + simd<T>(T(1)), simd<T>(T(2))};
    });
    ld want = 0, magnitude = 0;
    for (T v : x) {
      want += ld(v) + 1;
      magnitude += std::fabs(ld(v)) + 1;
    }
    REQUIRE(std::fabs(sums[0] - want) <= 8 * epsilon_of<T>() * (magnitude + 1));
    REQUIRE(sums[1] == 2.0 * double(n));
    REQUIRE(std::fabs(sum_of(x.data(), n) - (want - ld(n))) <=
            8 * epsilon_of<T>() * (magnitude + 1));
  }
}

TEMPLATE_TEST_CASE("multiply_add fuses where the hardware can, on scalars and vectors",
                   "[cpu][simd]", float, double) {
  using T = TestType;
  // (1 + e)(1 - e) - 1 = -e^2 exactly with one rounding, 0 with two.
  const T e = std::numeric_limits<T>::epsilon();
  const T fused = multiply_add(T(1) + e, T(1) - e, T(-1));
  const T vector_fused = multiply_add(simd<T>(T(1) + e), simd<T>(T(1) - e), simd<T>(T(-1))).get(0);
  if (has_hardware_fma) {
    CHECK(fused == -e * e);
    CHECK(vector_fused == -e * e);
  } else {
    CHECK(fused == (T(1) + e) * (T(1) - e) - T(1));
  }
  CHECK(where(true, T(1), T(2)) == 1);
  CHECK(where(simd<T>(T(1)) > simd<T>(T(0)), simd<T>(T(5)), simd<T>(T(6))).get(0) == 5);
}

TEST_CASE("parallel_for_elements splits on 64-element borders", "[cpu][simd]") {
  const int before = num_threads();
  set_num_threads(4);
  std::atomic<bool> misaligned{false};
  std::atomic<index_t> covered{0};
  parallel_for_elements(1000003, 1, [&](index_t begin, index_t end) {
    if (begin % 64 != 0) misaligned = true;
    covered.fetch_add(end - begin);
  });
  set_num_threads(before);
  CHECK_FALSE(misaligned.load());
  CHECK(covered.load() == 1000003);
}

TEST_CASE("blocked_sum and sum_over_row_blocks are exact for integers and independent of threads",
          "[cpu][simd]") {
  const int before = num_threads();
  std::vector<double> totals;
  std::vector<std::vector<double>> columns;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    totals.push_back(blocked_sum(1000001, 1000, 1, [](index_t b, index_t e) {
      double s = 0;
      for (index_t i = b; i < e; ++i) s += double(i);
      return s;
    }));
    std::vector<double> col(7, -1.0);
    sum_over_row_blocks<float>(
        5000, 7, 1,
        [](index_t first, index_t last, float* acc) {
          for (index_t r = first; r < last; ++r)
            for (index_t j = 0; j < 7; ++j) acc[j] += float(j + 1);
        },
        [&](index_t j, double total) { col[std::size_t(j)] = total; });
    columns.push_back(col);
  }
  set_num_threads(before);
  CHECK(totals[0] == 1000001.0 * 1000000.0 / 2);
  CHECK(totals[0] == totals[1]);
  for (index_t j = 0; j < 7; ++j) CHECK(columns[0][std::size_t(j)] == 5000.0 * double(j + 1));
  CHECK(columns[0] == columns[1]);
  CHECK(blocked_sum(0, 10, 1, [](index_t, index_t) { return 1.0; }) == 0);
}

}  // namespace cpu_test_simd
