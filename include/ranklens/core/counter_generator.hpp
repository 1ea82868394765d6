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

// Where a kernel finds the key of one call: the key of call number `call` under `seed`, where the
// call number is counted from *base when base is set (a number in the kernel's memory, read when
// the kernel runs). The base serves a captured CUDA graph, whose launches keep their arguments:
// before each replay, the calls taken so far are written there (cuda/replay_counters.cuh). Kernels
// resolve the key as they run, so the CPU and a device find the same key.
struct CounterKey {
  std::uint64_t seed = 0;
  std::uint64_t call = 0;
  const std::uint64_t* base = nullptr;

  constexpr std::uint64_t resolve() const noexcept;
};

class CounterGenerator {
 public:
  explicit constexpr CounterGenerator(std::uint64_t seed = 0) noexcept : seed_(seed) {}

  // The key of call number `call` (counted from 1) of a generator seeded with `seed`.
  static constexpr std::uint64_t key(std::uint64_t seed, std::uint64_t call) noexcept {
    return mix64(seed ^ mix64(call * golden_gamma));
  }

  // The next call: each dropout call takes one, so successive layers and steps get unrelated
  // masks. next_key() is its key.
  constexpr CounterKey next() noexcept { return CounterKey{seed_, ++calls_}; }
  constexpr std::uint64_t next_key() noexcept { return key(seed_, ++calls_); }

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

constexpr std::uint64_t CounterKey::resolve() const noexcept {
  return CounterGenerator::key(seed, base != nullptr ? *base + call : call);
}

}  // namespace ranklens
