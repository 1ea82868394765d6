#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/autograd/parameter.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/embedding.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_embedding {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
// Row v of the table is (10v, 10v + 1, 10v + 2): a looked-up value names its row and column.
Tensor<double, Shape<dyn, 3>> numbered_table(index_t vocabulary) {
  Tensor<double, Shape<dyn, 3>> t(Shape<dyn, 3>{vocabulary});
  for (index_t v = 0; v < vocabulary; ++v)
    for (index_t j = 0; j < 3; ++j) t(v, j) = double(10 * v + j);
  return t;
}
}  // namespace

TEST_CASE("embedding gathers one row per token id and keeps the width static", "[ops][embedding]") {
  auto step = tape();
  auto table = numbered_table(5);
  Tensor<std::int32_t, Shape<dyn, dyn>> ids(Shape<dyn, dyn>{2, 3}, {4, 0, 2, 2, 2, 1});
  auto y = embedding(variable(table), ids);
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, dyn, 3>>);
  CHECK(y.shape() == Shape<dyn, dyn, 3>{2, 3});
  const std::int32_t flat[] = {4, 0, 2, 2, 2, 1};
  for (int p = 0; p < 6; ++p)
    for (int j = 0; j < 3; ++j) CHECK(y.value()(p / 3, p % 3, j) == double(10 * flat[p] + j));

  Tensor<std::int32_t, Shape<>> single(Shape<>{}, {3});  // a lone id gives a single row
  auto row = embedding(variable(table), single.view());
  static_assert(std::is_same_v<decltype(row)::shape_type, Shape<3>>);
  CHECK(row.value()(2) == 32.0);
}

TEST_CASE("embedding reads strided ids and a strided table", "[ops][embedding]") {
  auto step = tape();
  Tensor<double, Shape<3, 4>> table_t(Shape<3, 4>{}, {0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32});  // (D, V)
  Tensor<std::int32_t, Shape<2, 2>> ids(Shape<2, 2>{}, {1, 2, 3, 0});
  auto y = embedding(transpose(variable(table_t)), transpose(ids.view()));  // ids read as [[1, 3], [2, 0]]
  CHECK(y.value()(0, 1, 2) == 32.0);
  CHECK(y.value()(1, 0, 1) == 21.0);
  CHECK(y.value()(1, 1, 0) == 0.0);
}

TEST_CASE("a repeated token accumulates the gradients of all its positions", "[ops][embedding]") {
  auto step = tape();
  Parameter<double, Shape<4, 2>> weight(Tensor<double, Shape<4, 2>>(Shape<4, 2>{}, 0.0), "wte");
  Tensor<std::int32_t, Shape<5>> ids(Shape<5>{}, {1, 3, 1, 1, 0});
  auto y = embedding(weight.var(), ids);
  Tensor<double, Shape<5, 2>> seed(Shape<5, 2>{}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  backward(y, seed.view());
  // Row 1 appears at positions 0, 2, 3; row 2 never.
  CHECK(weight.grad()(1, 0) == 1.0 + 5.0 + 7.0);
  CHECK(weight.grad()(1, 1) == 2.0 + 6.0 + 8.0);
  CHECK(weight.grad()(3, 1) == 4.0);
  CHECK(weight.grad()(0, 0) == 9.0);
  CHECK(weight.grad()(2, 0) == 0.0);
  CHECK(weight.grad()(2, 1) == 0.0);
}

TEST_CASE("embedding of a frozen table records nothing", "[ops][embedding]") {
  auto step = tape();
  Parameter<double, Shape<4, 2>> weight(Tensor<double, Shape<4, 2>>(Shape<4, 2>{}, 1.0));
  weight.freeze();
  Tensor<std::int32_t, Shape<2>> ids(Shape<2>{}, {0, 3});
  const auto entries = Tape::current().entries();
  auto y = embedding(weight.var(), ids);
  CHECK_FALSE(y.requires_grad());
  CHECK(Tape::current().entries() == entries);
}

TEST_CASE("embedding names an out-of-range id, its position and V", "[ops][embedding]") {
  auto step = tape();
  auto table = numbered_table(5);
  Tensor<std::int32_t, Shape<dyn, 3>> ids(Shape<dyn, 3>{2}, {0, 1, 2, 3, 5, 4});
  REQUIRE_THROWS_AS(embedding(variable(table), ids), value_error);
  REQUIRE_THROWS_WITH(embedding(variable(table), ids),
                      Catch::Contains("embedding") && Catch::Contains("token id 5") && Catch::Contains("position (1, 1)") &&
                          Catch::Contains("V = 5"));
  ids(0, 2) = -1;
  REQUIRE_THROWS_WITH(embedding(variable(table), ids), Catch::Contains("token id -1") && Catch::Contains("(0, 2)"));
}

TEST_CASE("embedding passes the gradient check, repeated ids included", "[ops][embedding][gradcheck]") {
  std::mt19937_64 rng(31);
  auto weight = random_tensor(Shape<dyn, 5>{7}, rng);
  Tensor<std::int32_t, Shape<dyn, dyn>> ids(Shape<dyn, dyn>{3, 3}, {6, 0, 6, 2, 2, 2, 5, 1, 0});
  CHECK(check_gradients([&](auto w) { return embedding(w, ids); }, weight));
  CHECK(check_gradients([&](auto w) { return embedding(w, ids) * embedding(w, transpose(ids.view())); }, weight));

  auto table_t = random_tensor(Shape<1, dyn>{4}, rng);  // width 1, read through a transpose
  Tensor<std::int32_t, Shape<dyn>> few(Shape<dyn>{5}, {3, 3, 0, 1, 3});
  CHECK(check_gradients([&](auto w) { return embedding(transpose(w), few); }, table_t));
}

}  // namespace ops_test_embedding
