#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_views {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
// 0, 1, 2, ... in row-major order: every element names its own position.
template <ShapeType S>
Tensor<double, S> iota(const S& shape) {
  Tensor<double, S> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = double(i);
  return t;
}
}  // namespace

TEST_CASE("transpose swaps two axes without a copy or a tape entry", "[ops][views]") {
  auto step = tape();
  auto x = iota(Shape<dyn, 3>{2});  // [[0 1 2] [3 4 5]]
  auto xv = variable(x);
  const auto entries = Tape::current().entries();
  auto y = transpose(xv);
  static_assert(std::is_same_v<decltype(y), Var<double, Shape<3, dyn>>>);
  CHECK(Tape::current().entries() == entries);
  CHECK(y.node() == xv.node());
  CHECK(y.shape() == Shape<3, dyn>{2});
  CHECK(y.value()(0, 1) == 3.0);
  CHECK(y.value()(2, 0) == 2.0);
  CHECK_FALSE(y.is_contiguous());

  auto z = transpose<0, -1>(xv);  // the same swap, axes named explicitly
  CHECK(z.value()(1, 1) == 4.0);
  CHECK(z.strides() == y.strides());
}

TEST_CASE("permute reorders axes (B, T, H, D) -> (B, H, T, D)", "[ops][views]") {
  auto step = tape();
  auto x = iota(Shape<dyn, dyn, 2, 3>{2, 4});
  auto y = permute<0, 2, 1, -1>(variable(x));
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, 2, dyn, 3>>);
  CHECK(y.shape() == Shape<dyn, 2, dyn, 3>{2, 4});
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 4; ++t)
      for (int h = 0; h < 2; ++h)
        for (int d = 0; d < 3; ++d) CHECK(y.value()(b, h, t, d) == x(b, t, h, d));
}

TEST_CASE("slice takes a range of one axis and checks its bounds", "[ops][views]") {
  auto step = tape();
  auto x = iota(Shape<dyn, 5>{3});
  auto xv = variable(x);
  auto cols = slice<1>(xv, 1, 4);
  static_assert(std::is_same_v<decltype(cols)::shape_type, Shape<dyn, dyn>>);
  CHECK(cols.shape() == Shape<dyn, dyn>{3, 3});
  CHECK(cols.value()(0, 0) == 1.0);
  CHECK(cols.value()(2, 2) == 13.0);

  auto rows = slice<0, 1, 3>(xv);  // static form: extent 2 in the type
  static_assert(std::is_same_v<decltype(rows)::shape_type, Shape<2, 5>>);
  CHECK(rows.value()(0, 0) == 5.0);
  CHECK(rows.is_contiguous());

  auto empty = slice<-1>(xv, 5, 5);
  CHECK(empty.numel() == 0);

  REQUIRE_THROWS_AS(slice<1>(xv, 2, 6), shape_error);
  REQUIRE_THROWS_WITH(slice<1>(xv, 3, 2), Catch::Contains("slice") && Catch::Contains("[3, 2)") &&
                                              Catch::Contains("(dyn=3, 5)"));
  REQUIRE_THROWS_WITH((slice<0, 1, 4>(xv)), Catch::Contains("slice") && Catch::Contains("(dyn=3, 5)"));
}

TEST_CASE("select, unsqueeze and squeeze add or drop an axis as views", "[ops][views]") {
  auto step = tape();
  auto x = iota(Shape<dyn, 4>{3});
  auto xv = variable(x);
  auto row = select<0>(xv, 2);
  static_assert(std::is_same_v<decltype(row)::shape_type, Shape<4>>);
  CHECK(row.value()(3) == 11.0);
  auto col = select<-1>(xv, 1);
  static_assert(std::is_same_v<decltype(col)::shape_type, Shape<dyn>>);
  CHECK(col.value()(2) == 9.0);
  REQUIRE_THROWS_WITH(select<1>(xv, 4), Catch::Contains("select") && Catch::Contains("(dyn=3, 4)"));

  auto u = unsqueeze<1>(xv);
  static_assert(std::is_same_v<decltype(u)::shape_type, Shape<dyn, 1, 4>>);
  CHECK(u.value()(2, 0, 1) == 9.0);
  CHECK(u.is_contiguous());
  auto last = unsqueeze<-1>(xv);
  static_assert(std::is_same_v<decltype(last)::shape_type, Shape<dyn, 4, 1>>);
  CHECK(last.value()(1, 3, 0) == 7.0);
  auto back = squeeze<1>(u);
  static_assert(std::is_same_v<decltype(back)::shape_type, Shape<dyn, 4>>);
  CHECK(back.value()(1, 2) == 6.0);
  REQUIRE_THROWS_AS(squeeze<0>(xv), shape_error);  // extent 3, not 1
}

TEST_CASE("reshape is a view when the layout allows and a recorded copy otherwise", "[ops][views]") {
  auto step = tape();
  auto x = iota(Shape<dyn, 6>{2});
  auto xv = variable(x);
  const auto entries = Tape::current().entries();

  auto r = reshape<Shape<dyn, 2, 3>>(xv, 2);
  CHECK(r.node() == xv.node());
  CHECK(r.value()(1, 1, 2) == 11.0);
  auto flat = reshape(xv, Shape<12>{});
  CHECK(flat.node() == xv.node());

  // Columns 3..5 of every row (the k of a fused qkv projection): strided, yet a view.
  auto k = slice<1>(xv, 3, 6);
  auto heads = reshape(k, Shape<dyn, 3, 1>{2});
  CHECK(heads.node() == xv.node());
  CHECK(heads.value()(1, 2, 0) == 11.0);
  CHECK(Tape::current().entries() == entries);

  // A transpose cannot be flattened in place: one copy, one tape entry.
  auto t = flatten(transpose(xv));
  static_assert(std::is_same_v<decltype(t)::shape_type, Shape<dyn>>);
  CHECK(t.node() != xv.node());
  CHECK(Tape::current().entries() == entries + 1);
  const double expected[] = {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11};
  for (int i = 0; i < 12; ++i) CHECK(t.value()(i) == expected[i]);

  REQUIRE_THROWS_WITH((reshape<Shape<dyn, 5>>(xv, 2)), Catch::Contains("reshape") && Catch::Contains("(dyn=2, 6)") &&
                                                        Catch::Contains("(dyn=2, 5)"));
}

TEST_CASE("unflatten and flatten split and merge attention heads", "[ops][views]") {
  auto step = tape();
  constexpr index_t heads = 2, head_dim = 3;
  auto x = iota(Shape<dyn, dyn, heads * head_dim>{2, 4});  // (B, T, H·D)
  auto xv = variable(x);
  auto split = unflatten<-1, heads, head_dim>(xv);  // (B, T, H, D)
  static_assert(std::is_same_v<decltype(split)::shape_type, Shape<dyn, dyn, 2, 3>>);
  CHECK(split.node() == xv.node());
  CHECK(split.value()(1, 2, 1, 0) == x(1, 2, 3));

  auto inferred = unflatten<-1, dyn, head_dim>(xv);  // the dyn extent comes out static: 6 / 3
  static_assert(std::is_same_v<decltype(inferred)::shape_type, Shape<dyn, dyn, 2, 3>>);
  auto batch_split = unflatten<0, dyn, 1>(xv);
  static_assert(std::is_same_v<decltype(batch_split)::shape_type, Shape<dyn, 1, dyn, 6>>);
  CHECK(batch_split.shape() == Shape<dyn, 1, dyn, 6>{2, 4});
  REQUIRE_THROWS_WITH((unflatten<1, dyn, 3>(xv)), Catch::Contains("unflatten") && Catch::Contains("(dyn, 3)"));

  auto merged = flatten<-2, -1>(permute<0, 2, 1, 3>(split));  // (B, H, T·D)
  static_assert(std::is_same_v<decltype(merged)::shape_type, Shape<dyn, 2, dyn>>);
  CHECK(merged.shape() == Shape<dyn, 2, dyn>{2, 12});
  CHECK(merged.value()(1, 1, 5) == x(1, 1, 5));  // head 1, t = 1, d = 2
}

TEST_CASE("contiguous returns a dense value as it is and copies a strided one", "[ops][views]") {
  auto step = tape();
  auto x = iota(Shape<2, 3>{});
  auto xv = variable(x);
  auto same = contiguous(xv);
  CHECK(same.node() == xv.node());
  auto dense = contiguous(transpose(xv));
  CHECK(dense.is_contiguous());
  CHECK(dense.node() != xv.node());
  CHECK(dense.value()(2, 1) == 5.0);
  CHECK(dense.value().data()[1] == 3.0);
}

TEST_CASE("view functions also take a TensorView", "[ops][views]") {
  auto x = iota(Shape<dyn, 4>{3});
  auto t = transpose(x.view());
  static_assert(std::is_same_v<decltype(t), TensorView<double, Shape<4, dyn>>>);
  CHECK(t(3, 2) == 11.0);
  auto r = reshape<Shape<2, dyn>>(x.view(), 6);
  CHECK(r(1, 0) == 6.0);
  REQUIRE_THROWS_WITH(flatten(t), Catch::Contains("to_tensor"));
}

TEST_CASE("the gradient of a view is the same view of the base's gradient", "[ops][views][gradcheck]") {
  std::mt19937_64 rng(11);
  auto a = random_tensor(Shape<dyn, 1, 5>{3}, rng);
  auto w = random_tensor(Shape<5, 1, dyn>{3}, rng);
  CHECK(check_gradients([](auto x) { return transpose<0, -1>(x); }, a));
  CHECK(check_gradients([](auto x, auto y) { return permute<2, 1, 0>(x) * y; }, a, w));
  CHECK(check_gradients([](auto x) { return slice<-1>(x, 1, 4); }, a));
  CHECK(check_gradients([](auto x) { return select<0>(x, 2) * 3.0; }, a));
  CHECK(check_gradients([](auto x) { return unsqueeze<0>(squeeze<1>(x)); }, a));

  // A view of an intermediate result, not of a leaf.
  CHECK(check_gradients([](auto x, auto y) { return transpose<0, 2>(x * x) * y; }, a, w));
}

TEST_CASE("overlapping and adjacent slices of one base both accumulate into its gradient", "[ops][views][gradcheck]") {
  {  // by hand: y = x[0:3] * x[2:5], so x[2] gets x[0] + x[4] and the others one term each
    auto step = tape();
    Tensor<double, Shape<5>> x(Shape<5>{}, {1, 2, 3, 4, 5});
    auto xv = variable(x);
    auto y = slice<0>(xv, 0, 3) * slice<0>(xv, 2, 5);
    Tensor<double, Shape<dyn>> seed(Shape<dyn>{3}, 1.0);
    backward(y, seed.view());
    const double expected[] = {3, 4, 1 + 5, 2, 3};
    for (int i = 0; i < 5; ++i) CHECK(xv.grad()(i) == expected[i]);
  }
  std::mt19937_64 rng(12);
  auto a = random_tensor(Shape<dyn, 7>{3}, rng);
  CHECK(check_gradients([](auto x) { return slice<1>(x, 0, 4) * slice<1>(x, 2, 6); }, a));
  CHECK(check_gradients([](auto x) { return slice<1, 0, 3>(x) + slice<1, 3, 6>(x) * 2.0; }, a));
  // A slice and a transposed slice of the same base.
  CHECK(check_gradients([](auto x) { return slice<1>(x, 0, 3) * transpose(slice<1>(x, 4, 7)); }, a));
}

TEST_CASE("reshape and contiguous pass the gradient check on strided inputs", "[ops][views][gradcheck]") {
  std::mt19937_64 rng(13);
  auto a = random_tensor(Shape<dyn, dyn, 3>{2, 5}, rng);
  auto b = random_tensor(Shape<dyn, 1>{15}, rng);
  CHECK(check_gradients([](auto x) { return contiguous(transpose<0, 1>(x)); }, a));
  CHECK(check_gradients([](auto x) { return flatten<0, 1>(transpose<0, 1>(x)) * 2.0; }, a));
  // A copy (the permuted reshape) and a view (the strided slice) of one base, added.
  CHECK(check_gradients(
      [](auto x, auto y) {
        auto copied = reshape<Shape<dyn, 1>>(permute<2, 0, 1>(x), 30);
        auto viewed = reshape<Shape<dyn, 1>>(slice<-1>(x, 1, 2), 10);
        return slice<0>(copied, 0, 10) * viewed + slice<0>(y, 5, 15);
      },
      a, b));
}

TEST_CASE("reshape keeps row-major order for any permuted and sliced layout", "[ops][views]") {
  // Random layouts, random target shapes: a view when strides allow, a copy otherwise, and in
  // both cases the same elements in the same order as a dense copy of the input.
  std::mt19937_64 rng(14);
  auto below = [&](index_t n) { return index_t(rng() % std::uint64_t(n)); };
  int views = 0, copies = 0;
  for (int trial = 0; trial < 300; ++trial) {
    auto step = tape();
    using S3 = Shape<dyn, dyn, dyn>;
    auto base = iota(S3{1 + below(4), 1 + below(4), 1 + below(5)});
    auto v = variable(base);
    switch (below(4)) {
      case 0: break;
      case 1: v = permute<1, 0, 2>(v); break;
      case 2: v = permute<0, 2, 1>(v); break;
      default: v = permute<2, 1, 0>(v); break;
    }
    const int axis = int(below(3));
    const index_t extent = v.extent(std::size_t(axis)), begin = below(extent), end = begin + 1 + below(extent - begin);
    if (axis == 0) v = slice<0>(v, begin, end);
    if (axis == 1) v = slice<1>(v, begin, end);
    if (axis == 2) v = slice<2>(v, begin, end);

    const index_t n = v.numel();
    index_t d0 = 1 + below(n);
    while (n % d0) --d0;
    index_t d1 = 1 + below(n / d0);
    while ((n / d0) % d1) --d1;
    auto r = reshape(v, S3{d0, d1, n / d0 / d1});
    (r.node() == v.node() ? views : copies) += 1;
    auto expected = v.to_tensor();
    auto got = r.to_tensor();
    bool same = true;
    for (index_t i = 0; i < n; ++i) same = same && got.data()[i] == expected.data()[i];
    INFO("trial " << trial << ": " << to_string(v.shape()) << " -> " << to_string(r.shape()));
    CHECK(same);
  }
  CHECK(views > 50);
  CHECK(copies > 50);
}

}  // namespace ops_test_views
