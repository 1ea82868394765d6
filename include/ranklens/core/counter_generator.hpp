// The counter-based generator behind dropout's masks (the idea of Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011): element i of a call's mask is a pure function
// of (seed, call number, i). A mask is therefore reproducible from the seed alone, and does not
// depend on the order in which elements (or threads, or a GPU) compute it. It lives below the
// kernels so that the CPU kernel (cpu/dropout.hpp) and a device twin draw the same bits.
#pragma once
#include <cstdint>

#include "ranklens/core/distributions.hpp"
#include "ranklens/core/random.hpp"

namespace ranklens {

class CounterGenerator {
 public:
  explicit constexpr CounterGenerator(std::uint64_t seed = 0) noexcept : seed_(seed) {}

  // The key of the next call: each dropout call takes one, so successive layers and steps
  // get unrelated masks.
  constexpr std::uint64_t next_key() noexcept { return mix64(seed_ ^ mix64(++calls_ * golden_gamma)); }

  // 64 random bits for element `index` under `key`: SplitMix64's output function applied to a
  // Weyl sequence started at the key (Steele, Lea & Flood, OOPSLA 2014).
  static constexpr std::uint64_t bits(std::uint64_t key, std::uint64_t index) noexcept {
    return mix64(key + (index + 1) * golden_gamma);
  }

  // Uniform on [0, 1) with 53 random bits.
  static constexpr double uniform(std::uint64_t key, std::uint64_t index) noexcept {
    return unit_interval_from_bits(bits(key, index));
  }

  std::uint64_t seed() const noexcept { return seed_; }
  // How many keys were taken: with the seed, the whole state (for checkpoints).
  std::uint64_t calls() const noexcept { return calls_; }
  void set_calls(std::uint64_t calls) noexcept { calls_ = calls; }

 private:
  std::uint64_t seed_;
  std::uint64_t calls_ = 0;
};

}  // namespace ranklens
