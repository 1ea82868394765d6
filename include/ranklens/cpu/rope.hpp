// Rotary position embedding as pointer-level kernels: the tables and the rotation that
// ops/rope.hpp computes inline (same float32 angles, same float32 cos/sin, same arithmetic), for
// a contiguous array of head vectors, shared in contract with cuda/rope.cuh.
//
// Feature pair (i, i + width/2) of the head vector at position p turns by the angle p·ω_i,
// ω_i = 1 / θ^(2i/width), both float32 as in Hugging Face's Qwen2/Llama:
//   y1 = x1·cos − x2·sin,   y2 = x2·cos + x1·sin;
// the backward turns the gradient back by −p·ω_i. No SIMD here, so that nvcc can include it.
#pragma once
#include <cmath>
#include <string>

#include "ranklens/cpu/kernel_args.hpp"

namespace ranklens::cpu {

// cos and sin of (position_offset + p)·ω_i for p < positions, i < width / 2, rounded to float.
// cos, sin: (positions, width / 2)
inline void rope_tables(index_t positions, index_t width, double theta, index_t position_offset, float* cos, float* sin) {
  detail::require_extents("rope_tables", positions, width);
  detail::require(width % 2 == 0, "rope_tables", "the head width must be even");
  detail::require(theta > 0, "rope_tables", "theta must be positive");
  detail::require(position_offset >= 0, "rope_tables", "position_offset must be >= 0");
  const index_t half = width / 2;
  for (index_t i = 0; i < half; ++i) {
    const float inverse_frequency = 1.0f / std::pow(float(theta), float(2 * i) / float(width));
    for (index_t p = 0; p < positions; ++p) {
      const double angle = double(float(position_offset + p) * inverse_frequency);
      cos[p * half + i] = float(std::cos(angle));
      sin[p * half + i] = float(std::sin(angle));
    }
  }
}

namespace detail {
// to = rotate(from) by the angles of the tables (sign −1: the inverse rotation), stored or added.
template <class T>
void rope_rotate(const T* from, const float* cos, const float* sin, T* to, index_t rows, index_t width, index_t positions,
                 index_t rows_per_position, T sign, grad_write mode) {
  const index_t half = width / 2;
  for (index_t r = 0; r < rows; ++r) {
    const index_t p = (r / rows_per_position) % positions;
    const float* c = cos + p * half;
    const float* s = sin + p * half;
    const T* a = from + r * width;
    T* b = to + r * width;
    for (index_t i = 0; i < half; ++i) {
      const T first = a[i] * T(c[i]) - sign * a[i + half] * T(s[i]);
      const T second = a[i + half] * T(c[i]) + sign * a[i] * T(s[i]);
      if (mode == grad_write::add) {
        b[i] += first;
        b[i + half] += second;
      } else {
        b[i] = first;
        b[i + half] = second;
      }
    }
  }
}
inline void require_rope_extents(const char* kernel, index_t rows, index_t width, index_t positions, index_t rows_per_position) {
  require_extents(kernel, rows, width);
  require(width % 2 == 0, kernel, "the head width must be even");
  require(positions > 0 && rows_per_position > 0, kernel, "positions and rows_per_position must be positive");
}
}  // namespace detail

// y = the rotated x. Row r (a head vector of `width`) is at position (r / rows_per_position) %
// positions: for (B, T, heads, width), rows_per_position = heads. x, y: (rows, width);
// cos, sin: (positions, width / 2) from rope_tables.
template <class T>
void rope_forward(const T* x, const float* cos, const float* sin, T* y, index_t rows, index_t width, index_t positions,
                  index_t rows_per_position) {
  detail::require_rope_extents("rope_forward", rows, width, positions, rows_per_position);
  detail::rope_rotate(x, cos, sin, y, rows, width, positions, rows_per_position, T(1), grad_write::store);
}

// gx += the inversely rotated gy (gx = with mode store).
template <class T>
void rope_backward(const T* gy, const float* cos, const float* sin, T* gx, index_t rows, index_t width, index_t positions,
                   index_t rows_per_position, grad_write mode = grad_write::add) {
  detail::require_rope_extents("rope_backward", rows, width, positions, rows_per_position);
  detail::rope_rotate(gy, cos, sin, gx, rows, width, positions, rows_per_position, T(-1), mode);
}

}  // namespace ranklens::cpu
