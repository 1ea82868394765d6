// Rotary position embedding (Su et al. 2021, "RoFormer"), in Hugging Face's Qwen2/Llama
// convention: the head vector is cut into halves (x1, x2), and feature pair (i, i + D/2) is
// rotated by the angle p · θ^(−2i/D) of its position p:
//   y1 = x1·cos − x2·sin,   y2 = x2·cos + x1·sin        (x·cos + rotate_half(x)·sin)
// A rotation is orthogonal, so the backward applies the inverse rotation (angle −p·ω) to the
// output gradient:  g1 = gy1·cos + gy2·sin,   g2 = gy2·cos − gy1·sin.
//
// Angles and cos/sin follow HF numerically: ω_i = 1 / θ^(2i/D) and p·ω_i are float32 products
// and cos/sin are rounded to float32 even for double tensors (HF computes its cos/sin cache in
// float32 and casts it to the model's dtype), so ranklens and HF round the same angles (torch's float32 cos itself may differ by one ulp:
// under 5e-7 in float32 logits, docs/parity.md).
#pragma once
#include <array>
#include <cmath>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

// ω_i = 1 / θ^(2i/D) for feature pair i of a head of width D, in float32 as HF computes it.
inline float rotary_inverse_frequency(index_t pair, index_t head_width, double theta) {
  const float exponent = float(2 * pair) / float(head_width);
  return 1.0f / std::pow(float(theta), exponent);
}

// The rotation angle of feature pair `pair` at `position`, a float32 product as in HF.
inline float rotary_angle(index_t position, index_t pair, index_t head_width, double theta) {
  return float(position) * rotary_inverse_frequency(pair, head_width, theta);
}

// x: any shape whose last axis is the head (static, even width) and whose axis `PositionAxis`
// indexes positions; position t gets angle (position_offset + t)·ω. With a KV cache the new
// tokens start at position_offset = the number of cached tokens.
// Projections give (B, T, heads, D): rotary_embedding<1>(q, theta).
template <int PositionAxis, class T, ShapeType S, Device D>
auto rotary_embedding(const Var<T, S, D>& input, double theta, index_t position_offset = 0) {
  static_assert(S::rank >= 2, "rotary_embedding: the tensor needs a position axis and a feature axis.");
  static_assert(valid_axis<PositionAxis, S::rank>, "rotary_embedding: the position axis is out of range for the tensor's rank.");
  constexpr index_t width = S::static_extents[S::rank - 1];
  static_assert(width != dyn && width % 2 == 0, "rotary_embedding: the last (head) axis must have an even static width.");
  static_assert(std::is_same_v<D, cpu_t>, "This op has no CUDA kernel yet.");
  if constexpr (S::rank >= 2 && valid_axis<PositionAxis, S::rank> && width != dyn && width % 2 == 0) {
    constexpr std::size_t position_axis = axis_index<PositionAxis, S::rank>;
    static_assert(position_axis != S::rank - 1, "rotary_embedding: the position axis cannot be the feature axis.");
    if (position_offset < 0)
      throw value_error("rotary_embedding: position_offset must be >= 0, got " + std::to_string(position_offset));
    if (!(theta > 0)) throw value_error("rotary_embedding: theta must be positive, got " + std::to_string(theta));

    const auto x = contiguous(input);
    constexpr index_t half = width / 2;
    const index_t positions = x.extent(position_axis);
    index_t rows_per_position = 1;  // rows (head vectors) between consecutive positions
    for (std::size_t k = position_axis + 1; k + 1 < S::rank; ++k) rows_per_position *= x.extent(k);
    const index_t rows = x.numel() / width;

    // cos/sin per (position, pair), kept in the arena for the backward.
    auto& arena = Tape::current().arena<D>();
    T* cos_table = arena.template allocate_array<T>(std::size_t(positions * half));
    T* sin_table = arena.template allocate_array<T>(std::size_t(positions * half));
    std::array<float, half> inverse_frequency{};
    for (index_t i = 0; i < half; ++i) inverse_frequency[std::size_t(i)] = rotary_inverse_frequency(i, width, theta);
    for (index_t p = 0; p < positions; ++p)
      for (index_t i = 0; i < half; ++i) {
        const double angle = double(float(position_offset + p) * inverse_frequency[std::size_t(i)]);  // = rotary_angle
        cos_table[p * half + i] = T(float(std::cos(angle)));
        sin_table[p * half + i] = T(float(std::sin(angle)));
      }

    // Applies the rotation (sign = +1) or its inverse (sign = −1) to every head vector,
    // adding into `to` when Accumulate (the backward) and assigning otherwise.
    auto rotate = [=]<bool Accumulate>(const T* from, T* to, T sign) {
      for (index_t r = 0; r < rows; ++r) {
        const index_t p = (r / rows_per_position) % positions;
        const T* c = cos_table + p * half;
        const T* s = sin_table + p * half;
        const T* a = from + r * width;
        T* b = to + r * width;
        for (index_t i = 0; i < half; ++i) {
          const T first = a[i] * c[i] - sign * a[i + half] * s[i];
          const T second = a[i + half] * c[i] + sign * a[i] * s[i];
          if constexpr (Accumulate) {
            b[i] += first;
            b[i + half] += second;
          } else {
            b[i] = first;
            b[i + half] = second;
          }
        }
      }
    };

    auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
    rotate.template operator()<false>(x.value().data(), out.mutable_data(), T(1));
    record(
        "rotary_embedding", out,
        [rotate](const auto& result, const auto& source) {
          rotate.template operator()<true>(result.grad().data(), source.grad_accumulator().data(), T(-1));
        },
        x);
    return out;
  }
}

}  // namespace ranklens
