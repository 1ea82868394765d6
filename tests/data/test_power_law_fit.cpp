// Specification of data/power_law_fit.hpp: least squares on log-log axes.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/data/power_law_fit.hpp"

namespace data_test_power_law_fit {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("an exact power law is recovered with R^2 = 1", "[data][power_law]") {
  std::vector<double> x, y;
  for (int t = 10; t <= 100; t += 5) {
    x.push_back(t);
    y.push_back(3.0 * std::pow(t, -0.5));
  }
  const power_law fit = fit_power_law(x, y);
  CHECK(fit.exponent == Approx(-0.5).epsilon(1e-12));
  CHECK(fit.prefactor == Approx(3.0).epsilon(1e-12));
  CHECK(fit.r_squared == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("two points fix the line, a bent curve lowers R^2", "[data][power_law]") {
  // Through (1, 2) and (4, 1): exponent log(1/2) / log(4) = -1/2, prefactor 2.
  const power_law line = fit_power_law(std::vector<double>{1, 4}, std::vector<double>{2, 1});
  CHECK(line.exponent == Approx(-0.5));
  CHECK(line.prefactor == Approx(2.0));
  // 1/t + 1/t^2 is not a power law: the fitted exponent lies between -2 and -1, R^2 < 1.
  std::vector<double> x, y;
  for (int t = 1; t <= 20; ++t) {
    x.push_back(t);
    y.push_back(1.0 / t + 1.0 / (double(t) * t));
  }
  const power_law bent = fit_power_law(x, y);
  CHECK(bent.exponent < -1.0);
  CHECK(bent.exponent > -2.0);
  CHECK(bent.r_squared < 0.9999);
}

TEST_CASE("non-positive values and mismatched sizes are rejected", "[data][power_law]") {
  CHECK_THROWS_AS(fit_power_law(std::vector<double>{1, 2}, std::vector<double>{1, 0}), value_error);
  CHECK_THROWS_AS(fit_power_law(std::vector<double>{1, 2, 3}, std::vector<double>{1, 2}),
                  shape_error);
  CHECK_THROWS_AS(fit_power_law(std::vector<double>{2, 2}, std::vector<double>{1, 3}), value_error);
}

}  // namespace data_test_power_law_fit
