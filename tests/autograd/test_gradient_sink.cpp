// Var::grad_sink(): the first gradient to reach a whole, contiguous value is stored into a
// buffer that was never zeroed; every later one (and any that reaches only a view) adds.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/normalization.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/ops/views.hpp"

namespace autograd_test_gradient_sink {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("grad_sink stores into a fresh whole value and adds otherwise", "[autograd]") {
  auto step = tape();
  Tensor<double, Shape<2, 3>> value(Shape<2, 3>{});
  const auto x = variable(value);
  const auto first = x.grad_sink();
  CHECK(first.mode == grad_write::store);
  const auto second = x.grad_sink();
  CHECK(second.mode == grad_write::add);
  CHECK(second.data() == first.data());

  const auto y = variable(value);
  const auto row = slice<0>(y, 1, 2);  // a view: the rest of y's buffer must be zero, so it adds
  const auto sink = row.grad_sink();
  CHECK(sink.mode == grad_write::add);
  const auto gy = to_tensor(y.grad());
  for (double g : gy.span()) CHECK(g == 0.0);
}

// One input read by every op whose backward can store (gelu, layer norm, add of same shapes,
// x + x, matmul_bias' dx), in float64 against central differences, with intermediate
// gradients released so that stored-into buffers are recycled ones holding old values.
TEST_CASE("a value read by several storing ops gets the sum of their gradients", "[autograd][gradcheck]") {
  std::mt19937_64 rng(31);
  auto x = random_tensor(Shape<dyn, 8>{5}, rng);
  auto w = random_tensor(Shape<8, 16>{}, rng);
  auto b = random_tensor(Shape<16>{}, rng);
  auto ln_w = random_tensor(Shape<8>{}, rng);
  auto ln_b = random_tensor(Shape<8>{}, rng);
  const auto f = [&](const auto& xv, const auto& wv, const auto& bv) {
    const auto h = gelu(xv);
    const auto n = layer_norm(add(h, xv), constant(ln_w), constant(ln_b));
    const auto doubled = add(n, n);
    return matmul_bias(add(doubled, xv), wv, bv);
  };
  const auto result = check_gradients(f, x, w, b);
  INFO("worst error " << result.worst_error);
  CHECK(result.ok);

  // The same gradient with intermediate gradients released (recycled buffers) and kept.
  auto run = [&](bool keep) {
    auto step = tape();
    const auto xv = variable(x);
    const auto y = f(xv, variable(w), variable(b));
    backward(sum(mul(y, y)), {.keep_intermediate_grads = keep});
    const auto g = to_tensor(xv.grad());
    return std::vector<double>(g.span().begin(), g.span().end());
  };
  const auto kept = run(true), released = run(false);
  REQUIRE(kept.size() == released.size());
  for (std::size_t i = 0; i < kept.size(); ++i) CHECK(released[i] == kept[i]);
}

}  // namespace autograd_test_gradient_sink
