#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/interp/excess_loss_fit.hpp"

namespace interp_test_excess_loss_fit {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("the excess-loss fit recovers an exact power law above a floor, over the chosen positions only", "[interp][power_law]") {
  std::vector<double> loss, floor;
  for (int t = 1; t <= 100; ++t) {
    floor.push_back(0.48 + 0.001 * (t % 3));  // a floor that varies by position
    // An exact 0.5 t^-0.86 over [10, 100]; something else before, which the fit must ignore.
    loss.push_back(floor.back() + (t < 10 ? 1.0 : 0.5 * std::pow(t, -0.86)));
  }
  const data::power_law fit = interp::fit_excess_loss(loss, floor, 10, 100);
  CHECK(fit.exponent == Approx(-0.86).epsilon(1e-9));
  CHECK(fit.prefactor == Approx(0.5).epsilon(1e-9));
  CHECK(fit.r_squared == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("the excess-loss fit names a bad range and a loss that is not above its floor", "[interp][power_law]") {
  const std::vector<double> loss{0.6, 0.55, 0.5}, floor{0.5, 0.5, 0.5};
  CHECK_THROWS_AS(interp::fit_excess_loss(loss, floor, 0, 3), shape_error);
  CHECK_THROWS_AS(interp::fit_excess_loss(loss, floor, 1, 4), shape_error);
  CHECK_THROWS_AS(interp::fit_excess_loss(loss, std::vector<double>{0.5}, 1, 2), shape_error);
  CHECK_THROWS_WITH(interp::fit_excess_loss(loss, floor, 1, 3), Catch::Contains("must be positive") && Catch::Contains("point 2"));
}

}  // namespace interp_test_excess_loss_fit
