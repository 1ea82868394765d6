// Reproducible random numbers for the synthetic data sources.
//
// The generator is xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", ACM TOMS 2021): 256 bits of state, period 2^256 - 1, about a nanosecond per
// 64-bit output. Its state is filled from a seed by SplitMix64 (Steele, Lea & Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014), as its authors advise.
//
// Every sampler below is written out here instead of using std::*_distribution, whose
// algorithms are implementation-defined: the same seed gives the same integer and uniform
// streams bit for bit on every platform. Samplers that call std::log / std::sqrt / std::pow
// (normal, gamma, Dirichlet) agree wherever the C library rounds those functions alike.
//
// Streams: rng::for_stream(seed, i) gives the generator of work item i (usually sequence i of
// a batch). Items are then independent of how the work is split among threads.
#pragma once
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::data {

// SplitMix64 finaliser: a bijective mix of 64 bits with good avalanche (Stafford's "Mix13").
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// 64 x 64 -> 128-bit products for Lemire's method; __extension__ keeps -Wpedantic quiet
// about the GCC/Clang builtin type.
__extension__ typedef unsigned __int128 uint128_for_products;

class rng {
 public:
  using result_type = std::uint64_t;

  explicit constexpr rng(std::uint64_t seed = 0) noexcept {
    // SplitMix64 walks a Weyl sequence and mixes each step; never all-zero output in 4 steps.
    std::uint64_t weyl = seed;
    for (auto& word : state_) {
      weyl += golden_gamma;
      word = mix64(weyl);
    }
  }

  // A generator in exactly the given state (not all zero), e.g. to check published outputs.
  static constexpr rng from_state(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2,
                                  std::uint64_t s3) noexcept {
    rng gen;
    gen.state_[0] = s0;
    gen.state_[1] = s1;
    gen.state_[2] = s2;
    gen.state_[3] = s3;
    return gen;
  }

  // The four state words, in the order from_state takes them: what a checkpoint saves.
  constexpr std::array<std::uint64_t, 4> state() const noexcept { return {state_[0], state_[1], state_[2], state_[3]}; }

  // The generator of item `index` of the work seeded by `seed`. The two numbers are mixed
  // before seeding, so neighbouring seeds and neighbouring indices give unrelated streams.
  static constexpr rng for_stream(std::uint64_t seed, std::uint64_t index) noexcept {
    return rng(mix64(seed ^ mix64(index + golden_gamma)) + index);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  constexpr result_type operator()() noexcept {
    const std::uint64_t result = std::rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t shifted = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= shifted;
    state_[3] = std::rotl(state_[3], 45);
    return result;
  }

  // Uniform on [0, 1) with 53 random bits: every value is a multiple of 2^-53.
  constexpr double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  // Uniform on (0, 1]: safe to take the logarithm of.
  constexpr double uniform_positive() noexcept {
    return static_cast<double>(((*this)() >> 11) + 1) * 0x1.0p-53;
  }

  // Uniform integer in [0, bound), unbiased, by Lemire's multiply-and-reject method
  // ("Fast random integer generation in an interval", ACM TOMACS 2019).
  constexpr std::uint64_t below(std::uint64_t bound) noexcept {
    uint128_for_products product = static_cast<uint128_for_products>((*this)()) * bound;
    auto low = static_cast<std::uint64_t>(product);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<uint128_for_products>((*this)()) * bound;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }

 private:
  static constexpr std::uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;  // 2^64 / phi
  std::uint64_t state_[4]{};
};

// Standard normal by Marsaglia's polar method (Marsaglia & Bray 1964): rejection from the
// unit disc, then one logarithm and one square root. The second normal of the pair is
// dropped so that the sampler carries no hidden state.
inline double normal(rng& gen) {
  for (;;) {
    const double u = 2.0 * gen.uniform() - 1.0;
    const double v = 2.0 * gen.uniform() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

// log of a Gamma(shape, 1) variate. Marsaglia & Tsang, "A simple method for generating gamma
// variables" (ACM TOMS 2000) for shape >= 1; for shape < 1 their boost
// Gamma(a) = Gamma(a + 1) * U^(1/a), kept in log space because U^(1/a) underflows for small a.
inline double log_gamma_variate(rng& gen, double shape) {
  if (!(shape > 0.0) || !std::isfinite(shape)) {
    throw value_error("gamma sampling: shape must be positive and finite");
  }
  // Gamma(1) is the exponential distribution, -log U: the flat Dirichlet(1) rows of the Markov
  // sources need nothing more.
  if (shape == 1.0) return std::log(-std::log(gen.uniform_positive()));
  double log_boost = 0.0;
  if (shape < 1.0) {
    log_boost = std::log(gen.uniform_positive()) / shape;
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = normal(gen);
    const double cube_root = 1.0 + c * x;
    if (cube_root <= 0.0) continue;
    const double v = cube_root * cube_root * cube_root;
    const double u = gen.uniform_positive();
    // Cheap squeeze first, then the exact acceptance test on the log scale.
    if (u < 1.0 - 0.0331 * (x * x) * (x * x) ||
        std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
      return std::log(d * v) + log_boost;
    }
  }
}

inline double gamma_variate(rng& gen, double shape) {
  return std::exp(log_gamma_variate(gen, shape));
}

// Dirichlet(concentration) into `out`, by normalising independent gamma variates. Done in
// log space (subtract the largest log first) so that tiny concentrations do not give 0/0.
inline void dirichlet(rng& gen, std::span<const double> concentration, std::span<double> out) {
  if (concentration.size() != out.size() || out.empty()) {
    throw shape_error("dirichlet: concentration has " + std::to_string(concentration.size()) +
                      " entries, output has " + std::to_string(out.size()) +
                      "; expected equal and non-zero");
  }
  double largest = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = log_gamma_variate(gen, concentration[i]);
    largest = std::max(largest, out[i]);
  }
  double total = 0.0;
  for (double& value : out) total += (value = std::exp(value - largest));
  for (double& value : out) value /= total;
}

// Symmetric Dirichlet(alpha, ..., alpha) of out.size() components.
inline void symmetric_dirichlet(rng& gen, double alpha, std::span<double> out) {
  double largest = -std::numeric_limits<double>::infinity();
  for (double& value : out) largest = std::max(largest, value = log_gamma_variate(gen, alpha));
  double total = 0.0;
  for (double& value : out) total += (value = std::exp(value - largest));
  for (double& value : out) value /= total;
}

// Index drawn with the given probabilities (they should sum to 1) by inversion of one uniform.
// Rounding that leaves the uniform past the last partial sum picks the last positive entry.
inline index_t categorical(rng& gen, std::span<const double> probabilities) {
  const double u = gen.uniform();
  double cumulative = 0.0;
  index_t last_positive = -1;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    if (probabilities[i] <= 0.0) continue;
    cumulative += probabilities[i];
    last_positive = static_cast<index_t>(i);
    if (u < cumulative) return last_positive;
  }
  if (last_positive < 0) throw value_error("categorical: no positive probability");
  return last_positive;
}

// Turns a probability row into the partial sums that categorical_from_cumulative scans. From
// the last positive entry on, the sums are set above 1, so that rounding in the sums can never
// select a trailing zero-probability entry nor run off the end.
inline void cumulative_row(std::span<const double> probabilities, std::span<double> cumulative) {
  if (probabilities.size() != cumulative.size() || probabilities.empty()) {
    throw shape_error("cumulative_row: sizes " + std::to_string(probabilities.size()) + " and " +
                      std::to_string(cumulative.size()) + " must be equal and non-zero");
  }
  std::size_t last_positive = probabilities.size();
  double total = 0.0;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    if (probabilities[i] < 0.0) throw value_error("cumulative_row: negative probability");
    if (probabilities[i] > 0.0) last_positive = i;
    cumulative[i] = (total += probabilities[i]);
  }
  if (last_positive == probabilities.size()) throw value_error("cumulative_row: all zero");
  for (std::size_t i = last_positive; i < cumulative.size(); ++i) cumulative[i] = 2.0;
}

// Index drawn by inversion of the uniform u in [0, 1) against a row made by cumulative_row:
// what the samplers precompute so that drawing a token is one uniform and a short scan.
inline index_t categorical_from_cumulative(double u, std::span<const double> cumulative) noexcept {
  const auto last = static_cast<index_t>(cumulative.size()) - 1;
  index_t i = 0;
  while (i < last && !(u < cumulative[static_cast<std::size_t>(i)])) ++i;
  return i;
}

}  // namespace ranklens::data
