// softmax and log_softmax over the last axis, numerically stable (max subtracted).
#pragma once
#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/softmax.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {
template <bool Log, class T, ShapeType S, Device D>
Var<T, S, D> softmax_last_axis(const char* name, const Var<T, S, D>& input) {
  static_assert(S::rank >= 1, "softmax: the tensor needs at least one axis.");
  const auto x = contiguous(input);
  const index_t cols = x.extent(S::rank - 1);
  const index_t rows = cols == 0 ? 0 : x.numel() / cols;
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  if constexpr (Log)
    backend::log_softmax_forward<T>(D{}, x.value().data(), out.mutable_data(), rows, cols);
  else
    backend::softmax_forward<T>(D{}, x.value().data(), out.mutable_data(), rows, cols);
  record(
      name, out,
      [rows, cols](const auto& out, const auto& x) {
        if constexpr (Log)
          backend::log_softmax_backward<T>(D{}, out.value().data(), out.grad().data(), x.grad_accumulator().data(), rows, cols);
        else
          backend::softmax_backward<T>(D{}, out.value().data(), out.grad().data(), x.grad_accumulator().data(), rows, cols);
      },
      x);
  return out;
}
}  // namespace detail

template <VarType V>
auto softmax(const V& x) {
  return detail::softmax_last_axis<false>("softmax", x);
}
template <VarType V>
auto log_softmax(const V& x) {
  return detail::softmax_last_axis<true>("log_softmax", x);
}

}  // namespace ranklens
