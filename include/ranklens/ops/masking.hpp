// causal_mask_fill: hides the future from attention scores. In scores (..., Tq, Tk), query i
// may attend to keys j <= i + offset; every other entry becomes `value` (usually −inf, so that
// softmax gives it zero weight). The gradient flows through the kept entries only.
//
// offset = 0 is the square training case (Tq = Tk). With a KV cache holding Tk − Tq earlier
// positions, the new queries sit at the end of the sequence: offset = Tk − Tq. The loops are
// cpu/causal_mask.hpp's.
#pragma once
#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/causal_mask.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

// scores: (..., Tq, Tk). Entries with column j > row i + offset are set to `value`.
template <class T, ShapeType S, Device D>
Var<T, S, D> causal_mask_fill(const Var<T, S, D>& scores, std::type_identity_t<T> value, index_t offset = 0) {
  static_assert(S::rank >= 2, "causal_mask_fill: the scores need at least two axes (queries, keys).");
  constexpr std::size_t R = S::rank;
  const auto x = contiguous(scores);
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  const index_t queries = x.shape().dims[R - 2], keys = x.shape().dims[R - 1];
  const index_t matrices = queries * keys == 0 ? 0 : x.numel() / (queries * keys);
  backend::causal_mask_fill_forward(D{}, x.value().data(), out.mutable_data(), matrices, queries, keys, offset, T(value));
  record<forward_values::may_be_infinite>(  // −inf fills are the point of a mask
      "causal_mask_fill", out,
      [matrices, queries, keys, offset](const auto& result, const auto& input) {
        const auto gx = input.grad_sink();
        backend::causal_mask_fill_backward(D{}, result.grad().data(), gx.data(), matrices, queries, keys, offset, gx.mode);
      },
      x);
  return out;
}

}  // namespace ranklens
