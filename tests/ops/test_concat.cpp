#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/concat.hpp"

namespace ops_test_concat {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("concat joins tensors along an axis and keeps static extents static", "[ops][concat]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 2>> a(Shape<dyn, 2>{2}, {1, 2, 3, 4});
  Tensor<double, Shape<1, 2>> b(Shape<1, 2>{}, {5, 6});
  Tensor<double, Shape<dyn, 3>> c(Shape<dyn, 3>{2}, {7, 8, 9, 10, 11, 12});

  auto rows = concat<0>(variable(a), variable(b));
  static_assert(std::is_same_v<decltype(rows)::shape_type, Shape<dyn, 2>>);
  CHECK(rows.shape() == Shape<dyn, 2>{3});
  const double expected_rows[] = {1, 2, 3, 4, 5, 6};
  for (int i = 0; i < 6; ++i) CHECK(rows.value().data()[i] == expected_rows[i]);

  auto cols = concat<-1>(variable(a), variable(c), variable(a));
  static_assert(std::is_same_v<decltype(cols)::shape_type, Shape<dyn, 7>>);
  const double expected_cols[] = {1, 2, 7, 8, 9, 1, 2, 3, 4, 10, 11, 12, 3, 4};
  for (int i = 0; i < 14; ++i) CHECK(cols.value().data()[i] == expected_cols[i]);

  Tensor<double, Shape<2, 3>> s(Shape<2, 3>{}, 0.0);
  auto fully_static = concat<1>(variable(s), variable(s));
  static_assert(std::is_same_v<decltype(fully_static)::shape_type, Shape<2, 6>>);
}

TEST_CASE("concat of strided views reads them through their strides", "[ops][concat]") {
  auto step = tape();
  Tensor<double, Shape<2, 3>> x(Shape<2, 3>{}, {1, 2, 3, 4, 5, 6});
  auto xv = variable(x);
  auto y = concat<1>(transpose(xv), slice<1>(transpose(xv), 1, 2));  // (3, 2) and (3, dyn=1) -> (3, dyn=3)
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<3, dyn>>);
  const double expected[] = {1, 4, 4, 2, 5, 5, 3, 6, 6};
  for (int i = 0; i < 9; ++i) CHECK(y.value().data()[i] == expected[i]);
}

TEST_CASE("concat rejects run-time extents that differ off the joined axis", "[ops][concat]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 2>> a(Shape<dyn, 2>{2}, 0.0);
  Tensor<double, Shape<dyn, 2>> b(Shape<dyn, 2>{3}, 0.0);
  REQUIRE_THROWS_WITH(concat<1>(variable(a), variable(b)),
                      Catch::Contains("concat") && Catch::Contains("(dyn=2, 2)") && Catch::Contains("(dyn=3, 2)"));
  CHECK_NOTHROW(concat<0>(variable(a), variable(b)));
}

TEST_CASE("split cuts views that share the input's storage", "[ops][concat]") {
  auto step = tape();
  Tensor<double, Shape<2, 6>> x(Shape<2, 6>{}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto xv = variable(x);
  const auto entries = Tape::current().entries();

  auto [q, k, v] = split<-1, 3>(xv);
  static_assert(std::is_same_v<decltype(q)::shape_type, Shape<2, 2>>);
  CHECK(q.node() == xv.node());
  CHECK(k.value()(1, 0) == 8.0);
  CHECK(v.value()(0, 1) == 5.0);

  auto [head, tail] = split<1>(xv, 1, 5);
  static_assert(std::is_same_v<decltype(head)::shape_type, Shape<2, dyn>>);
  CHECK(head.shape() == Shape<2, dyn>{1});
  CHECK(tail.value()(1, 4) == 11.0);
  CHECK(Tape::current().entries() == entries);

  auto parts = split<0>(x.view(), 2, 0);  // TensorViews too, and empty parts
  CHECK(parts[1].numel() == 0);

  REQUIRE_THROWS_WITH(split<1>(xv, 2, 3), Catch::Contains("split") && Catch::Contains("2 + 3 = 5") &&
                                              Catch::Contains("(2, 6)"));
  Tensor<double, Shape<dyn>> odd(Shape<dyn>{7}, 0.0);
  REQUIRE_THROWS_WITH((split<0, 2>(variable(odd))), Catch::Contains("split") && Catch::Contains("(dyn=7)"));
}

TEST_CASE("concat and split pass the gradient check", "[ops][concat][gradcheck]") {
  std::mt19937_64 rng(21);
  auto a = random_tensor(Shape<dyn, 1, 3>{2}, rng);
  auto b = random_tensor(Shape<dyn, 5, 3>{2}, rng);
  auto c = random_tensor(Shape<2, dyn, 3>{1}, rng);
  CHECK(check_gradients([](auto x, auto y) { return concat<1>(x, y); }, a, b));
  CHECK(check_gradients([](auto x, auto y, auto z) { return concat<-2>(y, x, z, x); }, a, b, c));
  // Parts read through strides, and one input used twice.
  CHECK(check_gradients(
      [](auto x, auto y) { return concat<2>(transpose<1, 2>(x), transpose<1, 2>(y), transpose<1, 2>(x)) * 0.5; }, a, b));

  auto d = random_tensor(Shape<dyn, 9>{3}, rng);
  CHECK(check_gradients(
      [](auto x) {
        auto [p, q, r] = split<1, 3>(x);
        return p * q + r;
      },
      d));
  CHECK(check_gradients(
      [](auto x) {
        auto [p, q] = split<0>(x, 1, 2);
        return concat<0>(q, p * p);  // a round trip with a permutation of the rows
      },
      d));
}

}  // namespace ops_test_concat
