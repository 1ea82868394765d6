// causal_mask_fill: hides the future from attention scores. In scores (..., Tq, Tk), query i
// may attend to keys j <= i + offset; every other entry becomes `value` (usually −inf, so that
// softmax gives it zero weight). The gradient flows through the kept entries only.
//
// offset = 0 is the square training case (Tq = Tk). With a KV cache holding Tk − Tq earlier
// positions, the new queries sit at the end of the sequence: offset = Tk − Tq.
#pragma once
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/core/broadcast_layout.hpp"

namespace ranklens {

namespace detail {
// f(i, offsets...) for every row i of every matrix in a (..., rows, columns) layout, where
// offset n is where that matrix starts under stride array n.
template <std::size_t R, std::size_t N, class F>
void for_each_matrix_row(const std::array<index_t, R>& dims, const std::array<std::array<index_t, R>, N>& strides, F&& f) {
  static_assert(R >= 2);
  std::array<index_t, R - 2> batch_dims{};
  std::array<std::array<index_t, R - 2>, N> batch_strides{};
  for (std::size_t k = 0; k + 2 < R; ++k) {
    batch_dims[k] = dims[k];
    for (std::size_t n = 0; n < N; ++n) batch_strides[n][k] = strides[n][k];
  }
  auto per_matrix = [&](auto... base) {
    for (index_t i = 0; i < dims[R - 2]; ++i) f(i, base...);
  };
  for_each_offsets<R - 2, N>(batch_dims, batch_strides, per_matrix);
}
}  // namespace detail

// How many leading keys query i sees: j <= i + offset, clamped to [0, keys].
constexpr index_t visible_keys(index_t i, index_t offset, index_t keys) noexcept {
  const index_t last = i + offset;
  return last < 0 ? 0 : (last + 1 < keys ? last + 1 : keys);
}

// scores: (..., Tq, Tk). Entries with column j > row i + offset are set to `value`.
template <class T, ShapeType S, Device D>
Var<T, S, D> causal_mask_fill(const Var<T, S, D>& scores, std::type_identity_t<T> value, index_t offset = 0) {
  static_assert(S::rank >= 2, "causal_mask_fill: the scores need at least two axes (queries, keys).");
  static_assert(std::is_same_v<D, cpu_t>, "This op has no CUDA kernel yet.");
  constexpr std::size_t R = S::rank;
  auto out = new_var<T, S, D>(scores.shape(), any_requires_grad(scores));
  T* y = out.mutable_data();
  const T* x = scores.value().data();
  const auto sx = scores.strides();
  const auto sy = contiguous_strides(scores.shape());
  const index_t keys = scores.shape().dims[R - 1];
  detail::for_each_matrix_row<R, 2>(scores.shape().dims, {sy, sx}, [&](index_t i, index_t oy, index_t ox) {
    T* row = y + oy + i * sy[R - 2];
    const T* source = x + ox + i * sx[R - 2];
    const index_t visible = visible_keys(i, offset, keys);
    for (index_t j = 0; j < visible; ++j) row[j] = source[j * sx[R - 1]];
    for (index_t j = visible; j < keys; ++j) row[j] = value;
  });
  record<forward_values::may_be_infinite>(  // −inf fills are the point of a mask
      "causal_mask_fill", out,
      [sy, offset](const auto& result, const auto& input) {
        auto g = input.grad_accumulator();
        T* gx = g.data();
        const auto sg = g.strides();
        const T* gy = result.grad().data();
        const index_t keys = result.shape().dims[R - 1];
        detail::for_each_matrix_row<R, 2>(result.shape().dims, {sy, sg}, [&](index_t i, index_t oy, index_t og) {
          T* row = gx + og + i * sg[R - 2];
          const T* source = gy + oy + i * sy[R - 2];
          const index_t visible = visible_keys(i, offset, keys);
          for (index_t j = 0; j < visible; ++j) row[j * sg[R - 1]] += source[j];
        });
      },
      scores);
  return out;
}

}  // namespace ranklens
