// Broadcasting add, sub, mul, div of two Vars, their scalar forms and the C++ operators.
// Forward and backward of each sit together in one functor; one generic routine applies any
// of them, with a contiguous fast path and a strided broadcasting path.
#pragma once
#include "ranklens/autograd/record.hpp"
#include "ranklens/core/broadcast_layout.hpp"
#include "ranklens/core/shape_algebra.hpp"

namespace ranklens {

namespace binary_fn {
// y = f(a, b); da, db are ∂y/∂a and ∂y/∂b (they may use y).
struct add {
  static constexpr const char* name = "add";
  template <class T> static T f(T a, T b) { return a + b; }
  template <class T> static T da(T, T, T) { return T(1); }
  template <class T> static T db(T, T, T) { return T(1); }
};
struct sub {
  static constexpr const char* name = "sub";
  template <class T> static T f(T a, T b) { return a - b; }
  template <class T> static T da(T, T, T) { return T(1); }
  template <class T> static T db(T, T, T) { return T(-1); }
};
struct mul {
  static constexpr const char* name = "mul";
  template <class T> static T f(T a, T b) { return a * b; }
  template <class T> static T da(T, T b, T) { return b; }
  template <class T> static T db(T a, T, T) { return a; }
};
struct div {
  static constexpr const char* name = "div";
  template <class T> static T f(T a, T b) { return a / b; }
  template <class T> static T da(T, T b, T) { return T(1) / b; }
  template <class T> static T db(T, T b, T y) { return -y / b; }
};
}  // namespace binary_fn

template <class Fn, class T, ShapeType SA, ShapeType SB, Device D>
auto binary_op(const Var<T, SA, D>& a, const Var<T, SB, D>& b) {
  static_assert(statically_broadcastable<SA, SB>,
                "add/sub/mul/div: the two tensors have static widths that differ and cannot be broadcast together.");
  static_assert(std::is_same_v<D, cpu_t>, "This op has no CUDA kernel yet.");
  using R = broadcast_shape_t<SA, SB>;
  const R shape = broadcast_shapes(Fn::name, a.shape(), b.shape());
  auto out = new_var<T, R, D>(shape, any_requires_grad(a, b));
  T* y = out.mutable_data();
  const T* pa = a.value().data();
  const T* pb = b.value().data();
  const bool same_layout = SA::rank == R::rank && SB::rank == R::rank && a.is_contiguous() && b.is_contiguous() &&
                           a.numel() == out.numel() && b.numel() == out.numel();
  const auto sa = broadcast_strides<R::rank>(a.shape(), a.strides(), shape.dims);
  const auto sb = broadcast_strides<R::rank>(b.shape(), b.strides(), shape.dims);
  const auto sy = contiguous_strides(shape);
  if (same_layout) {
    const index_t n = out.numel();
    for (index_t i = 0; i < n; ++i) y[i] = Fn::f(pa[i], pb[i]);
  } else {
    for_each_offsets<R::rank, 3>(shape.dims, {sy, sa, sb},
                                 [&](index_t oy, index_t oa, index_t ob) { y[oy] = Fn::f(pa[oa], pb[ob]); });
  }
  record(
      Fn::name, out,
      [sa, sb, sy, same_layout](const auto& out, const auto& a, const auto& b) {
        const T* gy = out.grad().data();
        const T* yv = out.value().data();
        const T* av = a.value().data();
        const T* bv = b.value().data();
        const index_t n = out.numel();
        if (a.requires_grad()) {
          auto ga = a.grad_accumulator();
          T* g = ga.data();
          // ga's strides follow a's layout; broadcast axes get stride 0 and so sum up.
          const auto sga = broadcast_strides<R::rank>(a.shape(), ga.strides(), out.shape().dims);
          if (same_layout)
            for (index_t i = 0; i < n; ++i) g[i] += gy[i] * Fn::da(av[i], bv[i], yv[i]);
          else
            for_each_offsets<R::rank, 4>(out.shape().dims, {sy, sa, sb, sga}, [&](index_t oy, index_t oa, index_t ob, index_t og) {
              g[og] += gy[oy] * Fn::da(av[oa], bv[ob], yv[oy]);
            });
        }
        if (b.requires_grad()) {
          auto gb = b.grad_accumulator();
          T* g = gb.data();
          const auto sgb = broadcast_strides<R::rank>(b.shape(), gb.strides(), out.shape().dims);
          if (same_layout)
            for (index_t i = 0; i < n; ++i) g[i] += gy[i] * Fn::db(av[i], bv[i], yv[i]);
          else
            for_each_offsets<R::rank, 4>(out.shape().dims, {sy, sa, sb, sgb}, [&](index_t oy, index_t oa, index_t ob, index_t og) {
              g[og] += gy[oy] * Fn::db(av[oa], bv[ob], yv[oy]);
            });
        }
      },
      a, b);
  return out;
}

template <class T, ShapeType SA, ShapeType SB, Device D>
auto add(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<binary_fn::add>(a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto sub(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<binary_fn::sub>(a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto mul(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<binary_fn::mul>(a, b); }
template <class T, ShapeType SA, ShapeType SB, Device D>
auto div(const Var<T, SA, D>& a, const Var<T, SB, D>& b) { return binary_op<binary_fn::div>(a, b); }

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
  static_assert(std::is_same_v<D, cpu_t>, "This op has no CUDA kernel yet.");
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  T* y = out.mutable_data();
  const T* xv = x.value().data();
  const auto sx = x.strides();
  const auto sy = contiguous_strides(x.shape());
  for_each_offsets<S::rank, 2>(x.shape().dims, {sy, sx}, [&](index_t oy, index_t ox) { y[oy] = scale * xv[ox] + shift; });
  record(
      "affine", out,
      [scale, sx, sy](const auto& out, const auto& x) {
        auto gx = x.grad_accumulator();
        T* g = gx.data();
        const T* gy = out.grad().data();
        for_each_offsets<S::rank, 2>(out.shape().dims, {sy, gx.strides()}, [&](index_t oy, index_t og) { g[og] += scale * gy[oy]; });
        (void)sx;
      },
      x);
  return out;
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
  static_assert(std::is_same_v<D, cpu_t>, "This op has no CUDA kernel yet.");
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  T* y = out.mutable_data();
  const T* xv = x.value().data();
  const auto sx = x.strides();
  const auto sy = contiguous_strides(x.shape());
  for_each_offsets<S::rank, 2>(x.shape().dims, {sy, sx}, [&](index_t oy, index_t ox) { y[oy] = c / xv[ox]; });
  record(
      "scalar_div", out,
      [sx, sy](const auto& out, const auto& x) {
        auto gx = x.grad_accumulator();
        T* g = gx.data();
        const T* gy = out.grad().data();
        const T* yv = out.value().data();
        const T* xv = x.value().data();
        for_each_offsets<S::rank, 3>(out.shape().dims, {sy, sx, gx.strides()},
                                     [&](index_t oy, index_t ox, index_t og) { g[og] -= gy[oy] * yv[oy] / xv[ox]; });
      },
      x);
  return out;
}

}  // namespace ranklens
