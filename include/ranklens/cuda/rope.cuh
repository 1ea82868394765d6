// Rotary position embedding, the twin of cpu/rope.hpp: the same float32 tables (computed on the
// host by cpu::rope_tables, so both backends rotate by identical cos and sin) and the same
// rotation of feature pairs (i, i + width/2), one thread per pair. The tables are uploaded once
// per head width and θ, for positions [0, n) (regrown as longer sequences come), and each forward
// copies its rows on the device: nothing waits for the host, so a step can be captured into a
// CUDA graph (graph.hpp) once it has run outside the capture.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ranklens/cpu/rope.hpp"
#include "ranklens/cuda/device_buffer.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

// The tables of positions [0, capacity) for one (device, width, θ). Row q holds the angles of
// position q, which is row q − offset of cpu::rope_tables(…, offset, …): the same numbers. Every
// table ever uploaded is kept for the thread's life, since a captured graph may copy from it.
struct rope_table_cache {
  index_t capacity = 0;
  const float* cos = nullptr;
  const float* sin = nullptr;
  std::vector<device_buffer<float>> kept;
};

inline rope_table_cache& rope_tables_for(int device, index_t width, double theta) {
  thread_local std::map<std::tuple<int, index_t, std::uint64_t>, rope_table_cache> caches;
  return caches[{device, width, std::bit_cast<std::uint64_t>(theta)}];
}

}  // namespace detail

// cos, sin (device): (positions, width / 2), as cpu::rope_tables, copied from the device's
// tables (uploaded first when they do not reach position_offset + positions yet; that upload
// waits for the device and is refused while a graph is being captured).
inline void rope_tables(index_t positions, index_t width, double theta, index_t position_offset, float* cos, float* sin) {
  cpu::detail::require_extents("cuda::rope_tables", positions, width);
  cpu::detail::require(width % 2 == 0, "cuda::rope_tables", "the head width must be even");
  cpu::detail::require(theta > 0, "cuda::rope_tables", "theta must be positive");
  cpu::detail::require(position_offset >= 0, "cuda::rope_tables", "position_offset must be >= 0");
  const index_t half = width / 2, needed = position_offset + positions;
  if (positions == 0 || half == 0) return;
  detail::rope_table_cache& tables = detail::rope_tables_for(runtime::current_device(), width, theta);
  if (needed > tables.capacity) {
    if (runtime::is_capturing(current_stream()))
      throw cuda_error("cuda::rope_tables: the rotary tables do not reach position " + std::to_string(needed) +
                       " yet, and uploading them would wait for the device during a graph capture; run the step once before "
                       "capturing it (cuda::graph::warm_up)");
    const index_t capacity = std::max<index_t>({needed, 2 * tables.capacity, 64});
    std::vector<float> host_cos(static_cast<std::size_t>(capacity * half)), host_sin(host_cos.size());
    cpu::rope_tables(capacity, width, theta, 0, host_cos.data(), host_sin.data());
    tables.kept.emplace_back(host_cos);
    tables.cos = tables.kept.back().data();
    tables.kept.emplace_back(host_sin);
    tables.sin = tables.kept.back().data();
    tables.capacity = capacity;
  }
  const std::size_t bytes = sizeof(float) * std::size_t(positions * half);
  runtime::copy_async(cos, tables.cos + position_offset * half, bytes, current_stream(), "cudaMemcpyAsync (rotary cos table)");
  runtime::copy_async(sin, tables.sin + position_offset * half, bytes, current_stream(), "cudaMemcpyAsync (rotary sin table)");
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
