// Inverted dropout (Srivastava et al., JMLR 2014): in training each element is zeroed with
// probability p and the survivors are scaled by 1/(1−p), so evaluation needs no rescaling.
// The keep/drop mask is saved in the tape arena and backward applies the very same mask.
//
// The random bits come from a counter-based generator (the idea of Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011): element i of a call's mask is a pure function
// of (seed, call number, i). A mask is therefore reproducible from the seed alone, and does not
// depend on the order in which elements (or threads, or a GPU) compute it.
#pragma once
#include <cstdint>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/core/broadcast_layout.hpp"
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

// x with each element zeroed with probability p and the rest scaled by 1/(1−p). Returns x
// itself (no copy, no key taken from the generator) when !training or p == 0; p == 1 gives
// zeros. Throws value_error unless 0 <= p <= 1.
template <class T, ShapeType S, Device D>
Var<T, S, D> dropout(const Var<T, S, D>& x, double p, CounterGenerator& generator, bool training = true) {
  static_assert(std::is_same_v<D, cpu_t>, "This op has no CUDA kernel yet.");
  if (!(p >= 0.0 && p <= 1.0))
    throw value_error("dropout: p must be in [0, 1], got " + std::to_string(p) + " (input shape " +
                      to_string(x.shape()) + ")");
  if (!training || p == 0.0) return x;

  const std::uint64_t key = generator.next_key();
  const T scale = p < 1.0 ? T(1.0 / (1.0 - p)) : T(0);
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  // One byte per element, kept only if backward will need it.
  std::uint8_t* keep = out.requires_grad()
                           ? Tape::current().arena<cpu_t>().allocate_array<std::uint8_t>(std::size_t(x.numel()))
                           : nullptr;
  T* y = out.mutable_data();
  const T* xv = x.value().data();
  const auto sy = contiguous_strides(x.shape());
  // oy is also the element's row-major index, which keys its random bits.
  for_each_offsets<S::rank, 2>(x.shape().dims, {sy, x.strides()}, [&](index_t oy, index_t ox) {
    const bool kept = CounterGenerator::uniform(key, std::uint64_t(oy)) >= p;
    y[oy] = kept ? xv[ox] * scale : T(0);
    if (keep) keep[oy] = kept;
  });

  record(
      "dropout", out,
      [keep, scale, sy](const auto& result, const auto& input) {
        auto g = input.grad_accumulator();
        T* gx = g.data();
        const T* gy = result.grad().data();
        for_each_offsets<S::rank, 2>(result.shape().dims, {sy, g.strides()}, [&](index_t oy, index_t og) {
          if (keep[oy]) gx[og] += gy[oy] * scale;
        });
      },
      x);
  return out;
}

}  // namespace ranklens
