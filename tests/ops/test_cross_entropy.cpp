#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/cross_entropy.hpp"

namespace ops_test_cross_entropy {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using Targets = Tensor<std::int32_t, Shape<dyn>>;
}

TEST_CASE("cross_entropy is the mean of logsumexp minus the target logit over counted rows", "[ops][cross_entropy]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 3>> logits(Shape<dyn, 3>{3}, {1, 2, 3, 0, 0, 0, 5, 1, -1});
  Targets targets(Shape<dyn>{3}, {2, -100, 0});
  auto loss = cross_entropy(constant(logits), targets);
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  const double row2 = std::log(std::exp(5.0) + std::exp(1.0) + std::exp(-1.0)) - 5;
  CHECK(loss.item() == Approx((row0 + row2) / 2));
  auto total = cross_entropy(constant(logits), targets, {.reduce = reduction::sum});
  CHECK(total.item() == Approx(row0 + row2));
  auto per_row = cross_entropy_per_row(constant(logits), targets.view());
  CHECK(per_row.value()(1) == 0);
  CHECK(per_row.value()(2) == Approx(row2));
}

TEST_CASE("cross_entropy gradient: softmax minus one-hot, nothing for ignored rows", "[ops][cross_entropy][gradcheck]") {
  std::mt19937_64 rng(9);
  auto logits = random_tensor(Shape<dyn, dyn, 5>{2, 3}, rng, -2, 2);
  Tensor<std::int32_t, Shape<dyn, dyn>> targets(Shape<dyn, dyn>{2, 3}, {4, 0, -100, 2, 2, 1});
  CHECK(check_gradients([&](auto v) { return cross_entropy(v, targets); }, logits));
  CHECK(check_gradients([&](auto v) { return cross_entropy(v, targets, {.reduce = reduction::sum}); }, logits));
  CHECK(check_gradients([&](auto v) { return cross_entropy_per_row(v, targets.view()); }, logits));
  Tensor<std::int32_t, Shape<dyn, dyn>> custom(Shape<dyn, dyn>{2, 3}, {4, 0, 7, 2, 7, 1});
  CHECK(check_gradients([&](auto v) { return cross_entropy(v, custom, {.ignore_index = 7}); }, logits));
}

TEST_CASE("cross_entropy rejects bad targets and shapes, naming them", "[ops][cross_entropy]") {
  auto step = tape();
  Tensor<float, Shape<dyn, 3>> logits(Shape<dyn, 3>{2}, 0.0f);
  Targets out_of_range(Shape<dyn>{2}, {1, 3});
  REQUIRE_THROWS_WITH(cross_entropy(constant(logits), out_of_range), Catch::Contains("3"));
  Targets wrong_rows(Shape<dyn>{3}, {0, 1, 2});
  REQUIRE_THROWS_AS(cross_entropy(constant(logits), wrong_rows), shape_error);
  Targets all_ignored(Shape<dyn>{2}, {-100, -100});
  CHECK(std::isnan(cross_entropy(constant(logits), all_ignored).item()));
}

TEST_CASE("cross_entropy of a temporary targets tensor keeps the targets for the backward", "[ops][cross_entropy]") {
  auto step = tape();
  std::mt19937_64 rng(4);
  const auto logits = random_tensor(Shape<dyn, 5>{6}, rng, -2, 2);
  const auto make = [](std::int32_t first) { return Targets(Shape<dyn>{6}, {first, 1, 2, 3, 4, 0}); };
  const auto from_temporary = variable(logits);
  const auto loss = cross_entropy(from_temporary, make(4));
  // Target tensors of the same size made now may take the temporary's memory.
  std::vector<Targets> later;
  for (int i = 0; i < 8; ++i) later.push_back(make(0));
  backward(loss);
  const Targets named = make(4);
  const auto from_named = variable(logits);
  backward(cross_entropy(from_named, named));
  for (index_t r = 0; r < 6; ++r)
    for (index_t v = 0; v < 5; ++v) CHECK(from_temporary.grad()(r, v) == from_named.grad()(r, v));
}

}  // namespace ops_test_cross_entropy
