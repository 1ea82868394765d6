#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/rope.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_rope {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("rotary_embedding rotates the pairs (i, i + D/2) by position · θ^(−2i/D)", "[ops][rope]") {
  auto step = tape();
  // (batch 1, positions 2, heads 1, width 4), θ = 100: ω = (1, 100^(−1/2) = 0.1).
  Tensor<double, Shape<1, 2, 1, 4>> x(Shape<1, 2, 1, 4>{}, {1, 2, 3, 4,  //
                                                            1, 2, 3, 4});
  auto y = rotary_embedding<1>(constant(x), 100.0);
  static_assert(std::is_same_v<decltype(y)::shape_type, Shape<1, 2, 1, 4>>);
  // Position 0: angle 0, nothing moves.
  for (int i = 0; i < 4; ++i) CHECK(y.value()(0, 0, 0, i) == x(0, 0, 0, i));
  // Position 1: pair (x0, x2) = (1, 3) turns by 1 radian, pair (x1, x3) = (2, 4) by 0.1.
  const double tolerance = 1e-6;  // cos/sin are float32 values, as in HF
  CHECK(y.value()(0, 1, 0, 0) == Approx(1 * std::cos(1.0) - 3 * std::sin(1.0)).margin(tolerance));
  CHECK(y.value()(0, 1, 0, 2) == Approx(3 * std::cos(1.0) + 1 * std::sin(1.0)).margin(tolerance));
  CHECK(y.value()(0, 1, 0, 1) == Approx(2 * std::cos(0.1) - 4 * std::sin(0.1)).margin(tolerance));
  CHECK(y.value()(0, 1, 0, 3) == Approx(4 * std::cos(0.1) + 2 * std::sin(0.1)).margin(tolerance));

  // An offset of 3 puts the first row at position 3 (angles 3 and 0.3).
  auto shifted = rotary_embedding<1>(constant(x), 100.0, 3);
  CHECK(shifted.value()(0, 0, 0, 0) == Approx(1 * std::cos(3.0) - 3 * std::sin(3.0)).margin(tolerance));
  CHECK(shifted.value()(0, 0, 0, 3) == Approx(4 * std::cos(0.3) + 2 * std::sin(0.3)).margin(tolerance));
}

TEST_CASE("rotary_embedding takes cos/sin as float32 values of float32 angles, as HF does", "[ops][rope]") {
  CHECK(rotary_inverse_frequency(0, 8, 1e6) == 1.0f);
  CHECK(rotary_inverse_frequency(1, 8, 10000.0) == 1.0f / std::pow(10000.0f, 0.25f));
  auto step = tape();
  Tensor<double, Shape<dyn, 2>> x(Shape<dyn, 2>{8}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  auto y = rotary_embedding<0>(constant(x), 10000.0);
  const float angle = 7.0f * 1.0f;
  CHECK(y.value()(7, 0) == double(float(std::cos(double(angle)))));
  CHECK(y.value()(7, 1) == double(float(std::sin(double(angle)))));
}

TEST_CASE("rotary_embedding keeps norms and makes q·k depend on the distance only", "[ops][rope]") {
  auto step = tape();
  std::mt19937_64 rng(3);
  auto q = random_tensor(Shape<1, 6>{}, rng);
  auto k = random_tensor(Shape<1, 6>{}, rng);
  auto dot_at = [&](index_t pq, index_t pk) {
    auto rq = rotary_embedding<0>(constant(q), 50.0, pq).value();
    auto rk = rotary_embedding<0>(constant(k), 50.0, pk).value();
    double d = 0;
    for (int i = 0; i < 6; ++i) d += rq(0, i) * rk(0, i);
    return d;
  };
  CHECK(dot_at(5, 2) == Approx(dot_at(13, 10)).epsilon(1e-6));
  CHECK(dot_at(2, 5) == Approx(dot_at(3, 6)).epsilon(1e-6));
  auto r = rotary_embedding<0>(constant(q), 50.0, 9).value();
  double n0 = 0, n1 = 0;
  for (int i = 0; i < 6; ++i) n0 += q(0, i) * q(0, i), n1 += r(0, i) * r(0, i);
  CHECK(n1 == Approx(n0).epsilon(1e-6));
}

TEST_CASE("rotary_embedding passes the gradient check in both head layouts", "[ops][rope][gradcheck]") {
  std::mt19937_64 rng(11);
  auto btHd = random_tensor(Shape<dyn, dyn, 3, 6>{2, 4}, rng);  // (B, T, H, D)
  CHECK(check_gradients([](auto x) { return rotary_embedding<1>(x, 10.0, 2); }, btHd));
  auto bHtd = random_tensor(Shape<dyn, 2, dyn, 4>{2, 5}, rng);  // (B, H, T, D)
  CHECK(check_gradients([](auto x) { return rotary_embedding<2>(x, 1e4); }, bHtd));
  // A strided input (a permuted view) is read through its strides.
  CHECK(check_gradients([](auto x) { return rotary_embedding<1>(permute<0, 2, 1, 3>(x), 10.0); }, bHtd));
}

TEST_CASE("rotary_embedding rejects a negative offset", "[ops][rope]") {
  auto step = tape();
  Tensor<float, Shape<dyn, 4>> x(Shape<dyn, 4>{2}, 0.0f);
  REQUIRE_THROWS_AS(rotary_embedding<0>(constant(x), 1e4, -1), value_error);
}

}  // namespace ops_test_rope
