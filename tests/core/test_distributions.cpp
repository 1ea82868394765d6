// Specification of core/distributions.hpp: uniform, integer and normal draws built from an
// engine's raw outputs only, so that they are the same with every standard library.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <vector>

#include "ranklens/core/distributions.hpp"
#include "ranklens/core/random.hpp"

namespace core_test_distributions {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

// The first outputs of std::mt19937 with its default seed 5489, as the standard's algorithm
// defines them (the standard quotes the 10000th, checked below).
constexpr std::array<std::uint32_t, 12> mt19937_first = {3499211612u, 581869302u,  3890346734u, 3586334585u,
                                                        545404204u,  4161255391u, 3922919429u, 949333985u,
                                                        2715962298u, 1323567403u, 418932835u,  2350294565u};

// A generator stuck at its largest output: every uniform is as close to 1 as it gets.
struct LargestOutput {
  using result_type = std::uint32_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<std::uint32_t>::max(); }
  result_type operator()() { return max(); }
};

// Mean and mean square of n draws.
template <class Draw>
std::array<double, 2> moments(Draw&& draw, int n) {
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const double x = draw();
    sum += x;
    sum_sq += x * x;
  }
  return {sum / n, sum_sq / n};
}

}  // namespace

TEST_CASE("the standard engines give the outputs the standard specifies", "[core][distributions]") {
  std::mt19937 mt;
  mt.discard(9999);
  CHECK(mt() == 4123659995u);  // [rand.predef]
  std::mt19937_64 mt64;
  mt64.discard(9999);
  CHECK(mt64() == 9981545732273789042u);
  std::mt19937 first(5489);
  for (const std::uint32_t expected : mt19937_first) CHECK(first() == expected);
}

TEST_CASE("unit uniforms take 53 or 24 bits of the raw outputs", "[core][distributions]") {
  // Two 32-bit outputs combine as genrand_res53: (a >> 5)·2^26 + (b >> 6), over 2^53. This is
  // also MATLAB's first rand with its default Mersenne Twister seed: 0.8147236863931789.
  std::mt19937 mt(5489);
  const double expected_double = double((std::uint64_t(mt19937_first[0]) >> 5) * 67108864u + (mt19937_first[1] >> 6)) * 0x1.0p-53;
  const double drawn = unit_uniform<double>(mt);
  CHECK(drawn == expected_double);
  CHECK(drawn == 0.8147236863931789);
  // One 32-bit output gives a float from its top 24 bits.
  CHECK(unit_uniform<float>(mt) == float(mt19937_first[2] >> 8) * 0x1.0p-24f);
  // A 64-bit output gives a double from its top 53 bits, a float from its top 24: Rng in state
  // {1, 2, 3, 4} first returns 11520, then 0, then 1509978240 (tests/core/test_random.cpp).
  Rng rng = Rng::from_state(1, 2, 3, 4);
  CHECK(unit_uniform<double>(rng) == 5 * 0x1.0p-53);  // 11520 >> 11 = 5
  CHECK(unit_uniform<float>(rng) == 0.0f);
  CHECK(unit_uniform_positive(rng) == double((1509978240u >> 11) + 1) * 0x1.0p-53);
}

TEST_CASE("uniform draws stay between low (included) and high (excluded) with the uniform mean and variance", "[core][distributions]") {
  std::mt19937_64 gen(1);
  constexpr int n = 200000;
  const auto [mean, mean_square] = moments([&] { return uniform<double>(gen, -1.0, 3.0); }, n);
  // U(-1, 3): mean 1, variance 16/12; the standard error of either mean is below 0.01 here.
  CHECK(mean == Approx(1.0).margin(0.02));
  CHECK(mean_square - mean * mean == Approx(16.0 / 12.0).margin(0.02));

  // low + (high − low)·u can round up to high: 1 + (1 − 2^-24) is 2 in float.
  LargestOutput largest;
  CHECK(uniform<float>(largest, 1.0f, 2.0f) == std::nextafter(2.0f, 1.0f));
  CHECK(uniform<double>(largest, 0.0, 1.0) < 1.0);
  CHECK(unit_uniform<float>(largest) < 1.0f);
}

TEST_CASE("uniform_below is uniform on 0..n-1 for 32- and 64-bit engines", "[core][distributions]") {
  std::mt19937 mt(2);
  Rng rng(2);
  constexpr int bound = 7, draws = 70000;
  std::array<int, bound> from_mt{}, from_rng{};
  int outside = 0;
  for (int i = 0; i < draws; ++i) {
    const std::uint64_t a = uniform_below(mt, bound), b = uniform_below(rng, bound);
    outside += a >= bound || b >= bound;
    if (a < bound) ++from_mt[a];
    if (b < bound) ++from_rng[b];
  }
  CHECK(outside == 0);
  for (const auto& counts : {from_mt, from_rng}) {
    // Pearson chi-square with 6 degrees of freedom: P(chi2 > 22.5) is about 0.001.
    double chi_square = 0.0;
    const double expected = draws / double(bound);
    for (int c : counts) chi_square += (c - expected) * (c - expected) / expected;
    CHECK(chi_square < 22.5);
  }
}

TEST_CASE("shuffle is Fisher-Yates from the back with uniform_below, a permutation", "[core][distributions]") {
  std::vector<index_t> order(100);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 a(5), b(5);
  shuffle(std::span<index_t>(order), a);
  std::vector<index_t> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  for (std::size_t k = expected.size(); k > 1; --k) std::swap(expected[k - 1], expected[uniform_below(b, k)]);
  CHECK(order == expected);
  std::vector<index_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted[0] == 0);
  CHECK(std::adjacent_find(sorted.begin(), sorted.end(), [](index_t x, index_t y) { return y != x + 1; }) == sorted.end());
  CHECK(order != sorted);  // 100! orders: the identity would mean nothing moved
}

TEST_CASE("standard normal draws have mean 0, variance 1 and kurtosis 3", "[core][distributions]") {
  Rng gen(3);
  double sum = 0, sum_sq = 0, sum_fourth = 0;
  constexpr int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = standard_normal(gen);
    sum += z;
    sum_sq += z * z;
    sum_fourth += z * z * z * z;
  }
  // Standard errors: 1/√n ≈ 0.0022 for the mean, √2/√n ≈ 0.0032 for the variance, √96/√n ≈
  // 0.022 for the fourth moment; allow five of each.
  CHECK(sum / n == Approx(0.0).margin(0.011));
  CHECK(sum_sq / n == Approx(1.0).margin(0.016));
  CHECK(sum_fourth / n == Approx(3.0).margin(0.11));
}

TEST_CASE("a normal draw is the polar method on the raw outputs", "[core][distributions]") {
  // With std::mt19937(5489), the polar method rejects its first two pairs of uniforms (s > 1)
  // and accepts the third: u = 2·U5 − 1, v = 2·U6 − 1 from outputs 9..12, s = u² + v².
  const auto res53 = [](std::uint64_t a, std::uint64_t b) { return double((a >> 5) * 67108864u + (b >> 6)) * 0x1.0p-53; };
  const double u = 2 * res53(mt19937_first[8], mt19937_first[9]) - 1;
  const double v = 2 * res53(mt19937_first[10], mt19937_first[11]) - 1;
  const double s = std::fma(u, u, v * v);
  REQUIRE(s < 1.0);
  std::mt19937 mt(5489);
  CHECK(standard_normal<double>(mt) == u * std::sqrt(-2.0 * std::log(s) / s));
  CHECK(mt() == 1196140740u);  // the 13th output comes next: the draw read exactly 12
}

}  // namespace core_test_distributions
