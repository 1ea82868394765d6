#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/masking.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_masking {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
template <ShapeType S>
Tensor<double, S> iota(const S& shape) {
  Tensor<double, S> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = double(i);
  return t;
}
}  // namespace

TEST_CASE("causal_mask_fill hides every key after the query", "[ops][masking]") {
  auto step = tape();
  auto x = iota(Shape<dyn, 3, 3>{2});
  const double inf = std::numeric_limits<double>::infinity();
  auto y = causal_mask_fill(variable(x), -inf);
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, 3, 3>>);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        if (j > i)
          CHECK(y.value()(b, i, j) == -inf);
        else
          CHECK(y.value()(b, i, j) == x(b, i, j));
      }
}

TEST_CASE("causal_mask_fill with an offset lets new queries see the cached keys", "[ops][masking]") {
  auto step = tape();
  auto x = iota(Shape<2, 5>{});  // 2 new queries, 5 keys of which 3 were cached: offset 3
  auto y = causal_mask_fill(variable(x), -1.0, 3);
  const double expected[] = {0, 1, 2, 3, -1,  //
                             5, 6, 7, 8, 9};
  for (int k = 0; k < 10; ++k) CHECK(y.value().data()[k] == expected[k]);

  auto hidden = causal_mask_fill(variable(x), -1.0, -2);  // a negative offset may hide whole rows
  CHECK(hidden.value()(0, 0) == -1.0);
  CHECK(hidden.value()(1, 0) == -1.0);
  auto rows_only = causal_mask_fill(variable(iota(Shape<4, 2>{})), -1.0);  // more queries than keys
  CHECK(rows_only.value()(0, 1) == -1.0);
  CHECK(rows_only.value()(3, 1) == 7.0);
}

TEST_CASE("causal_mask_fill reads strided scores", "[ops][masking]") {
  auto step = tape();
  auto x = iota(Shape<3, 3>{});
  auto y = causal_mask_fill(transpose(variable(x)), 100.0);
  const double expected[] = {0, 100, 100, 1, 4, 100, 2, 5, 8};
  for (int k = 0; k < 9; ++k) CHECK(y.value().data()[k] == expected[k]);
}

TEST_CASE("the masked entries get no gradient, even when filled with -inf", "[ops][masking]") {
  auto step = tape();
  auto x = iota(Shape<3, 3>{});
  auto xv = variable(x);
  auto y = causal_mask_fill(xv, -std::numeric_limits<double>::infinity());
  Tensor<double, Shape<3, 3>> seed(Shape<3, 3>{}, 2.0);
  backward(y, seed.view());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) CHECK(xv.grad()(i, j) == (j > i ? 0.0 : 2.0));
}

TEST_CASE("causal_mask_fill passes the gradient check", "[ops][masking][gradcheck]") {
  std::mt19937_64 rng(41);
  auto square = random_tensor(Shape<dyn, 1, 5, 5>{2}, rng);
  auto cached = random_tensor(Shape<dyn, 3, dyn>{2, 7}, rng);
  auto single = random_tensor(Shape<1, 1>{}, rng);
  // The fill value is finite here: the check contracts the whole result into one number.
  CHECK(check_gradients([](auto s) { return causal_mask_fill(s, -7.0); }, square));
  CHECK(check_gradients([](auto s) { return causal_mask_fill(s, 0.0, 4) * s; }, cached));
  CHECK(check_gradients([](auto s) { return causal_mask_fill(transpose(s), 1.0, -1) * 3.0; }, cached));
  CHECK(check_gradients([](auto s) { return causal_mask_fill(s, 5.0); }, single));
}

}  // namespace ops_test_masking
