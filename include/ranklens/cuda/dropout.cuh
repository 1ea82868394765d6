// Inverted dropout, the twin of cpu/dropout.hpp: element i is kept when
// CounterGenerator::uniform(key, i) >= p, so a key gives the same mask on the device as on the
// CPU, bit for bit (the draw is integer arithmetic and one exact conversion to double).
//   y[i] = kept ? x[i]·scale : 0,   gx[i] (+)= kept ? gy[i]·scale : 0
// Elements are computed in float and rounded once when stored, as every kernel here.
#pragma once
#include <cstdint>

#include "ranklens/core/counter_generator.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

template <class T>
struct dropout_forward_map {
  const T* x;
  T* y;
  std::uint8_t* keep;
  std::uint64_t key;
  double p;
  float scale;
  __device__ float load(index_t i) const { return to_float(x[i]); }
  __device__ void store(index_t i, float v) const {
    const bool kept = CounterGenerator::uniform(key, std::uint64_t(i)) >= p;
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

// keep may be null (no backward will run); otherwise keep[i] is set to whether i was kept.
template <DeviceReal T>
void dropout_forward(const T* x, T* y, std::uint8_t* keep, index_t n, std::uint64_t key, double p, T scale) {
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
