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
#include "ranklens/backend/rope.hpp"
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

// x: any shape whose last axis is the head (even width) and whose axis `PositionAxis`
// indexes positions; position t gets angle (position_offset + t)·ω. With a KV cache the new
// tokens start at position_offset = the number of cached tokens.
// Projections give (B, T, heads, D): rotary_embedding<1>(q, theta).
template <int PositionAxis, class T, ShapeType S, Device D>
auto rotary_embedding(const Var<T, S, D>& input, double theta, index_t position_offset = 0) {
  static_assert(S::rank >= 2, "rotary_embedding: the tensor needs a position axis and a feature axis.");
  static_assert(valid_axis<PositionAxis, S::rank>, "rotary_embedding: the position axis is out of range for the tensor's rank.");
  constexpr index_t static_width = S::static_extents[S::rank - 1];
  static_assert(static_width == dyn || static_width % 2 == 0, "rotary_embedding: the last (head) axis must have an even width.");
  if constexpr (S::rank >= 2 && valid_axis<PositionAxis, S::rank> && (static_width == dyn || static_width % 2 == 0)) {
    constexpr std::size_t position_axis = axis_index<PositionAxis, S::rank>;
    static_assert(position_axis != S::rank - 1, "rotary_embedding: the position axis cannot be the feature axis.");
    if (position_offset < 0)
      throw value_error("rotary_embedding: position_offset must be >= 0, got " + std::to_string(position_offset));
    if (!(theta > 0)) throw value_error("rotary_embedding: theta must be positive, got " + std::to_string(theta));

    const index_t width = input.shape().dims[S::rank - 1];
    if (width % 2 != 0)
      throw shape_error("rotary_embedding: the last (head) axis must have an even width, got shape " + to_string(input.shape()));
    const auto x = contiguous(input);
    const index_t half = width / 2;
    const index_t positions = x.extent(position_axis);
    index_t rows_per_position = 1;  // rows (head vectors) between consecutive positions
    for (std::size_t k = position_axis + 1; k + 1 < S::rank; ++k) rows_per_position *= x.extent(k);
    const index_t rows = width == 0 ? 0 : x.numel() / width;

    // cos/sin per (position, pair), kept in the arena for the backward; computed on the host
    // on every device (cuda::rope_tables uploads them once and copies rows on the device), so
    // the backends rotate by the same numbers; the rotation is cpu/rope.hpp's (which cuda/
    // shares in contract).
    auto& arena = Tape::current().arena<D>();
    float* cos_table = arena.template allocate_array<float>(std::size_t(positions * half));
    float* sin_table = arena.template allocate_array<float>(std::size_t(positions * half));
    backend::rope_tables(D{}, positions, width, theta, position_offset, cos_table, sin_table);

    auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
    backend::rope_forward<T>(D{}, x.value().data(), cos_table, sin_table, out.mutable_data(), rows, width, positions, rows_per_position);
    record(
        "rotary_embedding", out,
        [cos_table, sin_table, rows, width, positions, rows_per_position](const auto& result, const auto& source) {
          const auto gx = source.grad_sink();
          backend::rope_backward<T>(D{}, result.grad().data(), cos_table, sin_table, gx.data(), rows, width, positions, rows_per_position, gx.mode);
        },
        x);
    return out;
  }
}

}  // namespace ranklens
