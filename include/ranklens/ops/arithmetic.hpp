// Broadcasting add, sub, mul, div of two Vars, their scalar forms and the C++ operators.
// The formulas and derivatives live once, in cpu/binary_functions.hpp; one generic routine
// applies any of them, with vector kernels for the common layouts and a strided path. The
// functors' names come with backend/elementwise.hpp, which in a CUDA translation unit declares
// them without their SIMD bodies; the scalar forms' functors hold numbers and are defined in a
// SIMD-free header.
#pragma once
#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/core/broadcast_layout.hpp"
#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/cpu/affine_functions.hpp"
#include "ranklens/ops/unary.hpp"

namespace ranklens {

namespace detail {

// Whether `small` (contiguous) repeats along the leading axes of `big_dims`: its shape,
// aligned right, equals big's trailing extents once leading 1s are dropped. Then the op is a
// (rows, cols) by (cols) row broadcast that the vector kernels handle directly.
template <ShapeType S, std::size_t R>
index_t row_broadcast_cols(const S& small, const std::array<index_t, R>& big_dims) {
  std::size_t first = 0;
  while (first < S::rank && small.dims[first] == 1) ++first;
  index_t cols = 1;
  for (std::size_t i = first; i < S::rank; ++i) {
    const std::size_t k = R - S::rank + i;
    if (small.dims[i] != big_dims[k]) return -1;
    cols *= small.dims[i];
  }
  return cols;
}

}  // namespace detail

// y = Op(a, b) with broadcasting. Op is a functor of cpu/binary_functions.hpp (forward and both
// partial derivatives in one place); three layouts: same shape, a row broadcast of b, general.
template <class Op, class T, ShapeType SA, ShapeType SB, Device D>
auto binary_op(const char* name, const Var<T, SA, D>& a, const Var<T, SB, D>& b) {
  static_assert(statically_broadcastable<SA, SB>,
                "add/sub/mul/div: the two tensors have static widths that differ and cannot be broadcast together.");
  using R = broadcast_shape_t<SA, SB>;
  const R shape = broadcast_shapes(name, a.shape(), b.shape());
  auto out = new_var<T, R, D>(shape, any_requires_grad(a, b));
  T* y = out.mutable_data();
  const T* pa = a.value().data();
  const T* pb = b.value().data();
  const index_t n = out.numel();
  enum class layout { same, row_broadcast, general };
  layout kind = layout::general;
  index_t cols = 0;
  if (a.is_contiguous() && a.numel() == n && b.is_contiguous()) {
    if (b.numel() == n && SB::rank == R::rank) {
      kind = layout::same;
    } else if ((cols = detail::row_broadcast_cols(b.shape(), shape.dims)) > 0) {
      kind = layout::row_broadcast;
    }
  }
  const auto sa = broadcast_strides<R::rank>(a.shape(), a.strides(), shape.dims);
  const auto sb = broadcast_strides<R::rank>(b.shape(), b.strides(), shape.dims);
  const auto sy = contiguous_strides(shape);
  if (kind == layout::same)
    backend::binary_forward<Op, T>(D{}, pa, pb, y, n);
  else if (kind == layout::row_broadcast)
    backend::binary_forward_broadcast_row<Op, T>(D{}, pa, pb, y, n / cols, cols);
  else
    backend::binary_forward_strided<Op, T>(D{}, shape.dims, pa, sa, pb, sb, y, sy);
  record(
      name, out,
      [sa, sb, sy, kind, cols](const auto& out, const auto& a, const auto& b) {
        const T* gy = out.grad().data();
        const T* av = a.value().data();
        const T* bv = b.value().data();
        const index_t n = out.numel();
        if (kind == layout::same) {  // a fresh gradient buffer is stored into, not zeroed and added to
          const auto sink_a = a.requires_grad() ? a.grad_sink() : decltype(a.grad_sink()){};
          const auto sink_b = b.requires_grad() ? b.grad_sink() : decltype(b.grad_sink()){};
          backend::binary_backward<Op, T>(D{}, av, bv, gy, sink_a.data(), sink_b.data(), n, sink_a.mode, sink_b.mode);
          return;
        }
        T* ga = a.requires_grad() ? a.grad_accumulator().data() : nullptr;
        T* gb = b.requires_grad() ? b.grad_accumulator().data() : nullptr;
        if (kind == layout::row_broadcast) {
          backend::binary_backward_broadcast_row<Op, T>(D{}, av, bv, gy, ga, gb, n / cols, cols);
        } else {
          // Gradients follow their input's layout; broadcast axes get stride 0 and so sum up.
          const auto sga = ga ? broadcast_strides<R::rank>(a.shape(), a.grad_accumulator().strides(), out.shape().dims) : sa;
          const auto sgb = gb ? broadcast_strides<R::rank>(b.shape(), b.grad_accumulator().strides(), out.shape().dims) : sb;
          backend::binary_backward_strided<Op, T>(D{}, out.shape().dims, av, sa, bv, sb, gy, sy, ga, sga, gb, sgb);
        }
      },
      a, b);
  return out;
}

template <class T, ShapeType SA, ShapeType SB, Device D>
auto add(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<cpu::add_op>("add", a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto sub(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<cpu::sub_op>("sub", a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto mul(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<cpu::mul_op>("mul", a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto div(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<cpu::div_op>("div", a, b); }

template <class T, ShapeType SA, ShapeType SB, Device D>
auto operator+(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return add(a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto operator-(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return sub(a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto operator*(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return mul(a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto operator/(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return div(a, b); }

// ---- scalar forms: y = a·x + c covers x + c, x − c, c·x, x / c; plus c − x and c / x ----

// y = scale·x + shift, elementwise: the affine map every scalar form reduces to.
template <class T, ShapeType S, Device D>
Var<T, S, D> affine(const Var<T, S, D>& x, T scale, T shift) {
  return unary_op<cpu::affine_op<T>>("affine", x, cpu::affine_op<T>{scale, shift});
}

template <class T, ShapeType S, Device D>
Var<T, S, D> operator+(const Var<T, S, D>& x, std::type_identity_t<T> c) { return affine(x, T(1), c); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator+(std::type_identity_t<T> c, const Var<T, S, D>& x) { return affine(x, T(1), c); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator-(const Var<T, S, D>& x, std::type_identity_t<T> c) { return affine(x, T(1), -c); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator-(std::type_identity_t<T> c, const Var<T, S, D>& x) { return affine(x, T(-1), c); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator-(const Var<T, S, D>& x) { return affine(x, T(-1), T(0)); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator*(const Var<T, S, D>& x, std::type_identity_t<T> c) { return affine(x, c, T(0)); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator*(std::type_identity_t<T> c, const Var<T, S, D>& x) { return affine(x, c, T(0)); }
template <class T, ShapeType S, Device D>
Var<T, S, D> operator/(const Var<T, S, D>& x, std::type_identity_t<T> c) { return affine(x, T(1) / c, T(0)); }

// y = c / x.
template <class T, ShapeType S, Device D>
Var<T, S, D> operator/(std::type_identity_t<T> c, const Var<T, S, D>& x) {
  return unary_op<cpu::scaled_reciprocal_op<T>>("scalar_div", x, cpu::scaled_reciprocal_op<T>{c});
}

}  // namespace ranklens
