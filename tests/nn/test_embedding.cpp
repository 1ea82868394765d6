#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/embedding.hpp"

namespace nn_test_embedding {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("Embedding looks up one row per token id", "[nn][embedding]") {
  std::mt19937 rng(0);
  Embedding<5, 3> table(rng);
  static_assert(std::is_same_v<decltype(table.weight)::shape_type, Shape<5, 3>>);
  auto step = tape();
  Tensor<std::int32_t, Shape<dyn, dyn>> ids(Shape<dyn, dyn>{2, 2}, {4, 0, 4, 2});
  auto y = table(ids);
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<dyn, dyn, 3>>);
  for (int j = 0; j < 3; ++j) {
    CHECK(y.value()(0, 0, j) == table.weight.value()(4, j));
    CHECK(y.value()(1, 0, j) == table.weight.value()(4, j));
    CHECK(y.value()(1, 1, j) == table.weight.value()(2, j));
  }
}

TEST_CASE("Embedding's first weight is the polar method on the engine's raw outputs", "[nn][embedding][init]") {
  // std::mt19937(5489): the polar method accepts its third pair of uniforms (outputs 9..12),
  // z = 0.2543161358565558, and 0.02·z rounds to this float (tests/core/test_distributions.cpp).
  std::mt19937 rng(5489);
  Embedding<4, 2> table(rng);
  CHECK(table.weight.value()(0, 0) == 0.005086322780698538f);
}

TEST_CASE("Embedding draws N(0, std²) rows from the generator it is given", "[nn][embedding][init]") {
  std::mt19937 a(7), b(7), c(8);
  Embedding<100, 40> first(a), same_seed(b), other_seed(c), wide(a, 1.0);
  double squares = 0;
  for (float w : first.weight.value().span()) squares += double(w) * w;
  CHECK(std::sqrt(squares / 4000) == Approx(0.02).epsilon(0.05));
  CHECK(std::equal(first.weight.value().span().begin(), first.weight.value().span().end(), same_seed.weight.value().span().begin()));
  CHECK(first.weight.value()(0, 0) != other_seed.weight.value()(0, 0));
  squares = 0;
  for (float w : wide.weight.value().span()) squares += double(w) * w;
  CHECK(std::sqrt(squares / 4000) == Approx(1.0).epsilon(0.05));
}

TEST_CASE("Embedding's gradient adds up in the rows of repeated tokens", "[nn][embedding][gradcheck]") {
  std::mt19937 rng(0);
  Embedding<6, 4, double> table(rng);
  Tensor<std::int32_t, Shape<dyn, dyn>> ids(Shape<dyn, dyn>{2, 3}, {1, 5, 1, 0, 1, 3});
  CHECK(nn_test::check_parameter_gradients([&] { return table(ids); }, table.weight));
}

}  // namespace nn_test_embedding
