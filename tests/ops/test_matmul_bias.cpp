#include <catch2/catch.hpp>

#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_matmul_bias {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

template <class V>
std::vector<double> values_of(const V& view) {
  const auto t = to_tensor(view);
  return {t.span().begin(), t.span().end()};
}

}  // namespace

TEST_CASE("matmul_bias equals matmul then add, in values and gradients", "[ops][matmul][linear]") {
  std::mt19937_64 rng(21);
  auto x = random_tensor(Shape<dyn, dyn, 5>{2, 3}, rng);
  auto w_out_in = random_tensor(Shape<4, 5>{}, rng);  // stored (N, K) as nn.Linear, used transposed
  auto b = random_tensor(Shape<4>{}, rng);
  auto contraction = random_tensor(Shape<dyn, dyn, 4>{2, 3}, rng);

  // y, dx, dw, db of L = Σ c ⊙ y, by the fused op or by the composition it replaces.
  auto run = [&](bool fused) {
    auto step = tape();
    const auto xv = variable(x);
    const auto wv = variable(w_out_in);
    const auto bv = variable(b);
    auto y = fused ? matmul_bias(xv, transpose(wv), bv) : add(matmul(xv, transpose(wv)), bv);
    backward(sum(mul(y, constant(contraction))));
    return std::vector<std::vector<double>>{values_of(y.value()), values_of(xv.grad()), values_of(wv.grad()), values_of(bv.grad())};
  };
  const auto fused = run(true), composed = run(false);
  for (std::size_t part = 0; part < fused.size(); ++part) {
    INFO("part " << part << " (0: y, 1: dx, 2: dw, 3: db)");
    REQUIRE(fused[part].size() == composed[part].size());
    for (std::size_t i = 0; i < fused[part].size(); ++i) CHECK(fused[part][i] == Approx(composed[part][i]).margin(1e-14));
  }
}

TEST_CASE("matmul_bias passes the gradient check", "[ops][matmul][linear][gradcheck]") {
  std::mt19937_64 rng(22);
  auto x = random_tensor(Shape<dyn, 3>{4}, rng);
  auto w = random_tensor(Shape<3, 2>{}, rng);
  auto w_out_in = random_tensor(Shape<2, 3>{}, rng);
  auto b = random_tensor(Shape<2>{}, rng);
  auto x_t = random_tensor(Shape<3, dyn>{4}, rng);
  CHECK(check_gradients([](auto xv, auto wv, auto bv) { return matmul_bias(xv, wv, bv); }, x, w, b));
  CHECK(check_gradients([](auto xv, auto wv, auto bv) { return matmul_bias(xv, transpose(wv), bv); }, x, w_out_in, b));
  // A strided x (here a transpose) is made contiguous first; its gradient goes back through the copy.
  CHECK(check_gradients([](auto xv, auto wv, auto bv) { return matmul_bias(transpose(xv), wv, bv); }, x_t, w, b));
}

TEST_CASE("matmul_bias refuses a bias of the wrong width", "[ops][matmul][linear]") {
  auto step = tape();
  Tensor<float, Shape<dyn, 3>> x(Shape<dyn, 3>{2}, 1.0f);
  Tensor<float, Shape<3, dyn>> w(Shape<3, dyn>{4}, 1.0f);
  Tensor<float, Shape<dyn>> b(Shape<dyn>{5}, 0.0f);
  REQUIRE_THROWS_AS(matmul_bias(constant(x), constant(w), constant(b)), shape_error);
}

}  // namespace ops_test_matmul_bias
