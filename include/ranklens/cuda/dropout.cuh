// Inverted dropout, the twin of cpu/dropout.hpp: element i is kept when
// CounterGenerator::uniform(key.resolve(), i) >= p, so a key gives the same mask on the device as
// on the CPU, bit for bit (the draw is integer arithmetic and one exact conversion to double).
// Inside a captured graph the key's call number is read from device memory (replay_counters.cuh).
//   y[i] = kept ? x[i]·scale : 0,   gx[i] (+)= kept ? gy[i]·scale : 0
// Elements are computed in float and rounded once when stored, as every kernel here.
#pragma once
#include <cstdint>

#include "ranklens/core/counter_generator.hpp"
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/replay_counters.cuh"

namespace ranklens::cuda {

namespace detail {

template <class T>
struct dropout_forward_map {
  const T* x;
  T* y;
  std::uint8_t* keep;
  CounterKey key;
  double p;
  float scale;
  __device__ float load(index_t i) const { return to_float(x[i]); }
  __device__ void store(index_t i, float v) const {
    // Resolved per element (two mixes and a cached load): cheap beside the draw itself.
    const bool kept = CounterGenerator::uniform(key.resolve(), std::uint64_t(i)) >= p;
    y[i] = from_float<T>(kept ? v * scale : 0.0f);
    if (keep) keep[i] = kept;
  }
};

template <class T, grad_write Mode>
struct dropout_backward_map {
  const std::uint8_t* keep;
  const T* gy;
  T* gx;
  float scale;
  __device__ float load(index_t i) const { return to_float(gy[i]); }
  __device__ void store(index_t i, float g) const {
    if constexpr (Mode == grad_write::store)
      gx[i] = from_float<T>(keep[i] ? g * scale : 0.0f);
    else if (keep[i])
      gx[i] = from_float<T>(to_float(gx[i]) + g * scale);
  }
};

}  // namespace detail

// The key of one dropout call on the device: the generator's next, except while a cuda::graph
// captures, when the call number is read from the graph's slot as each replay runs. A stream
// captured some other way (cudaStreamBeginCapture by hand) would freeze the key, so it is refused.
inline CounterKey dropout_key(CounterGenerator& generator) {
  if (replay_counters* counters = replay_counters::capturing()) return counters->take(generator);
  if (runtime::is_capturing(current_stream()))
    throw cuda_error("dropout: the stream is being captured into a CUDA graph by hand; capture with cuda::graph, which gives "
                     "each replay new masks");
  return generator.next();
}

// keep may be null (no backward will run); otherwise keep[i] is set to whether i was kept.
template <DeviceReal T>
void dropout_forward(const T* x, T* y, std::uint8_t* keep, index_t n, CounterKey key, double p, T scale) {
  map("cuda::dropout_forward", n, detail::dropout_forward_map<T>{x, y, keep, key, p, to_float(scale)});
}

// mode == store writes every gx[i] (zero where dropped); add adds onto gx.
template <DeviceReal T>
void dropout_backward(const std::uint8_t* keep, const T* gy, T* gx, index_t n, T scale, grad_write mode) {
  detail::with_grad_write(mode, [&]<grad_write M>() {
    map("cuda::dropout_backward", n, detail::dropout_backward_map<T, M>{keep, gy, gx, to_float(scale)});
  });
}

}  // namespace ranklens::cuda
