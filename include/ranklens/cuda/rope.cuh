// Rotary position embedding, the twin of cpu/rope.hpp: the same float32 tables (computed on the
// host by cpu::rope_tables and copied, so both backends rotate by identical cos and sin) and the
// same rotation of feature pairs (i, i + width/2), one thread per pair.
#pragma once
#include <vector>

#include "ranklens/cpu/rope.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

// cos, sin (device): (positions, width / 2), as cpu::rope_tables. Waits for the copy.
inline void rope_tables(index_t positions, index_t width, double theta, index_t position_offset, float* cos, float* sin) {
  std::vector<float> host_cos(static_cast<std::size_t>(positions * (width / 2))), host_sin(host_cos.size());
  cpu::rope_tables(positions, width, theta, position_offset, host_cos.data(), host_sin.data());
  copy_to_device(cos, host_cos.data(), index_t(host_cos.size()));
  copy_to_device(sin, host_sin.data(), index_t(host_sin.size()));
}

namespace detail {

struct rope_pair {
  float first, second, cos, sin;
};

template <class T, grad_write Mode>
struct rope_map {
  const T* from;
  const float* cos;
  const float* sin;
  T* to;
  index_t half, positions, rows_per_position;
  float sign;  // +1: the rotation; −1: its inverse (the backward)
  __device__ rope_pair load(index_t pair) const {
    const index_t r = pair / half, i = pair % half;
    const index_t p = (r / rows_per_position) % positions;
    const index_t at = r * 2 * half + i;
    return {to_float(from[at]), to_float(from[at + half]), cos[p * half + i], sin[p * half + i]};
  }
  __device__ void store(index_t pair, rope_pair v) const {
    const index_t at = (pair / half) * 2 * half + pair % half;
    const float first = v.first * v.cos - sign * v.second * v.sin;
    const float second = v.second * v.cos + sign * v.first * v.sin;
    if constexpr (Mode == grad_write::add) {
      to[at] = from_float<T>(to_float(to[at]) + first);
      to[at + half] = from_float<T>(to_float(to[at + half]) + second);
    } else {
      to[at] = from_float<T>(first);
      to[at + half] = from_float<T>(second);
    }
  }
};

}  // namespace detail

// y = the rotated x; row r is at position (r / rows_per_position) % positions.
// x, y: (rows, width); cos, sin: (positions, width / 2) from rope_tables.
template <DeviceReal T>
void rope_forward(const T* x, const float* cos, const float* sin, T* y, index_t rows, index_t width, index_t positions,
                  index_t rows_per_position) {
  cpu::detail::require_rope_extents("cuda::rope_forward", rows, width, positions, rows_per_position);
  map("cuda::rope_forward", rows * (width / 2),
      detail::rope_map<T, grad_write::store>{x, cos, sin, y, width / 2, positions, rows_per_position, 1.0f});
}

// gx += the inversely rotated gy (gx = with mode store).
template <DeviceReal T>
void rope_backward(const T* gy, const float* cos, const float* sin, T* gx, index_t rows, index_t width, index_t positions,
                   index_t rows_per_position, grad_write mode = grad_write::add) {
  cpu::detail::require_rope_extents("cuda::rope_backward", rows, width, positions, rows_per_position);
  detail::with_grad_write(mode, [&]<grad_write M>() {
    map("cuda::rope_backward", rows * (width / 2), detail::rope_map<T, M>{gy, cos, sin, gx, width / 2, positions, rows_per_position, -1.0f});
  });
}

}  // namespace ranklens::cuda
