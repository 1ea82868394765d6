#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/sgd.hpp"
#include "ranklens/train/train_step.hpp"

namespace train_test_train_step {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::train;

namespace {
using Weight = Parameter<double, Shape<3>>;

Weight make_weight() { return Weight(Tensor<double, Shape<3>>(Shape<3>{}, {1, 2, 3}), "w"); }

// loss = Σ w², so the gradient is 2w and its norm 2·|w| = 2·√14.
auto sum_of_squares(const Weight& w) {
  return [&w] {
    const auto v = w.var();
    return sum(v * v);
  };
}
}  // namespace

static_assert(Optimizer<SGD<>> && Optimizer<AdamW<>>);

TEST_CASE("train_step: zero, forward, backward, step", "[train][train_step]") {
  Weight w = make_weight();
  w.gradient_buffer().span()[0] = 100;  // a stale gradient that the step must clear first
  SGD optimizer({w.ref()}, {.lr = 0.1});
  const StepResult result = train_step(optimizer, sum_of_squares(w));
  CHECK(result.loss == 14);
  CHECK_FALSE(result.grad_norm);
  for (int i = 0; i < 3; ++i) CHECK(w.value().span()[std::size_t(i)] == Approx(0.8 * (i + 1)));  // w − 0.1·2w
}

TEST_CASE("train_step sets the learning rate before stepping", "[train][train_step]") {
  Weight w = make_weight();
  SGD optimizer({w.ref()}, {.lr = 0.1});
  train_step(optimizer, sum_of_squares(w), {.lr = 0.5});  // w − 0.5·2w = 0
  CHECK(optimizer.lr() == 0.5);
  for (double v : w.value().span()) CHECK(v == Approx(0).margin(1e-15));
}

TEST_CASE("train_step clips the global gradient norm and reports it", "[train][train_step]") {
  Weight w = make_weight();
  const ParameterList params{w.ref()};
  SGD optimizer(params, {.lr = 1.0});
  const StepResult result = train_step(optimizer, sum_of_squares(w), {.max_grad_norm = 1.0, .parameters = &params});
  const double norm = 2 * std::sqrt(14.0);
  REQUIRE(result.grad_norm);
  CHECK(*result.grad_norm == Approx(norm));
  for (int i = 0; i < 3; ++i)  // w − 2w / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_
    CHECK(w.value().span()[std::size_t(i)] == Approx((i + 1) * (1 - 2 / (norm + 1e-6))));
  CHECK_THROWS_AS(train_step(optimizer, sum_of_squares(w), {.max_grad_norm = 1.0}), value_error);
}

TEST_CASE("a non-finite loss throws and leaves the parameters as they were", "[train][train_step]") {
  Weight w = make_weight();
  SGD optimizer({w.ref()}, {.lr = 0.1});
  const auto infinite = [&w] {
    const auto v = w.var();
    return sum(v * v) * std::numeric_limits<double>::infinity();
  };
  CHECK_THROWS_WITH(train_step(optimizer, infinite), Catch::Contains("the loss is inf"));
  CHECK(w.value().span()[2] == 3);
}

}  // namespace train_test_train_step
