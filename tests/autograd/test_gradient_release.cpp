// backward(loss, {.keep_intermediate_grads = false}): intermediate gradients are released as
// the pass goes and their memory serves later gradients; leaf gradients are unchanged.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/ops/views.hpp"

namespace autograd_test_gradient_release {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Wide = Shape<dyn, 1024>;

struct PassResult {
  std::vector<double> leaf_grad;
  bool intermediate_has_grad;
  std::size_t arena_bytes;  // allocated from the arena during forward and backward
};

// A chain of same-sized ops (as a transformer's layers repeat), then backward.
PassResult run_chain(const Tensor<double, Wide>& input, bool keep_intermediate_grads) {
  auto step = tape();
  auto& arena = Tape::current().arena<cpu_t>();
  const auto x = variable(input);
  auto h = tanh(x);
  const auto first = h;
  for (int i = 0; i < 6; ++i) h = tanh(h * 1.5 + x);
  const auto loss = sum(h);
  backward(loss, {.keep_intermediate_grads = keep_intermediate_grads});
  const auto g = to_tensor(x.grad());
  return {{g.span().begin(), g.span().end()}, first.has_grad(), arena.bytes_since_rewind()};
}

}  // namespace

TEST_CASE("releasing intermediate gradients leaves leaf gradients unchanged and reuses their memory", "[autograd][memory]") {
  std::mt19937_64 rng(5);
  const auto input = random_tensor(Wide{16}, rng);
  const auto kept = run_chain(input, true);
  const auto released = run_chain(input, false);
  REQUIRE(kept.leaf_grad.size() == released.leaf_grad.size());
  for (std::size_t i = 0; i < kept.leaf_grad.size(); ++i) CHECK(released.leaf_grad[i] == kept.leaf_grad[i]);
  CHECK(kept.intermediate_has_grad);
  CHECK_FALSE(released.intermediate_has_grad);
  // 19 ops of 128 KiB results: kept, every one holds a gradient buffer as well; released, a
  // handful are live at a time and the others reuse their memory.
  const std::size_t one_result = 16 * 1024 * sizeof(double);
  CHECK(kept.arena_bytes >= released.arena_bytes + 10 * one_result);
}

TEST_CASE("an intermediate gradient can be read after backward by default only", "[autograd][memory]") {
  std::mt19937_64 rng(6);
  const auto input = random_tensor(Wide{2}, rng);
  auto step = tape();
  const auto x = variable(input);
  const auto y = exp(x);
  backward(sum(y));
  CHECK(y.grad()(1, 3) == Approx(1.0));
  const auto z = exp(x);
  backward(sum(z), {.keep_intermediate_grads = false});
  REQUIRE_THROWS_AS(z.grad(), value_error);
  CHECK(x.grad()(1, 3) == Approx(2 * std::exp(input(1, 3))));  // the leaf accumulated both passes
}

}  // namespace autograd_test_gradient_release
