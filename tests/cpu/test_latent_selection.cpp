#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "ranklens/cpu/latent_selection.hpp"

namespace cpu_test_latent_selection {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

std::vector<float> random_matrix(index_t rows, index_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (float& v : x) v = normal(rng);
  return x;
}

}  // namespace

TEST_CASE("top_k_per_row returns each row's k largest entries", "[cpu][selection]") {
  // Rows long enough to fill and cut back the candidate buffer several times, on several threads.
  const index_t rows = 300, cols = 3000, k = 32;
  const auto x = random_matrix(rows, cols, 1);
  std::vector<std::int32_t> columns(static_cast<std::size_t>(rows * k));
  std::vector<float> values(static_cast<std::size_t>(rows * k));
  cpu::top_k_per_row(x.data(), rows, cols, k, nullptr, 0, columns.data(), values.data());
  for (index_t r = 0; r < rows; ++r) {
    std::vector<float> row(x.begin() + r * cols, x.begin() + (r + 1) * cols);
    std::sort(row.begin(), row.end(), std::greater<>());
    std::vector<float> chosen(values.begin() + r * k, values.begin() + (r + 1) * k);
    std::sort(chosen.begin(), chosen.end(), std::greater<>());
    for (index_t i = 0; i < k; ++i) {
      REQUIRE(chosen[std::size_t(i)] == row[std::size_t(i)]);
      REQUIRE(x[std::size_t(r * cols + columns[std::size_t(r * k + i)])] == values[std::size_t(r * k + i)]);
    }
  }
}

TEST_CASE("top_k_per_row among given columns, with ties broken towards the lower column", "[cpu][selection]") {
  const std::vector<float> x{5, 1, 5, 3, 9, 5,  // row 0
                             0, 0, 0, 0, 0, 0};  // row 1: all tied
  const std::vector<std::int32_t> among{0, 2, 3, 5};
  std::vector<std::int32_t> columns(4);
  std::vector<float> values(4);
  cpu::top_k_per_row(x.data(), 2, 6, 2, among.data(), 4, columns.data(), values.data());
  std::sort(columns.begin(), columns.begin() + 2);
  std::sort(columns.begin() + 2, columns.end());
  CHECK(columns == std::vector<std::int32_t>{0, 2, 0, 2});  // 9 at column 4 is not among them; 5 at column 5 loses the tie
  CHECK(values == std::vector<float>{5, 5, 0, 0});
}

TEST_CASE("top_k_per_row refuses k out of range", "[cpu][selection]") {
  std::vector<float> x(8, 1.0f);
  std::vector<std::int32_t> columns(8);
  std::vector<float> values(8);
  REQUIRE_THROWS_WITH(cpu::top_k_per_row(x.data(), 2, 4, 5, nullptr, 0, columns.data(), values.data()), Catch::Contains("k = 5"));
}

TEST_CASE("top_k_per_row ranks NaN above every number and keeps -inf when it must, as torch.topk", "[cpu][selection]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // Long rows (past the first cut of the candidate buffer), NaNs early and late; a row of -inf.
  const index_t cols = 300, k = 3;
  std::vector<float> x(std::size_t(3 * cols));
  for (index_t j = 0; j < cols; ++j) {
    x[std::size_t(j)] = float(j);             // row 0: 0 .. 299, a NaN at 250
    x[std::size_t(cols + j)] = float(j % 7);  // row 1: NaNs at 5 and 290, then the 6s
    x[std::size_t(2 * cols + j)] = -inf;      // row 2: -inf only
  }
  x[250] = nan;
  x[std::size_t(cols + 5)] = x[std::size_t(cols + 290)] = nan;
  std::vector<std::int32_t> columns(std::size_t(3 * k));
  std::vector<float> values(columns.size());
  cpu::top_k_per_row(x.data(), 3, cols, k, nullptr, 0, columns.data(), values.data());
  const auto row = [&](index_t r) {
    std::vector<std::int32_t> c(columns.begin() + r * k, columns.begin() + (r + 1) * k);
    std::sort(c.begin(), c.end());
    return c;
  };
  CHECK(row(0) == std::vector<std::int32_t>{250, 298, 299});
  CHECK(row(1) == std::vector<std::int32_t>{5, 6, 290});  // both NaNs, then the first 6
  CHECK(row(2) == std::vector<std::int32_t>{0, 1, 2});
  for (index_t i = 0; i < k; ++i) CHECK(values[std::size_t(2 * k + i)] == -inf);
  // Only the listed columns compete (AuxK): a NaN among them first, one outside them ignored.
  const std::vector<std::int32_t> among = {1, 5, 200, 250};
  std::vector<std::int32_t> chosen(2);
  std::vector<float> chosen_values(2);
  cpu::top_k_per_row(x.data(), 1, cols, 2, among.data(), index_t(among.size()), chosen.data(), chosen_values.data());
  std::sort(chosen.begin(), chosen.end());
  CHECK(chosen == std::vector<std::int32_t>{200, 250});
}

namespace {

// batch_top_k's result as (row, column, value) triples, checked for row order on the way.
struct Kept {
  float threshold;
  std::vector<std::tuple<index_t, std::int32_t, float>> entries;
};
Kept run_batch_top_k(const std::vector<float>& x, index_t rows, index_t cols, index_t count) {
  std::vector<index_t> offsets(static_cast<std::size_t>(rows + 1));
  std::vector<std::int32_t> columns;
  std::vector<float> values;
  Kept out;
  out.threshold = cpu::batch_top_k(x.data(), rows, cols, count, offsets.data(), [&](index_t n) {
    columns.resize(std::size_t(n));
    values.resize(std::size_t(n));
    return std::pair{columns.data(), values.data()};
  });
  REQUIRE(offsets[0] == 0);
  REQUIRE(offsets[std::size_t(rows)] == index_t(values.size()));
  for (index_t r = 0; r < rows; ++r)
    for (index_t e = offsets[std::size_t(r)]; e < offsets[std::size_t(r + 1)]; ++e) {
      if (e > offsets[std::size_t(r)]) REQUIRE(columns[std::size_t(e)] > columns[std::size_t(e - 1)]);
      out.entries.emplace_back(r, columns[std::size_t(e)], values[std::size_t(e)]);
    }
  return out;
}

}  // namespace

TEST_CASE("batch_top_k keeps the count largest positive entries of the whole batch", "[cpu][selection]") {
  const index_t rows = 1024, cols = 700;  // sampled rows guide the one pass
  const auto x = random_matrix(rows, cols, 2);
  std::vector<float> positive;
  for (float v : x)
    if (v > 0) positive.push_back(v);
  std::sort(positive.begin(), positive.end(), std::greater<>());
  for (const index_t count : {index_t(1), index_t(7), index_t(16 * rows), index_t(100000), index_t(positive.size()), rows * cols}) {
    INFO("count " << count);
    const Kept kept = run_batch_top_k(x, rows, cols, count);
    const float expected = positive[std::size_t(std::min<index_t>(count, index_t(positive.size())) - 1)];
    CHECK(kept.threshold == expected);
    REQUIRE(index_t(kept.entries.size()) == std::min<index_t>(count, index_t(positive.size())));
    for (const auto& [r, j, v] : kept.entries) {
      REQUIRE(x[std::size_t(r * cols + j)] == v);
      REQUIRE(v >= expected);
    }
  }
}

TEST_CASE("batch_top_k keeps ties, skips NaN and non-positive entries, and survives a misleading sample", "[cpu][selection]") {
  const std::vector<float> ties{std::numeric_limits<float>::quiet_NaN(), 2, 2, 2, 1, 0, -1, 3};
  const Kept kept = run_batch_top_k(ties, 2, 4, 2);
  CHECK(kept.threshold == 2.0f);
  CHECK(kept.entries.size() == 4);  // 3 and all three 2s
  const std::vector<float> none{-1, 0, -3, 0};
  const Kept nothing = run_batch_top_k(none, 2, 2, 1);
  CHECK(nothing.entries.empty());
  CHECK(std::isinf(nothing.threshold));
  // The sampled rows (0, 64, 128, ...) hold large values, the others small ones: the sample
  // suggests a bound above the true threshold, and the full gather must take over.
  const index_t rows = 256, cols = 64;
  std::vector<float> skewed(static_cast<std::size_t>(rows * cols));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> small(0.1f, 1.0f), large(10.0f, 11.0f);
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) skewed[std::size_t(r * cols + j)] = r % 64 == 0 ? large(rng) : small(rng);
  const index_t count = 8 * rows;
  const Kept fallback = run_batch_top_k(skewed, rows, cols, count);
  std::vector<float> sorted = skewed;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  CHECK(fallback.threshold == sorted[std::size_t(count - 1)]);
  CHECK(index_t(fallback.entries.size()) == count);
}

TEST_CASE("count_kept and gather_kept give the kept entries as compressed rows", "[cpu][selection]") {
  const index_t rows = 64, cols = 1000;
  const auto x = random_matrix(rows, cols, 3);
  std::vector<index_t> offsets(static_cast<std::size_t>(rows + 1));
  std::vector<float> one_and_a_half(static_cast<std::size_t>(cols), 1.5f);
  const cpu::KeepAboveColumnThreshold<float> keep{one_and_a_half.data()};
  const index_t kept = cpu::count_kept(x.data(), rows, cols, keep, offsets.data());
  std::vector<std::int32_t> columns(static_cast<std::size_t>(kept));
  std::vector<float> values(static_cast<std::size_t>(kept));
  cpu::gather_kept(x.data(), rows, cols, keep, offsets.data(), columns.data(), values.data());
  index_t e = 0;
  for (index_t r = 0; r < rows; ++r) {
    REQUIRE(offsets[std::size_t(r)] == e);
    for (index_t j = 0; j < cols; ++j)
      if (x[std::size_t(r * cols + j)] > 1.5f) {
        REQUIRE(columns[std::size_t(e)] == j);
        REQUIRE(values[std::size_t(e)] == x[std::size_t(r * cols + j)]);
        ++e;
      }
  }
  CHECK(e == kept);

  // JumpReLU's rule: x > max(θ_j, 0), one threshold per column.
  std::vector<float> theta(static_cast<std::size_t>(cols));
  for (index_t j = 0; j < cols; ++j) theta[std::size_t(j)] = j % 2 == 0 ? -1.0f : 1.0f;
  const index_t above = cpu::count_above_threshold(x.data(), rows, cols, theta.data(), offsets.data());
  std::vector<std::int32_t> above_columns(static_cast<std::size_t>(above));
  std::vector<float> above_values(static_cast<std::size_t>(above));
  cpu::gather_above_threshold(x.data(), rows, cols, theta.data(), offsets.data(), above_columns.data(), above_values.data());
  index_t expected = 0;
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) {
      const float v = x[std::size_t(r * cols + j)];
      if (!(v > std::max(theta[std::size_t(j)], 0.0f))) continue;
      REQUIRE(expected < above);
      CHECK(above_columns[std::size_t(expected)] == j);
      CHECK(above_values[std::size_t(expected)] == v);
      ++expected;
    }
  CHECK(above == expected);
}

}  // namespace cpu_test_latent_selection
