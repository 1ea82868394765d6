// The elementwise functions with numbers of their own (the scalar forms of the arithmetic
// operators), apart from cpu/unary_functions.hpp because they need no SIMD library: written
// over any V with the arithmetic operators, they serve the CPU's simd<T> and scalars, and a
// CUDA translation unit sees their full definitions (ops/ builds them with their numbers;
// cuda/unary_functions.cuh maps each to its device twin). The interface is unary_functions.hpp's.
#pragma once
#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

namespace ranklens::cpu {

// y = scale·x + shift, with the two numbers held by the functor: the scalar forms of the
// arithmetic operators (x + c, c·x, x / c, −x, ...) are all this one map.
template <Real T>
struct affine_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = false;
  static constexpr int cost = 1;
  T scale, shift;
  template <class V>
  RANKLENS_ALWAYS_INLINE V forward(const V& x) const noexcept {
    return V(scale) * x + V(shift);
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE V derivative(const V&, const V&) const noexcept {
    return V(scale);
  }
};

// y = c / x, with c held by the functor; dy/dx = −c / x², formed as −y / x from the output.
template <Real T>
struct scaled_reciprocal_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = true;
  static constexpr int cost = 4;
  T numerator;
  template <class V>
  RANKLENS_ALWAYS_INLINE V forward(const V& x) const noexcept {
    return V(numerator) / x;
  }
  template <class V>
  RANKLENS_ALWAYS_INLINE V derivative(const V& x, const V& y) const noexcept {
    return -(y / x);
  }
};

}  // namespace ranklens::cpu
