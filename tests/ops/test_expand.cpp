#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/expand.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/unary.hpp"

namespace ops_test_expand {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("expand repeats an axis of extent 1 with stride 0", "[ops][expand]") {
  auto step = tape();
  Tensor<double, Shape<2, 1, 3>> x(Shape<2, 1, 3>{}, {1, 2, 3, 4, 5, 6});
  auto y = expand<1, 4>(constant(x));
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<2, 4, 3>>);
  CHECK(y.strides()[1] == 0);
  CHECK(y.value()(1, 3, 2) == 6);
  CHECK(y.value()(0, 2, 0) == 1);
  auto d = expand<1>(constant(x), 5);
  static_assert(std::is_same_v<decltype(d)::shape_type, Shape<2, dyn, 3>>);
  CHECK(d.extent(1) == 5);
  CHECK(d.value()(1, 4, 0) == 4);
}

TEST_CASE("expand refuses an axis whose extent is not 1", "[ops][expand]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 3>> x(Shape<dyn, 3>{2}, 0.0);
  REQUIRE_THROWS_WITH(expand<0>(constant(x), 4), Catch::Contains("expand") && Catch::Contains("(dyn=2, 3)"));
}

// The backward of expand is a sum over the expanded axis; it needs no op of its own because
// every consumer accumulates through the stride-0 view.
TEST_CASE("gradients sum over an expanded axis through matmul, elementwise ops and copies", "[ops][expand][gradcheck]") {
  std::mt19937_64 rng(4);
  auto keys = random_tensor(Shape<dyn, 2, 1, 5, 3>{2}, rng);     // (B, kv heads, 1, T, D)
  auto queries = random_tensor(Shape<dyn, 2, 3, 5, 3>{2}, rng);  // (B, kv heads, group, T, D)
  CHECK(check_gradients(
      [](auto k, auto q) { return matmul(q, transpose(expand<2, 3>(k))); }, keys, queries));
  auto pattern = random_tensor(Shape<dyn, 2, 3, 5, 5>{2}, rng);
  CHECK(check_gradients([](auto k, auto p) { return matmul(p, expand<2, 3>(k)); }, keys, pattern));
  CHECK(check_gradients([](auto k, auto q) { return tanh(expand<2, 3>(k)) * q; }, keys, queries));
  auto row = random_tensor(Shape<1, 4>{}, rng);
  CHECK(check_gradients([](auto r) { return exp(expand<0>(r, 3)); }, row));
}

}  // namespace ops_test_expand
