// backward(loss): seeds d loss / d loss = 1 and runs the tape newest-first, accumulating into
// every leaf that requires grad (parameters accumulate across calls until zero_grad()).
#pragma once
#include "ranklens/autograd/var.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/strided_copy.hpp"
#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/cpu/affine_functions.hpp"

namespace ranklens {

struct BackwardOptions {
  // Keep the recorded graph so that backward can run over it again (retain_graph=True).
  bool retain_graph = false;
  // Keep the gradient of every intermediate result readable after backward (var.grad()). With
  // false, as PyTorch treats non-leaf tensors, each is released once its op's backward has run
  // and its memory serves later gradients of the same pass: a training step's peak memory then
  // holds the forward's intermediates and only the gradients still live, not all of them.
  // Leaves (parameters, variable()) keep their gradients either way.
  bool keep_intermediate_grads = true;
};

template <class T, ShapeType S, Device D>
void backward(const Var<T, S, D>& loss, BackwardOptions options = {}) {
  if (loss.numel() != 1)
    throw shape_error("backward: the loss must have exactly one element, got shape " + to_string(loss.shape()) +
                      " (pass a seed gradient of the same shape for a non-scalar result)");
  if (!loss.requires_grad()) throw value_error("backward: the loss does not depend on anything that requires grad");
  // d loss / d loss = 1, by kernels on the loss's device (no host round trip, so a captured
  // step can seed it too): stored into a fresh buffer, else added (loss + 1 as an affine map).
  const auto g = loss.grad_sink();
  if (g.mode == grad_write::store)
    backend::fill<T>(D{}, g.data(), T(1), index_t(1));
  else
    backend::unary_forward<cpu::affine_op<T>>(D{}, g.data(), g.data(), index_t(1), cpu::affine_op<T>{T(1), T(1)});
  Tape::current().run_backward(options.retain_graph, options.keep_intermediate_grads);
}

// Vector-Jacobian product: seeds the result's gradient with `seed` (same shape, same device)
// and runs backward.
template <class T, ShapeType S, Device D, class TS, ShapeType S2>
  requires std::same_as<std::remove_const_t<TS>, T>
void backward(const Var<T, S, D>& result, TensorView<TS, S2, D> seed, BackwardOptions options = {}) {
  static_assert(S::rank == S2::rank, "backward(result, seed): the seed must have the rank of the result.");
  require_same_shape("backward(seed)", result.shape(), seed.shape());
  if (!result.requires_grad()) throw value_error("backward: the result does not depend on anything that requires grad");
  const auto g = result.grad_sink();
  backend::copy_strided<T>(D{}, g.view.shape().dims, seed.data(), seed.strides(), g.data(), g.view.strides(), g.mode);
  Tape::current().run_backward(options.retain_graph, options.keep_intermediate_grads);
}

}  // namespace ranklens
