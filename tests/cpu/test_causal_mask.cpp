#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "ranklens/cpu/causal_mask.hpp"

namespace cpu_test_causal_mask {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("cpu::causal_mask_fill_forward keeps keys j <= i + offset of every matrix", "[cpu][masking]") {
  constexpr index_t matrices = 2, queries = 3, keys = 5;
  std::vector<float> x(std::size_t(matrices * queries * keys));
  for (std::size_t e = 0; e < x.size(); ++e) x[e] = float(e) + 0.5f;
  for (const index_t offset : {index_t(-4), index_t(-1), index_t(0), index_t(2), index_t(9)}) {
    std::vector<float> y(x.size(), 7.0f);
    cpu::causal_mask_fill_forward(x.data(), y.data(), matrices, queries, keys, offset, -1.0f);
    for (index_t m = 0; m < matrices; ++m)
      for (index_t i = 0; i < queries; ++i)
        for (index_t j = 0; j < keys; ++j) {
          const auto e = std::size_t((m * queries + i) * keys + j);
          REQUIRE(y[e] == (j <= i + offset ? x[e] : -1.0f));
        }
  }
}

TEST_CASE("cpu::causal_mask_fill_backward stores every entry or adds onto the visible ones only", "[cpu][masking]") {
  constexpr index_t queries = 2, keys = 3;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Row 0 sees key 0, row 1 keys 0 and 1; the masked gradients are NaN and must not arrive.
  const std::vector<double> gy = {1.0, nan, nan, 2.0, 3.0, nan};
  std::vector<double> stored(6, nan);
  cpu::causal_mask_fill_backward(gy.data(), stored.data(), 1, queries, keys, 0, grad_write::store);
  CHECK(stored == std::vector<double>{1.0, 0.0, 0.0, 2.0, 3.0, 0.0});

  std::vector<double> added(6, 10.0);
  cpu::causal_mask_fill_backward(gy.data(), added.data(), 1, queries, keys, 0, grad_write::add);
  CHECK(added == std::vector<double>{11.0, 10.0, 10.0, 12.0, 13.0, 10.0});
}

}  // namespace cpu_test_causal_mask
