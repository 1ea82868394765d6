#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/cpu/rope.hpp"
#include "ranklens/ops/rope.hpp"

namespace cpu_test_rope {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
// cpu::rope_* on a (B, T, H, D) array must reproduce ops/rope.hpp's rotary_embedding<1>: the same
// tables and arithmetic, to a few units of rounding (not bit for bit: the compiler may fuse a
// multiply-add in one inlined copy and not in another).
template <class T>
bool close(T a, T b) {
  return std::abs(double(a) - double(b)) <= 4.0 * std::numeric_limits<T>::epsilon() * (1.0 + std::abs(double(b)));
}

template <class T>
void check_against_the_op(index_t position_offset, double theta) {
  constexpr index_t batch = 2, positions = 5, heads = 3, width = 8;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-2.0, 2.0);
  Tensor<T, Shape<dyn, dyn, heads, width>> x(Shape<dyn, dyn, heads, width>{batch, positions}), seed(x.shape());
  for (auto& v : x.span()) v = T(dist(rng));
  for (auto& v : seed.span()) v = T(dist(rng));

  auto step = tape();
  auto input = variable(x);
  auto y = rotary_embedding<1>(input, theta, position_offset);
  backward(y, seed.view());

  std::vector<float> cos(positions * width / 2), sin(cos.size());
  cpu::rope_tables(positions, width, theta, position_offset, cos.data(), sin.data());
  const index_t rows = batch * positions * heads;
  std::vector<T> forward(std::size_t(rows * width)), backward_store(forward.size()), backward_add(forward.size(), T(1));
  cpu::rope_forward(x.data(), cos.data(), sin.data(), forward.data(), rows, width, positions, heads);
  cpu::rope_backward(seed.data(), cos.data(), sin.data(), backward_store.data(), rows, width, positions, heads, grad_write::store);
  cpu::rope_backward(seed.data(), cos.data(), sin.data(), backward_add.data(), rows, width, positions, heads);
  for (index_t i = 0; i < rows * width; ++i) {
    REQUIRE(close(forward[std::size_t(i)], y.value().data()[i]));
    REQUIRE(close(backward_store[std::size_t(i)], input.grad().data()[i]));
    REQUIRE(close(backward_add[std::size_t(i)], T(1) + input.grad().data()[i]));
  }
}
}  // namespace

TEST_CASE("cpu::rope_forward and rope_backward reproduce rotary_embedding to rounding", "[cpu][rope]") {
  check_against_the_op<float>(0, 1e4);
  check_against_the_op<float>(3, 1e6);
  check_against_the_op<double>(2, 10.0);
}

TEST_CASE("cpu::rope_tables refuses an odd width, a bad theta and a negative offset", "[cpu][rope]") {
  float c[8], s[8];
  REQUIRE_THROWS_AS(cpu::rope_tables(2, 3, 1e4, 0, c, s), value_error);
  REQUIRE_THROWS_AS(cpu::rope_tables(2, 4, 0.0, 0, c, s), value_error);
  REQUIRE_THROWS_AS(cpu::rope_tables(2, 4, 1e4, -1, c, s), value_error);
}

}  // namespace cpu_test_rope
