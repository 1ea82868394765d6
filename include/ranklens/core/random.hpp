// The one seeded generator of ranklens, and the one 64-bit mixer behind it, dropout's masks
// (core/counter_generator.hpp) and file fingerprints (io/content_hash.hpp).
//
// The generator is xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", ACM TOMS 2021): 256 bits of state, period 2^256 - 1, about a nanosecond per
// 64-bit output. Its state is filled from a seed by SplitMix64 (Steele, Lea & Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014), as its authors advise.
// Both are integer arithmetic only: the same seed gives the same stream bit for bit on every
// platform.
//
// Draws from it (uniform, integer, normal) are core/distributions.hpp's, which serve any standard
// engine alike.
//
// Streams: Rng::for_stream(seed, i) gives the generator of work item i (usually sequence i of
// a batch). Items are then independent of how the work is split among threads.
#pragma once
#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace ranklens {

// 2^64 / golden ratio, rounded to odd: SplitMix64's Weyl-sequence increment.
inline constexpr std::uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;

// SplitMix64 finaliser: a bijective mix of 64 bits with good avalanche (Stafford's "Mix13").
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  using result_type = std::uint64_t;

  explicit constexpr Rng(std::uint64_t seed = 0) noexcept {
    // SplitMix64 walks a Weyl sequence and mixes each step; never all-zero output in 4 steps.
    std::uint64_t weyl = seed;
    for (auto& word : state_) {
      weyl += golden_gamma;
      word = mix64(weyl);
    }
  }

  // A generator in exactly the given state (not all zero), e.g. to check published outputs.
  static constexpr Rng from_state(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2,
                                  std::uint64_t s3) noexcept {
    Rng gen;
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
  static constexpr Rng for_stream(std::uint64_t seed, std::uint64_t index) noexcept {
    return Rng(mix64(seed ^ mix64(index + golden_gamma)) + index);
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

 private:
  std::uint64_t state_[4]{};
};

}  // namespace ranklens
