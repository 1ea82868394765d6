#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/learned_positions.hpp"

namespace nn_test_learned_positions {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("LearnedPositions returns rows offset .. offset + count − 1 of its table as a view", "[nn][positions]") {
  std::mt19937 rng(0);
  LearnedPositions<8, 3> wpe(rng);
  auto step = tape();
  auto rows = wpe(3, 2);
  static_assert(std::is_same_v<decltype(rows)::shape_type, Shape<dyn, 3>>);
  CHECK(rows.extent(0) == 3);
  CHECK(rows.value().data() == wpe.weight.value().data() + 2 * 3);  // no copy
  CHECK(rows.value()(2, 1) == wpe.weight.value()(4, 1));
}

TEST_CASE("LearnedPositions refuses positions past its table", "[nn][positions]") {
  std::mt19937 rng(0);
  LearnedPositions<8, 3> wpe(rng);
  auto step = tape();
  CHECK_NOTHROW(wpe(8));
  REQUIRE_THROWS_WITH(wpe(4, 5), Catch::Contains("[5, 9)") && Catch::Contains("8 positions"));
}

TEST_CASE("LearnedPositions' gradient reaches exactly the rows it read", "[nn][positions][gradcheck]") {
  std::mt19937 rng(0);
  LearnedPositions<6, 2, double> wpe(rng);
  CHECK(nn_test::check_parameter_gradients([&] { return wpe(3, 1); }, wpe.weight));
  {
    auto step = tape();
    Tensor<double, Shape<dyn, 2>> seed(Shape<dyn, 2>{3}, 1.0);
    backward(wpe(3, 1), seed.view());
  }
  CHECK(wpe.weight.grad()(0, 0) == 0.0);
  CHECK(wpe.weight.grad()(1, 0) == 1.0);
  CHECK(wpe.weight.grad()(3, 1) == 1.0);
  CHECK(wpe.weight.grad()(4, 0) == 0.0);
}

}  // namespace nn_test_learned_positions
