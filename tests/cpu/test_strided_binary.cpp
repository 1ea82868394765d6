#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "ranklens/cpu/binary_functions.hpp"
#include "ranklens/cpu/strided_binary.hpp"

namespace cpu_test_strided_binary {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

// a: (2, 1) read with stride 0 along axis 1; b: (3) read with stride 0 along axis 0; y: (2, 3).
constexpr std::array<index_t, 2> dims{2, 3}, a_strides{1, 0}, b_strides{0, 1}, dense{3, 1};

TEST_CASE("cpu::binary_forward_strided applies the functor at every index of broadcast operands", "[cpu][strided_binary]") {
  const std::vector<double> a = {1, 2}, b = {10, 20, 30};
  std::vector<double> y(6, -1.0);
  cpu::binary_forward_strided<cpu::mul_op, double, 2>(dims, a.data(), a_strides, b.data(), b_strides, y.data(), dense);
  CHECK(y == std::vector<double>{10, 20, 30, 20, 40, 60});
  cpu::binary_forward_strided<cpu::sub_op, double, 2>(dims, a.data(), a_strides, b.data(), b_strides, y.data(), dense);
  CHECK(y == std::vector<double>{-9, -19, -29, -8, -18, -28});
}

TEST_CASE("cpu::binary_backward_strided sums each gradient over its operand's broadcast axis", "[cpu][strided_binary]") {
  const std::vector<double> a = {1, 2}, b = {10, 20, 30}, gy = {1, 2, 3, 4, 5, 6};
  std::vector<double> ga = {0.5, 0.5}, gb = {0, 0, 0};
  // y = a·b: ga[i] += Σ_j gy[i, j]·b[j]; gb[j] += Σ_i gy[i, j]·a[i]. Both add onto what is there.
  cpu::binary_backward_strided<cpu::mul_op, double, 2>(dims, a.data(), a_strides, b.data(), b_strides, gy.data(), dense, ga.data(),
                                                        a_strides, gb.data(), b_strides);
  CHECK(ga == std::vector<double>{0.5 + 10 + 40 + 90, 0.5 + 40 + 100 + 180});
  CHECK(gb == std::vector<double>{1 + 8, 2 + 10, 3 + 12});
}

TEST_CASE("cpu::binary_backward_strided skips an operand whose gradient is null", "[cpu][strided_binary]") {
  const std::vector<double> a = {1, 2}, b = {10, 20, 30}, gy = {1, 1, 1, 1, 1, 1};
  std::vector<double> gb = {0, 0, 0};
  cpu::binary_backward_strided<cpu::add_op, double, 2>(dims, a.data(), a_strides, b.data(), b_strides, gy.data(), dense, nullptr,
                                                       a_strides, gb.data(), b_strides);
  CHECK(gb == std::vector<double>{2, 2, 2});
}

}  // namespace cpu_test_strided_binary
