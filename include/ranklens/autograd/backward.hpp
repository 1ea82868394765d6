// backward(loss): seeds d loss / d loss = 1 and runs the tape newest-first, accumulating into
// every leaf that requires grad (parameters accumulate across calls until zero_grad()).
#pragma once
#include <vector>

#include "ranklens/autograd/var.hpp"
#include "ranklens/core/shape_algebra.hpp"

namespace ranklens {

struct BackwardOptions {
  // Keep the recorded graph so that backward can run over it again (retain_graph=True).
  bool retain_graph = false;
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
  Tape::current().run_backward(options.retain_graph);
}

// Vector-Jacobian product: seeds the result's gradient with `seed` (same shape) and runs backward.
template <class T, ShapeType S, Device D, class TS, ShapeType S2>
  requires std::same_as<std::remove_const_t<TS>, T>
void backward(const Var<T, S, D>& result, TensorView<TS, S2, D> seed, BackwardOptions options = {}) {
  require_same_shape("backward(seed)", result.shape(), seed.shape());
  if (!result.requires_grad()) throw value_error("backward: the result does not depend on anything that requires grad");
  auto g = result.grad_accumulator();
  const T* s = seed.data();
  T* gd = g.data();
  index_t i = 0;
  std::array<index_t, S::rank> seed_strides{};
  for (std::size_t k = 0; k < S::rank; ++k) seed_strides[k] = seed.strides()[k];
  std::vector<index_t> seed_offsets;
  seed_offsets.reserve(std::size_t(seed.numel()));
  for_each_offset<S::rank>(seed.shape().dims, seed_strides, [&](index_t off) { seed_offsets.push_back(off); });
  for_each_offset<S::rank>(g.shape().dims, g.strides(), [&](index_t off) { gd[off] += s[seed_offsets[std::size_t(i++)]]; });
  Tape::current().run_backward(options.retain_graph);
}

}  // namespace ranklens
