#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "ranklens/cpu/unit_norm_rows.hpp"

namespace cpu_test_unit_norm_rows {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("remove_parallel_component leaves each row's gradient orthogonal to the row", "[cpu][unit_norm]") {
  const index_t rows = 50, cols = 37;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> w(static_cast<std::size_t>(rows * cols)), g(w.size());
  for (float& v : w) v = normal(rng);
  for (float& v : g) v = normal(rng);
  std::fill(w.begin(), w.begin() + cols, 0.0f);  // a zero row keeps its gradient
  const std::vector<float> g_before = g;
  cpu::remove_parallel_component(w.data(), g.data(), rows, cols);
  for (index_t i = 0; i < cols; ++i) CHECK(g[std::size_t(i)] == g_before[std::size_t(i)]);
  for (index_t r = 1; r < rows; ++r) {
    double along = 0, scale = 0;
    for (index_t i = 0; i < cols; ++i) {
      const auto at = std::size_t(r * cols + i);
      along += double(w[at]) * g[at];
      scale += std::abs(double(w[at]) * g_before[at]);
    }
    CHECK(std::abs(along) <= 1e-5 * scale);
  }
}

TEST_CASE("normalize_rows puts every non-zero row on the unit sphere, keeping its direction", "[cpu][unit_norm]") {
  std::vector<double> w{3, 4, 0, 0, 0, 0, -1, 1, 1};
  cpu::normalize_rows(w.data(), 3, 3);
  CHECK(w[0] == Approx(0.6));
  CHECK(w[1] == Approx(0.8));
  CHECK(w[3] == 0.0);
  CHECK(w[6] == Approx(-1 / std::sqrt(3.0)));
}

}  // namespace cpu_test_unit_norm_rows
