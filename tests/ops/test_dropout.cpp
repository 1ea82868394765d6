#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/dropout.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_dropout {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
template <class T, ShapeType S>
std::vector<T> values_of(const Var<T, S>& v) {
  auto t = v.to_tensor();
  return {t.data(), t.data() + t.numel()};
}
}  // namespace

TEST_CASE("the same seed gives the same mask, the next call a different one", "[ops][dropout]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 64>> x(Shape<dyn, 64>{4}, 1.0);
  auto xv = variable(x);
  CounterGenerator first(2024), second(2024), other(2025);
  const auto a = values_of(dropout(xv, 0.5, first));
  CHECK(a == values_of(dropout(xv, 0.5, second)));
  CHECK(a != values_of(dropout(xv, 0.5, other)));
  CHECK(a != values_of(dropout(xv, 0.5, first)));  // the second call of the same generator
  CHECK(first.calls() == 2);

  // The state is (seed, calls): a restored generator continues the sequence.
  CounterGenerator restored(first.seed());
  restored.set_calls(1);
  CHECK(values_of(dropout(xv, 0.5, second)) == values_of(dropout(xv, 0.5, restored)));
}

TEST_CASE("masks are those of earlier releases, bit for bit", "[ops][dropout]") {
  // Values recorded before the mixer moved to core/random.hpp: a saved seed and call count
  // must keep giving the masks a run was trained with.
  CounterGenerator generator(2024);
  const std::uint64_t key = generator.next_key();
  CHECK(key == 0x100ea0f5afd2ced8ULL);
  CHECK(generator.next_key() == 0x447bc17d39138c0aULL);
  CHECK(CounterGenerator::bits(key, 0) == 0x564ebd9dad8df4e5ULL);
  CHECK(CounterGenerator::bits(key, 63) == 0x57eda18e0a5aa3ddULL);

  auto step = tape();
  Tensor<double, Shape<dyn, 64>> x(Shape<dyn, 64>{1}, 1.0);
  CounterGenerator fresh(2024);
  const auto y = dropout(variable(x), 0.5, fresh);
  std::uint64_t kept = 0;
  for (int i = 0; i < 64; ++i)
    if (y.value()(0, i) != 0.0) kept |= std::uint64_t(1) << i;
  CHECK(kept == 0x56f340274dcc125aULL);
}

TEST_CASE("dropout drops a fraction p and scales the survivors by 1/(1-p)", "[ops][dropout]") {
  auto step = tape();
  constexpr index_t n = 200000;
  Tensor<float, Shape<dyn>> x(Shape<dyn>{n}, 2.0f);
  CounterGenerator generator(7);
  for (double p : {0.1, 0.3, 0.9}) {
    auto y = dropout(variable(x), p, generator);
    index_t dropped = 0;
    bool survivors_scaled = true;
    for (index_t i = 0; i < n; ++i) {
      const float v = y.value()(i);
      if (v == 0.0f)
        ++dropped;
      else
        survivors_scaled = survivors_scaled && v == float(2.0 * float(1.0 / (1.0 - p)));
    }
    // The binomial standard deviation is at most 0.0012 here; allow about eight of them.
    CHECK(double(dropped) / double(n) == Approx(p).margin(0.01));
    CHECK(survivors_scaled);
  }
}

TEST_CASE("dropout is the identity for p = 0 or outside training, and zero for p = 1", "[ops][dropout]") {
  auto step = tape();
  Tensor<double, Shape<3, 4>> x(Shape<3, 4>{}, 1.5);
  auto xv = variable(x);
  CounterGenerator generator(1);
  const auto entries = Tape::current().entries();
  CHECK(dropout(xv, 0.0, generator).node() == xv.node());
  CHECK(dropout(xv, 0.5, generator, /*training=*/false).node() == xv.node());
  CHECK(Tape::current().entries() == entries);
  CHECK(generator.calls() == 0);

  auto zeros = dropout(xv, 1.0, generator);
  for (double v : values_of(zeros)) CHECK(v == 0.0);
  Tensor<double, Shape<3, 4>> seed(Shape<3, 4>{}, 1.0);
  backward(zeros, seed.view());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(xv.grad()(i, j) == 0.0);

  REQUIRE_THROWS_AS(dropout(xv, 1.5, generator), value_error);
  REQUIRE_THROWS_WITH(dropout(xv, -0.1, generator), Catch::Contains("dropout") && Catch::Contains("[0, 1]"));
}

TEST_CASE("backward applies the forward mask", "[ops][dropout]") {
  auto step = tape();
  Tensor<double, Shape<dyn, 5>> x(Shape<dyn, 5>{40}, 3.0);
  auto xv = variable(x);
  CounterGenerator generator(99);
  auto y = dropout(transpose(xv), 0.25, generator);  // a strided input: the mask follows y's order
  Tensor<double, Shape<5, dyn>> seed(Shape<5, dyn>{40}, 1.0);
  backward(y, seed.view());
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 40; ++j) CHECK(xv.grad()(j, i) == (y.value()(i, j) == 0.0 ? 0.0 : 1.0 / 0.75));
}

TEST_CASE("dropout passes the gradient check with a fixed mask", "[ops][dropout][gradcheck]") {
  std::mt19937_64 rng(51);
  auto a = random_tensor(Shape<dyn, 1, 7>{3}, rng);
  // A fresh generator of the same seed inside f: every evaluation draws the same mask.
  CHECK(check_gradients(
      [](auto x) {
        CounterGenerator generator(5);
        return dropout(x, 0.4, generator);
      },
      a));
  CHECK(check_gradients(
      [](auto x) {
        CounterGenerator generator(6);
        return dropout(transpose<0, 2>(x), 0.7, generator) * 2.0;
      },
      a));
}

}  // namespace ops_test_dropout
