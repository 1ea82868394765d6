#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/train/evaluate.hpp"

namespace train_test_evaluate {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::train;

namespace {
using Losses = Tensor<double, Shape<dyn, dyn>>;
using Targets = Tensor<std::int32_t, Shape<dyn, dyn>>;
}  // namespace

TEST_CASE("LossByPosition averages each position over every sequence", "[train][evaluate]") {
  LossByPosition totals;
  const Losses first(Shape<dyn, dyn>{2, 3}, {1, 2, 3, 3, 4, 5});
  const Losses second(Shape<dyn, dyn>{1, 3}, {5, 6, 7});
  totals.add(first.view());
  totals.add(second.view());
  const EvalResult result = totals.result();
  CHECK(result.loss_by_position == std::vector<double>{3, 4, 5});
  CHECK(result.mean_loss == 4);
  CHECK(result.counted == 9);
}

TEST_CASE("entries whose target is ignored are left out of the means", "[train][evaluate]") {
  LossByPosition totals;
  const Losses losses(Shape<dyn, dyn>{2, 3}, {0, 2, 4, 0, 6, 8});
  const Targets targets(Shape<dyn, dyn>{2, 3}, {-100, 1, 1, -100, 1, -100});
  totals.add(losses.view(), targets.view());
  const EvalResult result = totals.result();
  CHECK(std::isnan(result.loss_by_position[0]));  // nothing counted at position 0
  CHECK(result.loss_by_position[1] == 4);
  CHECK(result.loss_by_position[2] == 4);
  CHECK(result.mean_loss == 4);
  CHECK(result.counted == 3);
  const Targets wrong(Shape<dyn, dyn>{1, 3}, {1, 1, 1});
  CHECK_THROWS_AS(totals.add(losses.view(), wrong.view()), shape_error);
}

TEST_CASE("evaluate_by_position runs every batch under no_grad in its own tape scope", "[train][evaluate]") {
  Losses batch_losses(Shape<dyn, dyn>{2, 2}, {1, 2, 3, 4});
  const Targets targets(Shape<dyn, dyn>{2, 2}, {5, -100, 5, 5});
  const std::size_t entries = Tape::current().entries();
  index_t calls = 0;
  const auto result = evaluate_by_position(
      [&](index_t i) {
        CHECK(i == calls++);
        CHECK_FALSE(grad_mode_enabled());
        return variable(batch_losses) * 1.0;  // an op result: nothing recorded under no_grad
      },
      3);
  CHECK(calls == 3);
  CHECK(grad_mode_enabled());
  CHECK(Tape::current().entries() == entries);
  CHECK(result.loss_by_position == std::vector<double>{2, 3});
  CHECK(result.mean_loss == 2.5);

  const auto masked = evaluate_by_position([&](index_t) { return PositionLosses<double>{constant(batch_losses), targets.view()}; }, 1);
  CHECK(masked.loss_by_position == std::vector<double>{2, 4});
  CHECK(masked.mean_loss == Approx(8.0 / 3.0));
}

}  // namespace train_test_evaluate
