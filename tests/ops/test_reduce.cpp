#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/reduce.hpp"

namespace ops_test_reduce {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("sum, mean and max over an axis, dropping or keeping it", "[ops][reduce]") {
  auto step = tape();
  Tensor<double, Shape<2, 3>> t(Shape<2, 3>{}, {1, 5, 3, -4, 2, 0});
  auto x = constant(t);
  auto rows = sum<1>(x);
  STATIC_REQUIRE(std::is_same_v<decltype(rows)::shape_type, Shape<2>>);
  CHECK(rows.value()(0) == 9);
  CHECK(rows.value()(1) == -2);
  auto cols = mean<0, keep_dim>(x);
  STATIC_REQUIRE(std::is_same_v<decltype(cols)::shape_type, Shape<1, 3>>);
  CHECK(cols.value()(0, 1) == 3.5);
  auto top = max<-1>(x);
  CHECK(top.value()(0) == 5);
  CHECK(top.value()(1) == 2);
  CHECK(sum(x).item() == 7);
  CHECK(mean(x).item() == Approx(7.0 / 6));
}

TEST_CASE("reductions pass the gradient check on every axis of an odd 3-D shape", "[ops][reduce][gradcheck]") {
  std::mt19937_64 rng(4);
  auto x = random_tensor(Shape<dyn, 5, 1>{3}, rng);
  auto y = random_tensor(Shape<4, dyn, 3>{7}, rng);
  CHECK(check_gradients([](auto v) { return sum<0>(v); }, x));
  CHECK(check_gradients([](auto v) { return sum<1, keep_dim>(v); }, x));
  CHECK(check_gradients([](auto v) { return sum<2>(v); }, x));
  CHECK(check_gradients([](auto v) { return mean<1>(v); }, y));
  CHECK(check_gradients([](auto v) { return mean<-1, keep_dim>(v); }, y));
  CHECK(check_gradients([](auto v) { return max<1>(v); }, y));   // random values: no ties
  CHECK(check_gradients([](auto v) { return max<0>(v); }, y));
  CHECK(check_gradients([](auto v) { return sum(v); }, y));
  CHECK(check_gradients([](auto v) { return mean(transpose(v)); }, y));
}

TEST_CASE("max sends the gradient to the first maximum, as PyTorch", "[ops][reduce]") {
  auto step = tape();
  Tensor<double, Shape<4>> t(Shape<4>{}, {1, 3, 3, 2});
  auto x = variable(t);
  backward(max<0>(x));
  CHECK(x.grad()(1) == 1);
  CHECK(x.grad()(2) == 0);
}

}  // namespace ops_test_reduce
