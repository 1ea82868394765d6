#include <catch2/catch.hpp>

#include "ranklens/core/shape_algebra.hpp"

namespace core_test_shape {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("a shape mixes static and dynamic extents and takes only the dynamic ones", "[core][shape]") {
  Shape<dyn, 64, dyn> s{8, 3};
  STATIC_REQUIRE(decltype(s)::rank == 3);
  STATIC_REQUIRE(decltype(s)::dynamic_count == 2);
  CHECK(s[0] == 8);
  CHECK(s[1] == 64);
  CHECK(s[2] == 3);
  CHECK(s.numel() == 8 * 64 * 3);
  CHECK(to_string(s) == "(dyn=8, 64, dyn=3)");
  CHECK(Shape<>{}.numel() == 1);
}

TEST_CASE("from_dims checks rank and every static extent", "[core][shape]") {
  const std::array<index_t, 2> good{5, 64}, bad{5, 32};
  CHECK(Shape<dyn, 64>::from_dims(good)[0] == 5);
  REQUIRE_THROWS_WITH((Shape<dyn, 64>::from_dims(bad, "load")), Catch::Contains("load") && Catch::Contains("must be 64, got 32"));
  const std::array<index_t, 1> short_dims{5};
  REQUIRE_THROWS_AS((Shape<dyn, 64>::from_dims(short_dims)), shape_error);
  REQUIRE_THROWS_AS((Shape<dyn, 4>{-1}), shape_error);
}

TEST_CASE("contiguous strides are row-major", "[core][shape]") {
  auto st = contiguous_strides(Shape<2, 3, 4>{});
  CHECK(st == std::array<index_t, 3>{12, 4, 1});
}

TEST_CASE("broadcast result types follow NumPy rules with static extents winning", "[core][shape]") {
  STATIC_REQUIRE(std::is_same_v<broadcast_shape_t<Shape<dyn, 64>, Shape<64>>, Shape<dyn, 64>>);
  STATIC_REQUIRE(std::is_same_v<broadcast_shape_t<Shape<dyn, 1>, Shape<1, 8>>, Shape<dyn, 8>>);
  STATIC_REQUIRE(std::is_same_v<broadcast_shape_t<Shape<dyn>, Shape<7>>, Shape<7>>);
  STATIC_REQUIRE(std::is_same_v<broadcast_shape_t<Shape<dyn>, Shape<1>>, Shape<dyn>>);
  STATIC_REQUIRE(statically_broadcastable<Shape<3, 1>, Shape<1, 4>>);
  STATIC_REQUIRE(!statically_broadcastable<Shape<3>, Shape<4>>);
}

TEST_CASE("broadcast_shapes checks dynamic extents at run time", "[core][shape]") {
  auto r = broadcast_shapes("add", Shape<dyn, 1>{4}, Shape<dyn>{5});
  CHECK(r[0] == 4);
  CHECK(r[1] == 5);
  REQUIRE_THROWS_WITH(broadcast_shapes("mul", Shape<dyn>{4}, Shape<dyn>{5}),
                      Catch::Contains("mul") && Catch::Contains("(dyn=4)") && Catch::Contains("(dyn=5)"));
}

TEST_CASE("matmul, reduction, permutation and concat result types", "[core][shape]") {
  STATIC_REQUIRE(std::is_same_v<matmul_shape_t<Shape<dyn, dyn, 16>, Shape<16, 32>>, Shape<dyn, dyn, 32>>);
  STATIC_REQUIRE(std::is_same_v<matmul_shape_t<Shape<dyn, 4, dyn, 8>, Shape<dyn, 4, 8, dyn>>, Shape<dyn, 4, dyn, dyn>>);
  STATIC_REQUIRE(matmul_inner_ok<Shape<2, 3>, Shape<dyn, 5>>);
  STATIC_REQUIRE(!matmul_inner_ok<Shape<2, 3>, Shape<4, 5>>);
  STATIC_REQUIRE(std::is_same_v<remove_axis_t<Shape<dyn, 4, 8>, 1>, Shape<dyn, 8>>);
  STATIC_REQUIRE(std::is_same_v<set_axis_t<Shape<dyn, 4, 8>, 2, 1>, Shape<dyn, 4, 1>>);
  STATIC_REQUIRE(std::is_same_v<permute_shape_t<Shape<dyn, 4, 8>, std::array<std::size_t, 3>{2, 0, 1}>, Shape<8, dyn, 4>>);
  STATIC_REQUIRE(std::is_same_v<concat_shape_t<Shape<dyn, 4>, Shape<dyn, 6>, 1>, Shape<dyn, 10>>);
  STATIC_REQUIRE(std::is_same_v<concat_shape_t<Shape<dyn, 4>, Shape<3, 4>, 0>, Shape<dyn, 4>>);
  STATIC_REQUIRE(axis_index<-1, 3> == 2);
  STATIC_REQUIRE(!valid_axis<3, 3>);
}

}  // namespace core_test_shape
