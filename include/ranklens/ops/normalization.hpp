// Layer norm (Ba et al. 2016) and RMS norm (Zhang & Sennrich 2019, as HF Qwen2RMSNorm) over the
// last axis, with learned per-feature weight (and bias for layer norm). The per-row statistics
// (mean, 1/std) are saved in the arena for the backward (llm.c's layernorm_backward).
#pragma once
#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/norm.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {
template <ShapeType S, ShapeType W>
void check_norm_weight(const char* op, const S& x, const W& w) {
  static_assert(W::rank == 1, "layer_norm/rms_norm: the weight must be a vector over the last axis.");
  if (w.dims[0] != x.dims[S::rank - 1])
    throw shape_error(std::string(op) + ": weight " + to_string(w) + " does not match the last axis of " + to_string(x));
}
template <ShapeType S, ShapeType W>
inline constexpr bool norm_widths_match =
    W::static_extents[0] == dyn || S::static_extents[S::rank - 1] == dyn || W::static_extents[0] == S::static_extents[S::rank - 1];
}  // namespace detail

template <class T, ShapeType S, ShapeType W, ShapeType B, Device D>
Var<T, S, D> layer_norm(const Var<T, S, D>& input, const Var<T, W, D>& weight, const Var<T, B, D>& bias, double eps = 1e-5) {
  static_assert(S::rank >= 1, "layer_norm: the tensor needs at least one axis.");
  static_assert(detail::norm_widths_match<S, W> && detail::norm_widths_match<S, B>,
                "layer_norm: weight and bias must have the width of the input's last axis.");
  detail::check_norm_weight("layer_norm", input.shape(), weight.shape());
  detail::check_norm_weight("layer_norm", input.shape(), bias.shape());
  const auto x = contiguous(input);
  const auto w = contiguous(weight);
  const auto b = contiguous(bias);
  const index_t cols = x.extent(S::rank - 1);
  const index_t rows = cols == 0 ? 0 : x.numel() / cols;
  auto& arena = Tape::current().arena<D>();
  T* mean = arena.template allocate_array<T>(std::size_t(rows));
  T* rstd = arena.template allocate_array<T>(std::size_t(rows));
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x, w, b));
  backend::layernorm_forward<T>(D{}, x.value().data(), w.value().data(), b.value().data(), out.mutable_data(), mean, rstd, rows, cols,
                                T(eps));
  record(
      "layer_norm", out,
      [=](const auto& out, const auto& x, const auto& w, const auto& b) {
        const auto gx = x.requires_grad() ? x.grad_sink() : decltype(x.grad_sink()){};
        backend::layernorm_backward<T>(D{}, x.value().data(), w.value().data(), mean, rstd, out.grad().data(), gx.data(),
                                       w.requires_grad() ? w.grad_accumulator().data() : nullptr,
                                       b.requires_grad() ? b.grad_accumulator().data() : nullptr, rows, cols, gx.mode);
      },
      x, w, b);
  return out;
}

template <class T, ShapeType S, ShapeType W, Device D>
Var<T, S, D> rms_norm(const Var<T, S, D>& input, const Var<T, W, D>& weight, double eps = 1e-6) {
  static_assert(S::rank >= 1, "rms_norm: the tensor needs at least one axis.");
  static_assert(detail::norm_widths_match<S, W>, "rms_norm: the weight must have the width of the input's last axis.");
  detail::check_norm_weight("rms_norm", input.shape(), weight.shape());
  const auto x = contiguous(input);
  const auto w = contiguous(weight);
  const index_t cols = x.extent(S::rank - 1);
  const index_t rows = cols == 0 ? 0 : x.numel() / cols;
  T* rstd = Tape::current().arena<D>().template allocate_array<T>(std::size_t(rows));
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x, w));
  backend::rmsnorm_forward<T>(D{}, x.value().data(), w.value().data(), out.mutable_data(), rstd, rows, cols, T(eps));
  record(
      "rms_norm", out,
      [=](const auto& out, const auto& x, const auto& w) {
        const auto gx = x.requires_grad() ? x.grad_sink() : decltype(x.grad_sink()){};
        backend::rmsnorm_backward<T>(D{}, x.value().data(), w.value().data(), rstd, out.grad().data(), gx.data(),
                                     w.requires_grad() ? w.grad_accumulator().data() : nullptr, rows, cols, gx.mode);
      },
      x, w);
  return out;
}

}  // namespace ranklens
