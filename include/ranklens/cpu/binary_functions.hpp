// Elementwise functions y = f(a, b) and their partial derivatives, as functor types that work
// on scalars and on simd<T> alike. Every functor has
//
//   forward(a, b)          -> f(a, b)
//   grad_a(a, b, gy)       -> gy * df/da
//   grad_b(a, b, gy)       -> gy * df/db
//   grad_a_uses_a/_b, grad_b_uses_a/_b: which inputs each gradient reads, so that a backward
//                          kernel loads only those;
//   cost                   (as in unary_functions.hpp).
//
// rsub and rdiv swap the operands (b - a, b / a), which covers a scalar or a broadcast row on
// the left: s - x is binary_forward_scalar<rsub_op>(x, s, ...).
#pragma once
#include <concepts>

#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/unary_functions.hpp"

namespace ranklens::cpu {

template <class Op, class T>
concept binary_function_for = Real<T> && requires(const Op& op, const T& x, const simd<T>& v) {
  { op.forward(x, x) } -> std::convertible_to<T>;
  { op.forward(v, v) } -> std::convertible_to<simd<T>>;
  { op.grad_a(x, x, x) } -> std::convertible_to<T>;
  { op.grad_a(v, v, v) } -> std::convertible_to<simd<T>>;
  { op.grad_b(x, x, x) } -> std::convertible_to<T>;
  { op.grad_b(v, v, v) } -> std::convertible_to<simd<T>>;
  { Op::grad_a_uses_a } -> std::convertible_to<bool>;
  { Op::grad_a_uses_b } -> std::convertible_to<bool>;
  { Op::grad_b_uses_a } -> std::convertible_to<bool>;
  { Op::grad_b_uses_b } -> std::convertible_to<bool>;
  { Op::cost } -> std::convertible_to<int>;
};

struct add_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = false;
  static constexpr bool grad_b_uses_a = false, grad_b_uses_b = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return a + b;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V&, const V&, const V& gy) noexcept {
    return gy;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V&, const V&, const V& gy) noexcept {
    return gy;
  }
};

struct sub_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = false;
  static constexpr bool grad_b_uses_a = false, grad_b_uses_b = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return a - b;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V&, const V&, const V& gy) noexcept {
    return gy;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V&, const V&, const V& gy) noexcept {
    return -gy;
  }
};

// b - a.
struct rsub_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = false;
  static constexpr bool grad_b_uses_a = false, grad_b_uses_b = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return b - a;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V&, const V&, const V& gy) noexcept {
    return -gy;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V&, const V&, const V& gy) noexcept {
    return gy;
  }
};

struct mul_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = true;
  static constexpr bool grad_b_uses_a = true, grad_b_uses_b = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return a * b;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V&, const V& b, const V& gy) noexcept {
    return gy * b;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V& a, const V&, const V& gy) noexcept {
    return gy * a;
  }
};

// The gate of Qwen2's MLP, silu(a) · b (a = gate_proj(x), b = up_proj(x)), as one function:
// fused, the forward reads the hidden width twice and writes it once, and the backward reads
// three and writes two, where silu then mul read and write five and eight times.
struct swiglu_op {
  static constexpr bool grad_a_uses_a = true, grad_a_uses_b = true;
  static constexpr bool grad_b_uses_a = true, grad_b_uses_b = false;
  static constexpr int cost = silu_op::cost + 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return silu_op::forward(a) * b;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V& a, const V& b, const V& gy) noexcept {
    return gy * b * silu_op::derivative(a, a);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V& a, const V&, const V& gy) noexcept {
    return gy * silu_op::forward(a);
  }
};

struct div_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = true;
  static constexpr bool grad_b_uses_a = true, grad_b_uses_b = true;
  static constexpr int cost = 4;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return a / b;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V&, const V& b, const V& gy) noexcept {
    return gy / b;
  }
  // -gy a / b^2, as (gy / b) (a / b) so that b^2 cannot overflow.
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V& a, const V& b, const V& gy) noexcept {
    return -((gy / b) * (a / b));
  }
};

// b / a.
struct rdiv_op {
  static constexpr bool grad_a_uses_a = true, grad_a_uses_b = true;
  static constexpr bool grad_b_uses_a = true, grad_b_uses_b = false;
  static constexpr int cost = 4;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& a, const V& b) noexcept {
    return b / a;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_a(const V& a, const V& b, const V& gy) noexcept {
    return div_op::grad_b(b, a, gy);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V grad_b(const V& a, const V&, const V& gy) noexcept {
    return gy / a;
  }
};

}  // namespace ranklens::cpu
