// Specification of data/random.hpp: samplers over core/random.hpp's generator whose moments
// match their distributions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "ranklens/data/random.hpp"
#include "ranklens/data/running_mean.hpp"

namespace data_test_random {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("gamma draws have mean and variance equal to the shape", "[data][random]") {
  for (const double shape : {0.2, 1.0, 4.5}) {
    Rng gen(4);
    running_mean mean, variance;
    int negative = 0;
    for (int i = 0; i < 100000; ++i) {
      const double g = gamma_variate(gen, shape);
      negative += g < 0.0;
      mean.add(g);
      variance.add((g - shape) * (g - shape));
    }
    INFO("shape " << shape);
    CHECK(negative == 0);
    CHECK(mean.mean() == Approx(shape).margin(5 * mean.standard_error()));
    CHECK(variance.mean() == Approx(shape).margin(5 * variance.standard_error()));
  }
  Rng gen(5);
  CHECK_THROWS_AS(gamma_variate(gen, 0.0), value_error);
  CHECK_THROWS_AS(gamma_variate(gen, -1.0), value_error);
}

TEST_CASE("Dirichlet draws sum to one with the Dirichlet mean and variance", "[data][random]") {
  // Dir(a): E[p_i] = a_i / a0 and Var[p_i] = a_i (a0 - a_i) / (a0^2 (a0 + 1)).
  const std::vector<double> concentration{0.5, 1.0, 2.5};
  const double a0 = 4.0;
  Rng gen(6);
  std::vector<double> p(3);
  std::array<running_mean, 3> mean, spread;
  double worst_sum_error = 0.0;
  for (int i = 0; i < 60000; ++i) {
    dirichlet(gen, concentration, p);
    worst_sum_error = std::max(worst_sum_error, std::abs(p[0] + p[1] + p[2] - 1.0));
    for (std::size_t j = 0; j < 3; ++j) {
      const double expected = concentration[j] / a0;
      mean[j].add(p[j]);
      spread[j].add((p[j] - expected) * (p[j] - expected));
    }
  }
  CHECK(worst_sum_error < 1e-12);
  for (std::size_t j = 0; j < 3; ++j) {
    const double aj = concentration[j];
    CHECK(mean[j].mean() == Approx(aj / a0).margin(5 * mean[j].standard_error()));
    CHECK(spread[j].mean() ==
          Approx(aj * (a0 - aj) / (a0 * a0 * (a0 + 1))).margin(5 * spread[j].standard_error()));
  }
}

TEST_CASE("a Dirichlet with tiny concentration still gives a valid distribution",
          "[data][random]") {
  // Gamma(0.001) variates underflow in linear space; the sampler works in log space.
  Rng gen(7);
  std::vector<double> p(4);
  for (int i = 0; i < 1000; ++i) {
    symmetric_dirichlet(gen, 0.001, p);
    double total = 0.0;
    for (double v : p) {
      REQUIRE(std::isfinite(v));
      total += v;
    }
    REQUIRE(total == Approx(1.0).margin(1e-12));
  }
}

TEST_CASE("categorical sampling follows the probabilities and never picks a zero",
          "[data][random]") {
  const std::vector<double> probabilities{0.0, 0.2, 0.0, 0.8, 0.0};
  std::vector<double> cumulative(probabilities.size());
  cumulative_row(probabilities, cumulative);
  Rng gen(8);
  std::array<int, 5> direct{}, from_cumulative{};
  constexpr int draws = 50000;
  for (int i = 0; i < draws; ++i) {
    ++direct[static_cast<std::size_t>(categorical(gen, probabilities))];
    ++from_cumulative[static_cast<std::size_t>(
        categorical_from_cumulative(unit_uniform(gen), cumulative))];
  }
  for (const auto& counts : {direct, from_cumulative}) {
    CHECK(counts[0] == 0);
    CHECK(counts[2] == 0);
    CHECK(counts[4] == 0);
    // Binomial(50000, 0.2): standard deviation about 89.
    CHECK(std::abs(counts[1] - 0.2 * draws) < 5 * 89.5);
  }
  // Even a uniform just below 1 stays on the last positive entry.
  CHECK(categorical_from_cumulative(0.9999999999999999, cumulative) == 3);
  std::vector<double> two(2);
  CHECK_THROWS_AS(cumulative_row(std::vector<double>{0.0, 0.0}, two), value_error);
  CHECK_THROWS_AS(cumulative_row(std::vector<double>{0.5, 0.5}, cumulative), shape_error);
}

}  // namespace data_test_random
