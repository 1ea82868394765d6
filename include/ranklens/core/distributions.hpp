// Uniform and normal draws that are the same with every compiler and standard library.
//
// std::uniform_real_distribution and std::normal_distribution leave their algorithms to the
// implementation, so one seed gives other weights under libstdc++, libc++ and MSVC. The
// engines' raw outputs, on the other hand, are fixed by the standard (std::mt19937's 10000th
// output is 4123659995 everywhere), as are Rng's (core/random.hpp). The samplers here use only
// those raw bits:
//
//   unit_uniform<double>   53 random bits: a 64-bit output >> 11, or two 32-bit outputs as
//                          Matsumoto & Nishimura's genrand_res53 (mt19937ar.c) combines them
//   unit_uniform<float>    24 random bits: the top 24 of one output
//   uniform_below          Lemire's multiply-and-reject over 64 random bits (ACM TOMACS 2019)
//   shuffle                Fisher-Yates with uniform_below
//   standard_normal        Marsaglia's polar method (Marsaglia & Bray 1964), in double
//
// Where a multiply meets an add, the code says std::fma: a compiler may or may not contract
// a·b + c into one rounding (GCC does by default), and std::fma rounds once on every platform.
// Uniform and integer draws are therefore bit-identical everywhere. A normal draw also calls
// std::log and std::sqrt: sqrt is exact under IEEE 754, log is within an ulp in every common C
// library, and a float draw is rounded once from the double, so float weights differ between
// platforms only where a last-bit difference of a log crosses a float rounding boundary.
#pragma once
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <utility>

#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

namespace ranklens {

// A standard uniform random bit generator whose outputs are all 32-bit or all 64-bit words:
// std::mt19937, std::mt19937_64, ranklens::Rng.
template <class G>
concept UniformBitGenerator =
    std::uniform_random_bit_generator<G> && G::min() == 0 &&
    (G::max() == std::numeric_limits<std::uint32_t>::max() || G::max() == std::numeric_limits<std::uint64_t>::max());

namespace distribution_detail {

template <class G>
constexpr bool has_64_bit_outputs = G::max() == std::numeric_limits<std::uint64_t>::max();

template <class G>
void require_bit_generator() {
  static_assert(UniformBitGenerator<G>,
                "A random generator must return every 32-bit or every 64-bit value, like std::mt19937, std::mt19937_64 or ranklens::Rng.");
}

// 64 random bits: one output of a 64-bit generator, or two of a 32-bit one (the first high).
template <class G>
std::uint64_t next_64_bits(G& generator) {
  require_bit_generator<G>();
  if constexpr (has_64_bit_outputs<G>) {
    return std::uint64_t(generator());
  } else {
    const std::uint64_t high = std::uint64_t(generator());
    return high << 32 | std::uint64_t(generator());
  }
}

// 64 x 64 -> 128-bit products for Lemire's method; __extension__ keeps -Wpedantic quiet
// about the GCC/Clang builtin type.
__extension__ typedef unsigned __int128 uint128_for_products;

}  // namespace distribution_detail

// The top 53 of 64 random bits as a double in [0, 1): every value a multiple of 2^-53.
constexpr double unit_interval_from_bits(std::uint64_t bits) noexcept { return double(bits >> 11) * 0x1.0p-53; }

// Uniform on [0, 1) with 53 random bits (double) or 24 (float).
template <Real T = double, class G>
T unit_uniform(G& generator) {
  distribution_detail::require_bit_generator<G>();
  if constexpr (std::is_same_v<T, float>) {
    const std::uint64_t word = std::uint64_t(generator());
    return float(distribution_detail::has_64_bit_outputs<G> ? word >> 40 : word >> 8) * 0x1.0p-24f;
  } else if constexpr (distribution_detail::has_64_bit_outputs<G>) {
    return unit_interval_from_bits(std::uint64_t(generator()));
  } else {
    const std::uint64_t high = std::uint64_t(generator()) >> 5, low = std::uint64_t(generator()) >> 6;  // 27 + 26 bits
    return double(high << 26 | low) * 0x1.0p-53;
  }
}

// Uniform on (0, 1] with 53 random bits: safe to take the logarithm of.
template <class G>
double unit_uniform_positive(G& generator) {
  return double((distribution_detail::next_64_bits(generator) >> 11) + 1) * 0x1.0p-53;
}

// Uniform on [low, high): low + (high − low)·u, rounded once. That rounding can land on high
// when u is just below 1; such a draw is moved to the largest value below high.
template <Real T, class G>
T uniform(G& generator, std::type_identity_t<T> low, std::type_identity_t<T> high) {
  const T value = std::fma(high - low, unit_uniform<T>(generator), low);
  return value < high ? value : std::nextafter(high, low);
}

// Uniform integer in [0, bound), unbiased, for bound > 0 (Lemire, "Fast random integer
// generation in an interval", ACM TOMACS 2019).
template <class G>
std::uint64_t uniform_below(G& generator, std::uint64_t bound) {
  using wide = distribution_detail::uint128_for_products;
  wide product = wide(distribution_detail::next_64_bits(generator)) * bound;
  auto low = std::uint64_t(product);
  if (low < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      product = wide(distribution_detail::next_64_bits(generator)) * bound;
      low = std::uint64_t(product);
    }
  }
  return std::uint64_t(product >> 64);
}

// Shuffles `items` in place (Fisher-Yates from the back, each swap partner from uniform_below):
// the same order from the same generator state everywhere, which std::shuffle does not promise.
template <class T, class G>
void shuffle(std::span<T> items, G& generator) {
  for (std::size_t k = items.size(); k > 1; --k) std::swap(items[k - 1], items[uniform_below(generator, k)]);
}

// Standard normal by Marsaglia's polar method: rejection from the unit disc, then one logarithm
// and one square root (no sine or cosine, unlike Box-Muller). The second normal of the pair is
// dropped so that the sampler carries no hidden state. Computed in double, rounded to T once.
template <Real T = double, class G>
T standard_normal(G& generator) {
  for (;;) {
    const double u = 2.0 * unit_uniform<double>(generator) - 1.0;
    const double v = 2.0 * unit_uniform<double>(generator) - 1.0;
    const double s = std::fma(u, u, v * v);
    if (s > 0.0 && s < 1.0) return T(u * std::sqrt(-2.0 * std::log(s) / s));
  }
}

// N(mean, std²), rounded to T once.
template <Real T = double, class G>
T normal(G& generator, double mean, double std) {
  return T(std::fma(std, standard_normal<double>(generator), mean));
}

}  // namespace ranklens
