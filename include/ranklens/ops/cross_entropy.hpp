// Cross-entropy from logits with integer targets, fused (no probability tensor is stored):
// torch.nn.functional.cross_entropy over the last axis, with ignore_index and reductions.
#pragma once
#include <cstdint>
#include <limits>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/cross_entropy.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/reduce.hpp"
#include "ranklens/cpu/cross_entropy_args.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

enum class reduction { mean, sum, none };

struct CrossEntropyOptions {
  std::int32_t ignore_index = cpu::default_ignore_index;  // -100, as PyTorch
  reduction reduce = reduction::mean;                     // mean over the rows not ignored
};

namespace detail {
template <ShapeType SL, ShapeType ST>
void check_cross_entropy_shapes(const SL& logits, const ST& targets) {
  bool ok = ST::rank + 1 == SL::rank;
  for (std::size_t i = 0; ok && i < ST::rank; ++i) ok = logits.dims[i] == targets.dims[i];
  if (!ok)
    throw shape_error("cross_entropy: logits " + to_string(logits) + " need targets of shape " + to_string(logits) +
                      " without the last axis, got " + to_string(targets));
}
}  // namespace detail

// Per-row losses, shape = targets' shape (reduction::none).
template <class T, ShapeType SL, class I, ShapeType ST, Device D>
  requires std::same_as<std::remove_const_t<I>, std::int32_t>
auto cross_entropy_per_row(const Var<T, SL, D>& logits_in, TensorView<I, ST, D> targets,
                           std::int32_t ignore_index = cpu::default_ignore_index) {
  static_assert(SL::rank >= 1 && ST::rank + 1 == SL::rank,
                "cross_entropy: the targets must have the logits' shape without the last (vocabulary) axis.");
  detail::check_cross_entropy_shapes(logits_in.shape(), targets.shape());
  if (!targets.is_contiguous()) throw shape_error("cross_entropy: targets must be contiguous");
  const auto logits = contiguous(logits_in);
  const index_t vocab = logits.extent(SL::rank - 1);
  const index_t rows = targets.numel();
  auto out = new_var<T, ST, D>(ST::from_dims(targets.shape().dims, "cross_entropy"), any_requires_grad(logits));
  T* logsumexp = Tape::current().arena<D>().template allocate_array<T>(std::size_t(rows));
  const std::int32_t* target_ids = targets.data();
  backend::cross_entropy_forward<T>(D{}, logits.value().data(), target_ids, out.mutable_data(), logsumexp, rows, vocab, ignore_index);
  record(
      "cross_entropy", out,
      [=](const auto& out, const auto& logits) {
        backend::cross_entropy_backward<T>(D{}, logits.value().data(), target_ids, logsumexp, out.grad().data(), T(1),
                                           logits.grad_accumulator().data(), rows, vocab, ignore_index);
      },
      logits);
  return out;
}

// The reduced loss (mean over rows not ignored, or sum): a one-element Var.
template <class T, ShapeType SL, class I, ShapeType ST, Device D>
  requires std::same_as<std::remove_const_t<I>, std::int32_t>
Var<T, Shape<>, D> cross_entropy(const Var<T, SL, D>& logits_in, TensorView<I, ST, D> targets,
                                 CrossEntropyOptions options = {}) {
  static_assert(SL::rank >= 1 && ST::rank + 1 == SL::rank,
                "cross_entropy: the targets must have the logits' shape without the last (vocabulary) axis.");
  if (options.reduce == reduction::none)
    throw value_error("cross_entropy: reduction::none returns per-row losses; call cross_entropy_per_row");
  detail::check_cross_entropy_shapes(logits_in.shape(), targets.shape());
  if (!targets.is_contiguous()) throw shape_error("cross_entropy: targets must be contiguous");
  const auto logits = contiguous(logits_in);
  const index_t vocab = logits.extent(SL::rank - 1);
  const index_t rows = targets.numel();
  auto& arena = Tape::current().arena<D>();
  T* losses = arena.template allocate_array<T>(std::size_t(rows));
  T* logsumexp = arena.template allocate_array<T>(std::size_t(rows));
  // The reduction's factor (1 / rows used, or 1) stays in device memory, and the backward
  // multiplies it by the loss's gradient there: nothing here waits for a device, so a training
  // step can be captured into a CUDA graph (cuda/graph.hpp) and replayed on new targets.
  T* scale = arena.template allocate_array<T>(1);
  const std::int32_t* target_ids = targets.data();
  // Checks the targets (on a device: unless a graph is being captured; then a bad target makes
  // the scale, and so the loss, NaN).
  backend::cross_entropy_forward<T>(D{}, logits.value().data(), target_ids, losses, logsumexp, rows, vocab, options.ignore_index);
  backend::cross_entropy_scale<T>(D{}, target_ids, rows, vocab, options.ignore_index, options.reduce != reduction::sum, scale);
  auto out = new_var<T, Shape<>, D>(Shape<>{}, any_requires_grad(logits));
  T* loss = out.mutable_data();
  backend::sum_all<T>(D{}, losses, rows, loss);  // accumulated in double: a mean over many rows keeps its digits
  backend::binary_forward<cpu::mul_op, T>(D{}, loss, scale, loss, index_t(1));
  const std::int32_t ignore_index = options.ignore_index;
  record(
      "cross_entropy", out,
      [=](const auto& out, const auto& logits) {
        backend::cross_entropy_backward_reduced<T>(D{}, logits.value().data(), target_ids, logsumexp, out.grad().data(), scale,
                                                   logits.grad_accumulator().data(), rows, vocab, ignore_index);
      },
      logits);
  return out;
}

template <class T, ShapeType SL, ShapeType ST, Device D>
Var<T, Shape<>, D> cross_entropy(const Var<T, SL, D>& logits, const Tensor<std::int32_t, ST, D>& targets,
                                 CrossEntropyOptions options = {}) {
  return cross_entropy(logits, targets.view(), options);
}
// The backward reads the targets: a temporary tensor of them is kept by the tape (var.hpp).
template <class T, ShapeType SL, ShapeType ST, Device D>
Var<T, Shape<>, D> cross_entropy(const Var<T, SL, D>& logits, Tensor<std::int32_t, ST, D>&& targets, CrossEntropyOptions options = {}) {
  return cross_entropy(logits, kept_by_tape(targets), options);
}

}  // namespace ranklens
