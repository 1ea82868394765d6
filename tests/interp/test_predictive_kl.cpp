#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/core/tensor.hpp"
#include "ranklens/interp/predictive_kl.hpp"

namespace interp_test_predictive_kl {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("KL between model logits and a strategy, both directions, averaged over the batch at each position", "[interp][kl]") {
  // Batch 2, two positions, two tokens.
  Tensor<float, Shape<dyn, dyn, 2>> logits(Shape<dyn, dyn, 2>{2, 2});
  logits(0, 0, 0) = 0, logits(0, 0, 1) = 0;                                 // model (1/2, 1/2)
  logits(0, 1, 0) = 0, logits(0, 1, 1) = float(std::log(3.0));              // model (1/4, 3/4)
  logits(1, 0, 0) = 5, logits(1, 0, 1) = float(5 + std::log(3.0));          // (1/4, 3/4): a shift changes nothing
  logits(1, 1, 0) = 0, logits(1, 1, 1) = float(std::log(3.0));              // (1/4, 3/4)
  const std::vector<double> strategy{0.25, 0.75, 0.25, 0.75,   // sequence 0
                                     0.25, 0.75, 0.5, 0.5};    // sequence 1
  const interp::kl_curves kl = interp::kl_by_position(logits, strategy);
  const double forward = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);  // KL((1/4, 3/4) ‖ (1/2, 1/2))
  const double reverse = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);    // KL((1/2, 1/2) ‖ (1/4, 3/4))
  REQUIRE(kl.strategy_to_model.size() == 2);
  // Position 0: sequence 0 differs, sequence 1 agrees. Position 1: sequence 0 agrees, 1 is reversed.
  CHECK(kl.strategy_to_model[0] == Approx(forward / 2).epsilon(1e-6));
  CHECK(kl.model_to_strategy[0] == Approx(reverse / 2).epsilon(1e-6));
  CHECK(kl.strategy_to_model[1] == Approx(reverse / 2).epsilon(1e-6));
  CHECK(kl.model_to_strategy[1] == Approx(forward / 2).epsilon(1e-6));
  CHECK(forward != Approx(reverse));  // the two directions really are told apart
}

TEST_CASE("KL of a model against a strategy with a zero probability is infinite only in the direction that needs it", "[interp][kl]") {
  Tensor<float, Shape<dyn, dyn, 2>> logits(Shape<dyn, dyn, 2>{1, 1});
  logits(0, 0, 0) = 0, logits(0, 0, 1) = 0;
  const std::vector<double> certain{1.0, 0.0};
  const interp::kl_curves kl = interp::kl_by_position(logits, certain);
  CHECK(kl.strategy_to_model[0] == Approx(std::log(2.0)).epsilon(1e-6));
  CHECK(std::isinf(kl.model_to_strategy[0]));
}

TEST_CASE("KL by position names a strategy table that does not match the logits", "[interp][kl]") {
  Tensor<float, Shape<dyn, dyn, 2>> logits(Shape<dyn, dyn, 2>{1, 3});
  const std::vector<double> too_short(4, 0.5);
  CHECK_THROWS_WITH(interp::kl_by_position(logits, too_short),
                    Catch::Contains("kl_by_position") && Catch::Contains("(1, 3, 2)") && Catch::Contains("4 strategy"));
}

}  // namespace interp_test_predictive_kl
