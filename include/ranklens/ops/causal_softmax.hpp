// causal_softmax(scores, scale): softmax(scale · scores) over the last axis with keys after the
// query masked out, for square (..., T, T) attention scores, in one pass (the fused form of
// scale, causal_mask_fill(−inf) and softmax). Rows read only their visible prefix.
#pragma once
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/softmax.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

template <class T, ShapeType S, Device D>
Var<T, S, D> causal_softmax(const Var<T, S, D>& input, std::type_identity_t<T> scale) {
  static_assert(S::rank >= 2, "causal_softmax: the scores need (queries, keys) as their last two axes.");
  const index_t t = input.extent(S::rank - 1);
  if (input.extent(S::rank - 2) != t)
    throw shape_error("causal_softmax: scores " + to_string(input.shape()) + " must be square in their last two axes");
  const auto x = contiguous(input);
  const index_t matrices = t == 0 ? 0 : x.numel() / (t * t);
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  backend::causal_softmax_forward<T>(D{}, x.value().data(), out.mutable_data(), matrices, t, scale);
  record(
      "causal_softmax", out,
      [matrices, t, scale](const auto& out, const auto& x) {
        backend::causal_softmax_backward<T>(D{}, out.value().data(), out.grad().data(), x.grad_accumulator().data(), matrices, t, scale);
      },
      x);
  return out;
}

}  // namespace ranklens
