// Inverted dropout over n contiguous elements, as pointer-level kernels: the loops
// ops/dropout.hpp ran inline, with the contract a CUDA twin will share (docs/architecture.md,
// "Ops on any device"). Element i is kept when CounterGenerator::uniform(key.resolve(), i) >= p:
//   y[i] = kept ? x[i]·scale : 0,   gx[i] (+)= kept ? gy[i]·scale : 0
// The mask depends on (key, i) only, so any split of the elements gives the same one. No SIMD
// here: the draws dominate, and a device twin needs the same arithmetic, not the same vectors.
#pragma once
#include <cstdint>

#include "ranklens/core/config.hpp"
#include "ranklens/core/counter_generator.hpp"
#include "ranklens/core/grad_write.hpp"

namespace ranklens::cpu {

// The key of one dropout call: the generator's next.
inline CounterKey dropout_key(CounterGenerator& generator) noexcept { return generator.next(); }

// keep may be null (no backward will run); otherwise keep[i] is set to whether i was kept.
template <class T>
void dropout_forward(const T* x, T* y, std::uint8_t* keep, index_t n, CounterKey key, double p, T scale) {
  const std::uint64_t resolved = key.resolve();
  for (index_t i = 0; i < n; ++i) {
    const bool kept = CounterGenerator::uniform(resolved, std::uint64_t(i)) >= p;
    y[i] = kept ? x[i] * scale : T(0);
    if (keep) keep[i] = kept;
  }
}

// mode == store writes every gx[i] (zero where dropped); add adds onto gx.
template <class T>
void dropout_backward(const std::uint8_t* keep, const T* gy, T* gx, index_t n, T scale, grad_write mode) {
  if (mode == grad_write::store) {
    for (index_t i = 0; i < n; ++i) gx[i] = keep[i] ? gy[i] * scale : T(0);
  } else {
    for (index_t i = 0; i < n; ++i)
      if (keep[i]) gx[i] += gy[i] * scale;
  }
}

}  // namespace ranklens::cpu
