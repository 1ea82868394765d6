// backward(loss): seeds d loss / d loss = 1 and runs the tape newest-first, accumulating into
// every leaf that requires grad (parameters accumulate across calls until zero_grad()).
#pragma once
#include "ranklens/autograd/var.hpp"
#include "ranklens/core/broadcast_layout.hpp"
#include "ranklens/core/shape_algebra.hpp"

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
  auto g = loss.grad_accumulator();
  static_assert(std::is_same_v<D, cpu_t>, "backward on CUDA values arrives with the CUDA backend.");
  g.data()[0] += T(1);
  Tape::current().run_backward(options.retain_graph, options.keep_intermediate_grads);
}

// Vector-Jacobian product: seeds the result's gradient with `seed` (same shape) and runs backward.
template <class T, ShapeType S, Device D, class TS, ShapeType S2>
  requires std::same_as<std::remove_const_t<TS>, T>
void backward(const Var<T, S, D>& result, TensorView<TS, S2, D> seed, BackwardOptions options = {}) {
  static_assert(S::rank == S2::rank, "backward(result, seed): the seed must have the rank of the result.");
  require_same_shape("backward(seed)", result.shape(), seed.shape());
  if (!result.requires_grad()) throw value_error("backward: the result does not depend on anything that requires grad");
  auto g = result.grad_accumulator();
  const T* s = seed.data();
  T* gd = g.data();
  if (seed.is_contiguous() && result.is_contiguous()) {
    for (index_t i = 0; i < seed.numel(); ++i) gd[i] += s[i];
  } else {
    // Walk both layouts in row-major order together.
    std::array<std::array<index_t, S::rank>, 2> strides{};
    for (std::size_t k = 0; k < S::rank; ++k) strides[0][k] = g.strides()[k], strides[1][k] = seed.strides()[k];
    for_each_offsets<S::rank, 2>(g.shape().dims, strides, [&](index_t og, index_t os) { gd[og] += s[os]; });
  }
  Tape::current().run_backward(options.retain_graph, options.keep_intermediate_grads);
}

}  // namespace ranklens
