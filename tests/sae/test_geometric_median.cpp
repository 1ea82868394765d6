#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "ranklens/sae/geometric_median.hpp"

namespace sae_test_geometric_median {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("the geometric median of points on a line is their median", "[sae][median]") {
  Tensor<double, Shape<dyn, 2>> points(Shape<dyn, 2>{5}, {0, 0, 1, 0, 2, 0, 3, 0, 100, 0});
  const GeometricMedian m = geometric_median(points);
  CHECK(m.point[0] == Approx(2.0).margin(1e-4));
  CHECK(m.point[1] == Approx(0.0).margin(1e-9));
}

TEST_CASE("the geometric median minimises the sum of distances and resists outliers", "[sae][median]") {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  const index_t rows = 400, d = 6;
  Tensor<float, Shape<dyn, dyn>> sample(Shape<dyn, dyn>{rows, d});
  for (index_t r = 0; r < rows; ++r)
    for (index_t i = 0; i < d; ++i) sample(r, i) = float(1.0 + normal(rng) + (r < 20 ? 500.0 : 0.0));  // 5% far away
  const GeometricMedian m = geometric_median(sample);
  auto total_distance = [&](const std::vector<double>& p) {
    double total = 0;
    for (index_t r = 0; r < rows; ++r) {
      double s = 0;
      for (index_t i = 0; i < d; ++i) s += std::pow(double(sample(r, i)) - p[std::size_t(i)], 2);
      total += std::sqrt(s);
    }
    return total;
  };
  const double best = total_distance(m.point);
  CHECK(m.mean_distance == Approx(best / rows).epsilon(1e-9));
  for (index_t i = 0; i < d; ++i)
    for (const double nudge : {-0.01, 0.01}) {
      auto moved = m.point;
      moved[std::size_t(i)] += nudge;
      CHECK(total_distance(moved) >= best);
    }
  for (index_t i = 0; i < d; ++i) CHECK(std::abs(m.point[std::size_t(i)] - 1.0) < 0.3);  // the mean is near 26
}

TEST_CASE("the geometric median of identical points is that point, and an empty sample is refused", "[sae][median]") {
  Tensor<double, Shape<dyn, 3>> same(Shape<dyn, 3>{4}, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
  const GeometricMedian m = geometric_median(same);
  CHECK(m.point == std::vector<double>{1, 2, 3});
  Tensor<double, Shape<dyn, 3>> empty(Shape<dyn, 3>{0});
  REQUIRE_THROWS_WITH(geometric_median(empty), Catch::Contains("at least one point"));
}

}  // namespace sae_test_geometric_median
