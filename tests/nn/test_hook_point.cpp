#include <catch2/catch.hpp>

#include "ranklens/nn/hook_point.hpp"
#include "ranklens/ops/arithmetic.hpp"

namespace nn_test_hook_point {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("a HookPoint without hooks returns its input, hooks run in the order added", "[nn][hooks]") {
  using V = Var<double, Shape<dyn, 2>>;
  HookPoint<V> point;
  auto step = tape();
  Tensor<double, Shape<dyn, 2>> x(Shape<dyn, 2>{1}, {1, 2});
  const V input = constant(x);
  CHECK(point(input).node() == input.node());
  point.add([](const V& v) { return v + 1.0; });
  point.add([](const V& v) { return v * 10.0; });
  CHECK(point.size() == 2);
  CHECK(point(input).value()(0, 1) == 30.0);
  point.clear();
  CHECK(point.empty());
  CHECK(point(input).node() == input.node());
}

}  // namespace nn_test_hook_point
