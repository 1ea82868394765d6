#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/interp/phase_transition.hpp"

namespace interp_test_phase_transition {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

// A plateau at `high`, a logistic drop centred at `centre` of width `width`, then `low`.
struct sigmoid_curve {
  std::vector<double> steps, losses;
  sigmoid_curve(double high, double low, double centre, double width, double noise_amplitude = 0) {
    for (int s = 0; s <= 4000; s += 20) {
      steps.push_back(s);
      // Deterministic "noise": alternating signs, so smoothing should cancel it.
      const double noise = noise_amplitude * ((s / 20) % 2 == 0 ? 1 : -1);
      losses.push_back(low + (high - low) / (1 + std::exp((s - centre) / width)) + noise);
    }
  }
};

}  // namespace

TEST_CASE("moving average keeps constants, shrinks its window at the ends and averages neighbours", "[interp][transition]") {
  const std::vector<double> values{1, 2, 3, 4, 10};
  const auto smoothed = interp::moving_average(values, 3);
  REQUIRE(smoothed.size() == 5);
  CHECK(smoothed[0] == 1);  // an end point averages only itself
  CHECK(smoothed[1] == Approx(2));
  CHECK(smoothed[2] == Approx(3));
  CHECK(smoothed[3] == Approx(17.0 / 3));
  CHECK(smoothed[4] == 10);
  CHECK(interp::moving_average(std::vector<double>(7, 0.5), 5) == std::vector<double>(7, 0.5));
  CHECK_THROWS_AS(interp::moving_average(values, 0), value_error);
}

TEST_CASE("the steepest drop of a sigmoid is at its centre, and the plateau before it is found", "[interp][transition]") {
  const sigmoid_curve curve(0.578, 0.508, 1500, 60, 0.002);
  const interp::transition_report report = interp::analyse_transition(curve.steps, curve.losses, {.window = 5, .tolerance = 0.01, .min_steps = 200});
  REQUIRE(report.drop);
  CHECK(std::abs(report.drop->step - 1500) <= 20);
  CHECK(report.drop->slope < 0);
  REQUIRE(report.before_drop);
  CHECK(report.before_drop->first_step == 0);
  CHECK(report.before_drop->last_step < 1500);
  CHECK(report.before_drop->last_step > 1200);
  CHECK(report.before_drop->level == Approx(0.578).margin(0.005));
  // The low level after the drop is a plateau too, but not the one before the drop.
  REQUIRE(report.plateaus.size() >= 2);
  CHECK(report.plateaus.back().level == Approx(0.508).margin(0.005));
  CHECK(report.plateaus.back().last_step == 4000);
}

TEST_CASE("an early fast fall is skipped when the drop is looked for after the first plateau", "[interp][transition]") {
  // Falls from 0.69 to 0.58 in the first 60 steps, then the sigmoid of the test above.
  sigmoid_curve curve(0.578, 0.508, 1500, 60);
  for (std::size_t i = 0; i < 4; ++i) curve.losses[i] += 0.11 * (1 - double(i) / 3);
  const auto plain = interp::analyse_transition(curve.steps, curve.losses, {.window = 1, .tolerance = 0.01, .min_steps = 200});
  REQUIRE(plain.drop);
  CHECK(plain.drop->step < 100);
  const auto skipping = interp::analyse_transition(curve.steps, curve.losses,
                                                   {.window = 1, .tolerance = 0.01, .min_steps = 200, .drop_after_first_plateau = true});
  REQUIRE(skipping.drop);
  CHECK(std::abs(skipping.drop->step - 1500) <= 20);
  REQUIRE(skipping.before_drop);
  CHECK(skipping.before_drop->level == Approx(0.578).margin(0.005));
}

TEST_CASE("a curve that only falls smoothly has no plateau before its drop", "[interp][transition]") {
  std::vector<double> steps, losses;
  for (int s = 1; s <= 100; ++s) steps.push_back(s), losses.push_back(1.0 / s);
  const auto report = interp::analyse_transition(steps, losses, {.window = 1, .tolerance = 0.01, .min_steps = 10});
  REQUIRE(report.drop);
  CHECK(report.drop->step == 1.5);
  CHECK_FALSE(report.before_drop);
}

TEST_CASE("a rising curve has no drop, and bad curves are rejected", "[interp][transition]") {
  const std::vector<double> steps{0, 1, 2}, rising{1, 2, 3};
  CHECK_FALSE(interp::find_steepest_drop(steps, rising));
  CHECK_THROWS_AS(interp::analyse_transition(steps, std::vector<double>{1, 2}), shape_error);
  CHECK_THROWS_WITH(interp::analyse_transition(std::vector<double>{0, 2, 1}, rising), Catch::Contains("steps must increase"));
}

}  // namespace interp_test_phase_transition
