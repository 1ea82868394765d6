#include <catch2/catch.hpp>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/matmul.hpp"

namespace ops_test_matmul {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
// The transposed view of the last two axes, built by hand so this test needs only matmul.
template <class V>
auto swap_last_two(const V& v) {
  using S = typename V::shape_type;
  constexpr std::size_t r = S::rank;
  constexpr auto perm = [] {
    std::array<std::size_t, r> p{};
    for (std::size_t i = 0; i < r; ++i) p[i] = i;
    std::swap(p[r - 1], p[r - 2]);
    return p;
  }();
  using P = permute_shape_t<S, perm>;
  std::array<index_t, r> dims{}, strides{};
  for (std::size_t i = 0; i < r; ++i) dims[i] = v.shape().dims[perm[i]], strides[i] = v.strides()[perm[i]];
  return v.template with_layout<P>(v.offset(), P::from_dims(dims), strides);
}
}  // namespace

TEST_CASE("matmul multiplies 2x3 by 3x2 as written by hand", "[ops][matmul]") {
  auto step = tape();
  Tensor<float, Shape<2, 3>> a(Shape<2, 3>{}, {1, 2, 3, 4, 5, 6});
  Tensor<float, Shape<3, 2>> b(Shape<3, 2>{}, {7, 8, 9, 10, 11, 12});
  auto c = matmul(constant(a), constant(b));
  static_assert(std::is_same_v<decltype(c)::shape_type, Shape<2, 2>>);
  CHECK(c.value()(0, 0) == 58);
  CHECK(c.value()(0, 1) == 64);
  CHECK(c.value()(1, 0) == 139);
  CHECK(c.value()(1, 1) == 154);
}

TEST_CASE("matmul rejects run-time inner dimensions that differ", "[ops][matmul]") {
  auto step = tape();
  Tensor<float, Shape<2, dyn>> a(Shape<2, dyn>{3}, 1.0f);
  Tensor<float, Shape<dyn, 2>> b(Shape<dyn, 2>{4}, 1.0f);
  REQUIRE_THROWS_AS(matmul(constant(a), constant(b)), shape_error);
  REQUIRE_THROWS_WITH(matmul(constant(a), constant(b)), Catch::Contains("(2, dyn=3)") && Catch::Contains("(dyn=4, 2)"));
}

TEST_CASE("matmul gradients: plain, batched, broadcast weight and transposed views", "[ops][matmul][gradcheck]") {
  std::mt19937_64 rng(7);
  auto x = random_tensor(Shape<dyn, dyn, 5>{3, 4}, rng);
  auto w = random_tensor(Shape<5, 3>{}, rng);
  auto wt = random_tensor(Shape<3, 5>{}, rng);
  auto y = random_tensor(Shape<dyn, dyn, 5>{3, 2}, rng);
  auto single = random_tensor(Shape<1, 5>{}, rng);
  auto x2 = random_tensor(Shape<dyn, dyn, 5>{3, 4}, rng);
  auto wt2 = random_tensor(Shape<3, 5>{}, rng);
  CHECK(check_gradients([](auto a, auto b) { return matmul(a, b); }, x, w));
  CHECK(check_gradients([](auto a, auto b) { return matmul(a, swap_last_two(b)); }, x, wt));
  CHECK(check_gradients([](auto a, auto b) { return matmul(a, swap_last_two(b)); }, x, y));     // scores = Q·Kᵀ
  CHECK(check_gradients([](auto a, auto b) { return matmul(swap_last_two(a), b); }, x, x2));     // Xᵀ·X
  CHECK(check_gradients([](auto a, auto b) { return matmul(a, swap_last_two(b)); }, single, wt));
  CHECK(check_gradients([](auto a, auto b) { return matmul(swap_last_two(a), b); }, wt, wt2));
}

TEST_CASE("matmul of a non-BLAS layout (a strided slice) copies and still differentiates", "[ops][matmul][gradcheck]") {
  std::mt19937_64 rng(8);
  auto x = random_tensor(Shape<4, 6>{}, rng);
  auto w = random_tensor(Shape<3, 2>{}, rng);
  // every other column of x: col stride 2 is not a BLAS layout
  auto every_other = [](auto a, auto b) {
    auto v = a.template with_layout<Shape<4, 3>>(1, Shape<4, 3>{}, {6, 2});
    return matmul(v, b);
  };
  CHECK(check_gradients(every_other, x, w));
}

}  // namespace ops_test_matmul
