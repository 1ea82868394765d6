// Elementwise functions of one Var: exp, log, sqrt, rsqrt, tanh, sigmoid, relu, silu, gelu
// (tanh approximation and exact erf form), square, abs. The formulas and their derivatives
// live once, in cpu/unary_functions.hpp; this file makes each a differentiable op. The
// functors' names come with backend/elementwise.hpp (a CUDA translation unit sees them declared
// there, with their device twins, and never the SIMD bodies).
#pragma once
#include <type_traits>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {
// What unary_op holds for a functor named by type only.
struct no_functor {};
}  // namespace detail

// y = op(x) elementwise; the backward accumulates op'(x)·gy (stores it into a fresh buffer).
// A functor with numbers of its own (affine_op) is passed as `op`; the others are named by type
// only (no object: in a CUDA translation unit the cpu:: functor is only declared).
template <class Op, class T, ShapeType S, Device D, class Functor = detail::no_functor>
Var<T, S, D> unary_op(const char* name, const Var<T, S, D>& input, const Functor& op = {}) {
  constexpr bool by_type = std::is_same_v<Functor, detail::no_functor>;
  const auto x = contiguous(input);
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  if constexpr (by_type)
    backend::unary_forward<Op>(D{}, x.value().data(), out.mutable_data(), x.numel());
  else
    backend::unary_forward<Op>(D{}, x.value().data(), out.mutable_data(), x.numel(), op);
  record(
      name, out,
      [op](const auto& out, const auto& x) {
        const auto gx = x.grad_sink();
        const T* xv = x.value().data();
        const T* yv = out.value().data();
        if constexpr (by_type)
          backend::unary_backward<Op>(D{}, xv, yv, out.grad().data(), gx.data(), x.numel(), gx.mode);
        else
          backend::unary_backward<Op>(D{}, xv, yv, out.grad().data(), gx.data(), x.numel(), op, gx.mode);
      },
      x);
  return out;
}

template <VarType V> auto exp(const V& x) { return unary_op<cpu::exp_op>("exp", x); }
template <VarType V> auto log(const V& x) { return unary_op<cpu::log_op>("log", x); }
template <VarType V> auto sqrt(const V& x) { return unary_op<cpu::sqrt_op>("sqrt", x); }
template <VarType V> auto rsqrt(const V& x) { return unary_op<cpu::rsqrt_op>("rsqrt", x); }
template <VarType V> auto tanh(const V& x) { return unary_op<cpu::tanh_op>("tanh", x); }
template <VarType V> auto sigmoid(const V& x) { return unary_op<cpu::sigmoid_op>("sigmoid", x); }
template <VarType V> auto relu(const V& x) { return unary_op<cpu::relu_op>("relu", x); }
template <VarType V> auto silu(const V& x) { return unary_op<cpu::silu_op>("silu", x); }
template <VarType V> auto softplus(const V& x) { return unary_op<cpu::softplus_op>("softplus", x); }
template <VarType V> auto square(const V& x) { return unary_op<cpu::square_op>("square", x); }
template <VarType V> auto abs(const V& x) { return unary_op<cpu::abs_op>("abs", x); }

// GELU as torch.nn.functional.gelu: the exact erf form by default, or approximate="tanh".
enum class gelu_approximation { none, tanh };
template <VarType V>
auto gelu(const V& x, gelu_approximation approximation = gelu_approximation::none) {
  return approximation == gelu_approximation::tanh ? unary_op<cpu::gelu_tanh_op>("gelu_tanh", x)
                                                   : unary_op<cpu::gelu_exact_op>("gelu", x);
}

}  // namespace ranklens
