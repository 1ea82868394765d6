#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "ranklens/cpu/strided_copy.hpp"

namespace cpu_test_strided_copy {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("cpu::copy_strided gathers a transposed view into dense rows", "[cpu][strided_copy]") {
  // x: (2, 3) dense; its transpose (3, 2) has strides (1, 3).
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<float> y(6, -1.0f);
  cpu::copy_strided<float, 2>({3, 2}, x.data(), {1, 3}, y.data(), {2, 1}, grad_write::store);
  CHECK(y == std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("cpu::copy_strided adds back through the strides, summing over a broadcast (stride 0) axis", "[cpu][strided_copy]") {
  // The dense (3, 2) gradient of a (1, 2) row read with stride 0 along axis 0 sums into the row.
  const std::vector<double> g = {1, 2, 10, 20, 100, 200};
  std::vector<double> row = {0.5, 0.25};
  cpu::copy_strided<double, 2>({3, 2}, g.data(), {2, 1}, row.data(), {0, 1}, grad_write::add);
  CHECK(row == std::vector<double>{111.5, 222.25});
}

TEST_CASE("cpu::copy_strided writes a dense block into a slice of a wider tensor and leaves the rest", "[cpu][strided_copy]") {
  // A (2, 2) part into columns 1..2 of a (2, 4) output: destination strides (4, 1), offset 1.
  const std::vector<int> part = {1, 2, 3, 4};
  std::vector<int> out(8, 0);
  cpu::copy_strided<int, 2>({2, 2}, part.data(), {2, 1}, out.data() + 1, {4, 1}, grad_write::store);
  CHECK(out == std::vector<int>{0, 1, 2, 0, 0, 3, 4, 0});
  cpu::copy_strided<int, 2>({2, 2}, part.data(), {2, 1}, out.data() + 1, {4, 1}, grad_write::add);
  CHECK(out == std::vector<int>{0, 2, 4, 0, 0, 6, 8, 0});
}

TEST_CASE("cpu::copy_strided takes the flat path for dense layouts, extent-1 axes with any stride included", "[cpu][strided_copy]") {
  CHECK(cpu::row_major_dense<3>({2, 1, 3}, {3, 99, 1}));
  CHECK_FALSE(cpu::row_major_dense<2>({2, 3}, {1, 2}));
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<float> y(6, 0.0f);
  cpu::copy_strided<float, 3>({2, 1, 3}, x.data(), {3, 99, 1}, y.data(), {3, 3, 1}, grad_write::store);
  CHECK(y == x);
  cpu::copy_strided<float, 3>({2, 1, 3}, x.data(), {3, 99, 1}, y.data(), {3, 3, 1}, grad_write::add);
  CHECK(y == std::vector<float>{2, 4, 6, 8, 10, 12});
}

TEST_CASE("cpu::copy_strided copies nothing for an empty extent and one element for rank 0", "[cpu][strided_copy]") {
  const std::vector<float> x = {7};
  std::vector<float> y = {3};
  cpu::copy_strided<float, 2>({0, 4}, x.data(), {4, 1}, y.data(), {1, 0}, grad_write::store);
  CHECK(y[0] == 3.0f);
  cpu::copy_strided<float, 0>({}, x.data(), {}, y.data(), {}, grad_write::add);
  CHECK(y[0] == 10.0f);
}

}  // namespace cpu_test_strided_copy
