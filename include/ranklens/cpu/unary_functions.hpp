// Elementwise functions y = f(x) and their derivatives, as small functor types that work on a
// scalar T and on simd<T> alike (one formula serves the vector body, the tests and any
// scalar caller). Every functor has
//
//   forward(x)        -> f(x)
//   derivative(x, y)  -> f'(x), given x and y = f(x)
//   gradient(x, y, gy) (optional) -> the gradient f'(x)·gy where that product is not it: a
//                     function that blocks the gradient (relu) gives 0 for a NaN or Inf gy;
//   derivative_uses_x, derivative_uses_y: which of the two the derivative reads, so that a
//                     backward kernel loads only those (and a caller may pass nullptr for
//                     the other);
//   cost:             rough arithmetic per element, relative to an add; the kernels use it
//                     to decide when a tensor is big enough to be worth splitting over threads.
//
// Formulas are chosen for accuracy over the whole real line, not only near zero: the
// derivatives of tanh and sigmoid come from x (sech^2 = 4a/(1+a)^2 with a = exp(-2|x|))
// rather than from 1 - y^2 and y(1 - y), which lose all relative accuracy once y rounds to 1;
// GELU's tails avoid the cancellation of 1 + tanh(u) and 1 + erf(u).
#pragma once
#include <concepts>
#include <type_traits>

#include "ranklens/cpu/affine_functions.hpp"
#include "ranklens/cpu/erf.hpp"
#include "ranklens/cpu/simd.hpp"

namespace ranklens::cpu {

// The interface above, checked where a kernel is instantiated.
template <class Op, class T>
concept unary_function_for = Real<T> && requires(const Op& op, const T& x, const simd<T>& v) {
  { op.forward(x) } -> std::convertible_to<T>;
  { op.forward(v) } -> std::convertible_to<simd<T>>;
  { op.derivative(x, x) } -> std::convertible_to<T>;
  { op.derivative(v, v) } -> std::convertible_to<simd<T>>;
  { Op::derivative_uses_x } -> std::convertible_to<bool>;
  { Op::derivative_uses_y } -> std::convertible_to<bool>;
  { Op::cost } -> std::convertible_to<int>;
};

// gy's share of x's gradient: f'(x)·gy, or the functor's own gradient(x, y, gy).
template <class Op, class V>
RANKLENS_ALWAYS_INLINE V chain_rule(const Op& op, const V& x, const V& y, const V& gy) noexcept {
  if constexpr (requires { op.gradient(x, y, gy); })
    return op.gradient(x, y, gy);
  else
    return op.derivative(x, y) * gy;
}

// sigmoid(z) and its slope sigmoid(z) * (1 - sigmoid(z)), both to full relative accuracy for
// every z, from a single exp(-|z|) (which never overflows). z_tail, when given, is a
// correction far below ulp(z) from a caller that knows z more exactly than one T holds.
template <class V>
struct sigmoid_and_slope {
  V value;
  V slope;
};
template <class V>
RANKLENS_ALWAYS_INLINE sigmoid_and_slope<V> sigmoid_parts(const V& z) noexcept {
  using T = scalar_of_t<V>;
  const V a = xsimd::exp(-xsimd::abs(z));
  const V r = V(T(1)) / (V(T(1)) + a);
  return {where(z >= V(T(0)), r, a * r), a * r * r};
}
template <class V>
RANKLENS_ALWAYS_INLINE sigmoid_and_slope<V> sigmoid_parts(const V& z, const V& z_tail) noexcept {
  using T = scalar_of_t<V>;
  const V positive = where(z >= V(T(0)), V(T(1)), V(T(-1)));
  // The tail of an infinite head is NaN (inf - inf); it does not matter there.
  const V tail = where(xsimd::isnan(z_tail), V(T(0)), z_tail);
  // exp(-|z + z_tail|) = exp(-|z|) * (1 - sign(z) z_tail) to first order.
  const V a = xsimd::exp(-xsimd::abs(z)) * (V(T(1)) - positive * tail);
  const V r = V(T(1)) / (V(T(1)) + a);
  return {where(z >= V(T(0)), r, a * r), a * r * r};
}

struct neg_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return -x;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V&, const V&) noexcept {
    return V(scalar_of_t<V>(-1));
  }
};

struct square_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return x * x;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    return x + x;
  }
};

struct abs_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return xsimd::abs(x);
  }
  // sign(x), with 0 at 0 as PyTorch does.
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    using T = scalar_of_t<V>;
    return where(x > V(T(0)), V(T(1)), where(x < V(T(0)), V(T(-1)), V(T(0))));
  }
};

struct reciprocal_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  static constexpr int cost = 4;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return V(scalar_of_t<V>(1)) / x;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V&, const V& y) noexcept {
    return -(y * y);
  }
};

struct exp_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  static constexpr int cost = 10;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return xsimd::exp(x);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V&, const V& y) noexcept {
    return y;
  }
};

struct log_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 10;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return xsimd::log(x);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    return V(scalar_of_t<V>(1)) / x;
  }
};

struct sqrt_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  static constexpr int cost = 4;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return xsimd::sqrt(x);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V&, const V& y) noexcept {
    return V(scalar_of_t<V>(0.5)) / y;
  }
};

// 1 / sqrt(x), correctly rounded twice (xsimd::rsqrt is a 12-bit estimate).
struct rsqrt_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  static constexpr int cost = 6;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return V(scalar_of_t<V>(1)) / xsimd::sqrt(x);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V&, const V& y) noexcept {
    return V(scalar_of_t<V>(-0.5)) * y * y * y;
  }
};

struct tanh_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 12;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return xsimd::tanh(x);
  }
  // 1 - tanh^2(x) = 4 sigmoid'(2x).
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    using T = scalar_of_t<V>;
    return V(T(4)) * sigmoid_parts(x + x).slope;
  }
};

struct sigmoid_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 10;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return sigmoid_parts(x).value;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    return sigmoid_parts(x).slope;
  }
};

// max(x, 0); NaN stays NaN, and the derivative at 0 is 0 (PyTorch's convention).
struct relu_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 1;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    using T = scalar_of_t<V>;
    return where(x < V(T(0)), V(T(0)), x);
  }
  // PyTorch's threshold_backward: x <= 0 blocks the gradient (a NaN x passes it).
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    using T = scalar_of_t<V>;
    return where(x <= V(T(0)), V(T(0)), V(T(1)));
  }
  // Blocked, not multiplied by 0: a NaN or Inf gy there gives 0, as in PyTorch.
  template <class V>
  RANKLENS_ALWAYS_INLINE static V gradient(const V& x, const V&, const V& gy) noexcept {
    using T = scalar_of_t<V>;
    return where(x <= V(T(0)), V(T(0)), gy);
  }
};

// x * sigmoid(x), also called swish (Qwen2 and Llama MLPs).
struct silu_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 12;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return x * sigmoid_parts(x).value;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    const auto s = sigmoid_parts(x);
    return multiply_add(x, s.slope, s.value);
  }
};

// log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)), exact for every x (PyTorch's
// softplus instead returns x itself above x = 20, a relative difference below 1e-9).
struct softplus_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 20;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    using T = scalar_of_t<V>;
    return xsimd::max(x, V(T(0))) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    return sigmoid_parts(x).value;
  }
};

// GELU with the tanh approximation (GPT-2; PyTorch approximate='tanh'):
//   0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3),
// evaluated as x * sigmoid(2u), the same function without the cancellation of 1 + tanh(u)
// for negative x. In the negative tail the result is about exp(2u), so an error in u shows
// up multiplied by |2u| (80 ulp at x = -9); 2u is therefore carried as a head and a tail.
struct gelu_tanh_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 20;
  // 2u = x (c1 + c3 x^2).
  static constexpr long double c1 = 2 * 0.797884560802865355879892119868763737L;
  static constexpr long double c3 = c1 * 0.044715L;

  // 2u = z + z_tail, and c1 + 3 c3 x^2 (= d(2u)/dx).
  template <class V>
  static RANKLENS_ALWAYS_INLINE void two_u(const V& x, V& z, V& z_tail, V& dz) noexcept {
    using T = scalar_of_t<V>;
    constexpr T c1_head = T(c1), c1_tail = T(c1 - (long double)c1_head);
    constexpr T c3_head = T(c3), c3_tail = T(c3 - (long double)c3_head);
    V x2, x2_tail;
    two_product(x, x, x2, x2_tail);
    V cubic, cubic_tail;  // c3 x^2
    two_product(V(c3_head), x2, cubic, cubic_tail);
    cubic_tail = cubic_tail + V(c3_head) * x2_tail + V(c3_tail) * x2;
    V p, p_tail;  // c1 + c3 x^2
    two_sum(V(c1_head), cubic, p, p_tail);
    p_tail = p_tail + cubic_tail + V(c1_tail);
    two_product(x, p, z, z_tail);
    z_tail = multiply_add(x, p_tail, z_tail);
    dz = multiply_add(V(T(3 * c3)), x2, V(c1_head));
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    V z, z_tail, dz;
    two_u(x, z, z_tail, dz);
    return x * sigmoid_parts(z, z_tail).value;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    V z, z_tail, dz;
    two_u(x, z, z_tail, dz);
    const auto s = sigmoid_parts(z, z_tail);
    return multiply_add(x * s.slope, dz, s.value);
  }
};

// Exact GELU, x * Phi(x) (PyTorch's default approximate='none'), with Phi accurate deep into
// the negative tail.
struct gelu_exact_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 30;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return x * normal_cdf(x);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    return multiply_add(x, normal_pdf(x), normal_cdf(x));
  }
};

struct erf_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr int cost = 30;
  template <class V>
  RANKLENS_ALWAYS_INLINE static V forward(const V& x) noexcept {
    return precise_erf(x);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE static V derivative(const V& x, const V&) noexcept {
    using T = scalar_of_t<V>;
    constexpr T two_over_sqrt_pi = T(1.12837916709551257389615890312154517L);
    return V(two_over_sqrt_pi) * exp_minus_square(x, T(1));
  }
};

}  // namespace ranklens::cpu
