#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ranklens/cpu/dropout.hpp"

namespace cpu_test_dropout {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("cpu::dropout_forward keeps element i when its draw under the key is at least p", "[cpu][dropout]") {
  constexpr index_t n = 1000;
  constexpr double p = 0.3;
  const CounterKey key = CounterGenerator(7).next();
  std::vector<float> x(n), y(n, -1.0f), y_without_mask(n, -1.0f);
  for (index_t i = 0; i < n; ++i) x[std::size_t(i)] = 0.5f + float(i);
  std::vector<std::uint8_t> keep(n, 2);
  const float scale = float(1.0 / (1.0 - p));
  cpu::dropout_forward(x.data(), y.data(), keep.data(), n, key, p, scale);
  cpu::dropout_forward(x.data(), y_without_mask.data(), nullptr, n, key, p, scale);

  index_t kept = 0;
  for (index_t i = 0; i < n; ++i) {
    const auto e = std::size_t(i);
    const bool expected = CounterGenerator::uniform(CounterGenerator(7).next_key(), std::uint64_t(i)) >= p;
    REQUIRE(keep[e] == std::uint8_t(expected));
    REQUIRE(y[e] == (expected ? x[e] * scale : 0.0f));
    REQUIRE(y_without_mask[e] == y[e]);
    kept += expected;
  }
  CHECK(kept > 600);  // about 700 of 1000
  CHECK(kept < 800);
}

TEST_CASE("a CounterKey with a base counts its call from the number the base holds when it is resolved", "[cpu][dropout]") {
  CounterGenerator generator(11);
  std::vector<std::uint64_t> keys;
  for (int call = 0; call < 6; ++call) keys.push_back(generator.next_key());
  std::uint64_t base = 3;
  const CounterKey second_of_replay{11, 2, &base};  // as a captured graph's launch keeps it
  CHECK(second_of_replay.resolve() == keys[4]);      // call 3 + 2
  base = 0;
  CHECK(second_of_replay.resolve() == keys[1]);  // the same key object, read again
  CHECK((CounterKey{11, 6}).resolve() == keys[5]);

  // The kernel resolves the key as it runs: the mask follows the base.
  constexpr index_t n = 64;
  std::vector<float> x(n, 1.0f), from_base(n), direct(n);
  base = 3;
  cpu::dropout_forward(x.data(), from_base.data(), nullptr, n, second_of_replay, 0.5, 2.0f);
  cpu::dropout_forward(x.data(), direct.data(), nullptr, n, CounterKey{11, 5}, 0.5, 2.0f);
  CHECK(from_base == direct);
  CounterGenerator restarted(11);
  restarted.set_calls(4);
  const CounterKey next = cpu::dropout_key(restarted);
  CHECK(next.call == 5);
  CHECK(next.base == nullptr);
  CHECK(restarted.calls() == 5);
}

TEST_CASE("cpu::dropout_backward stores every element or adds onto the kept ones", "[cpu][dropout]") {
  const std::vector<std::uint8_t> keep = {1, 0, 1, 1, 0};
  const std::vector<double> gy = {1.0, 2.0, 3.0, std::numeric_limits<double>::quiet_NaN(), 5.0};
  std::vector<double> stored(5, std::numeric_limits<double>::quiet_NaN());  // undefined contents
  cpu::dropout_backward(keep.data(), gy.data(), stored.data(), 5, 2.0, grad_write::store);
  CHECK(stored[0] == 2.0);
  CHECK(stored[1] == 0.0);
  CHECK(stored[2] == 6.0);
  CHECK(std::isnan(stored[3]));  // a kept NaN gradient stays NaN
  CHECK(stored[4] == 0.0);       // a dropped one is zero

  std::vector<double> added = {10.0, 10.0, 10.0, 10.0, 10.0};
  cpu::dropout_backward(keep.data(), gy.data(), added.data(), 5, 2.0, grad_write::add);
  CHECK(added[0] == 12.0);
  CHECK(added[1] == 10.0);
  CHECK(added[2] == 16.0);
  CHECK(std::isnan(added[3]));
  CHECK(added[4] == 10.0);
}

}  // namespace cpu_test_dropout
