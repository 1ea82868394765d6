// Elementwise kernels, the twins of cpu/elementwise.hpp: unary and binary functions forward and
// backward (same shape, scalar, broadcast row, broadcast column), and fill, copy, scale, axpy,
// add_inplace. Same pointer-level signatures and conventions (cpu/kernel_args.hpp): forward
// kernels overwrite, backward kernels add into their gradients or, with grad_write::store, store
// over them; nullptr for a gradient not wanted; in place allowed. Pointers are device pointers;
// T is float or bfloat16 (computed in float). Calls queue work on the current stream and return.
//
// A function is a functor type of unary_functions.cuh / binary_functions.cuh or the cpu:: functor
// of the same name. The overloads without a functor argument serve callers to whom the cpu::
// type is only declared.
#pragma once
#include <type_traits>

#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cuda/binary_functions.cuh"
#include "ranklens/cuda/device_memory.hpp"
#include "ranklens/cuda/patterns.cuh"

namespace ranklens::cuda {

using ranklens::grad_write;
using cpu::optional_in;
using cpu::optional_out;

namespace detail {

using cpu::detail::require;
using cpu::detail::require_extents;
using cpu::detail::with_grad_write;

// Calls body.template operator()<WantA, WantB>() for the gradients asked for.
template <class Body>
void dispatch_wanted(bool want_a, bool want_b, Body&& body) {
  if (want_a && want_b)
    body.template operator()<true, true>();
  else if (want_a)
    body.template operator()<true, false>();
  else if (want_b)
    body.template operator()<false, true>();
}

// The right operand of a binary function at element i of a (rows, cols) array.
template <class T>
struct array_operand {
  const T* b;
  __device__ float at(index_t i) const { return to_float(b[i]); }
};
struct scalar_operand {
  float b;
  __device__ float at(index_t) const { return b; }
};
template <class T>
struct row_operand {  // b: (cols), the same for every row
  const T* b;
  index_t cols;
  __device__ float at(index_t i) const { return to_float(b[i % cols]); }
};
template <class T>
struct column_operand {  // b: (rows), one value per row
  const T* b;
  index_t cols;
  __device__ float at(index_t i) const { return to_float(b[i / cols]); }
};

template <class F, class T>
struct unary_forward_map {
  const T* x;
  T* y;
  F f;
  __device__ float load(index_t i) const { return to_float(x[i]); }
  __device__ void store(index_t i, float v) const { y[i] = from_float<T>(f.forward(v)); }
};

struct unary_inputs {
  float x, y, gy;
};
template <class F, class T, grad_write Mode>
struct unary_backward_map {
  const T* x;
  const T* y;
  const T* gy;
  T* gx;
  F f;
  __device__ unary_inputs load(index_t i) const {
    return {F::derivative_uses_x ? to_float(x[i]) : 0.0f, F::derivative_uses_y ? to_float(y[i]) : 0.0f, to_float(gy[i])};
  }
  __device__ void store(index_t i, unary_inputs v) const {
    if constexpr (requires { f.gradient(v.x, v.y, v.gy); }) {  // its own chain rule (cpu::chain_rule)
      const float g = f.gradient(v.x, v.y, v.gy);
      gx[i] = from_float<T>(Mode == grad_write::store ? g : g + to_float(gx[i]));
    } else {
      const float d = f.derivative(v.x, v.y);
      gx[i] = from_float<T>(Mode == grad_write::store ? d * v.gy : fmaf(d, v.gy, to_float(gx[i])));
    }
  }
};

struct binary_inputs {
  float a, b;
};
template <class F, class T, class Operand>
struct binary_forward_map {
  const T* a;
  Operand b;
  T* y;
  __device__ binary_inputs load(index_t i) const { return {to_float(a[i]), b.at(i)}; }
  __device__ void store(index_t i, binary_inputs v) const { y[i] = from_float<T>(F::forward(v.a, v.b)); }
};

struct binary_backward_inputs {
  float a, b, gy;
};
template <class F, class T, class Operand, bool WantA, bool WantB, grad_write WriteA, grad_write WriteB>
struct binary_backward_map {
  const T* a;
  Operand b;
  const T* gy;
  T* ga;
  T* gb;  // only for a same-shape b
  static constexpr bool needs_a = (WantA && F::grad_a_uses_a) || (WantB && F::grad_b_uses_a);
  static constexpr bool needs_b = (WantA && F::grad_a_uses_b) || (WantB && F::grad_b_uses_b);
  __device__ binary_backward_inputs load(index_t i) const {
    return {needs_a ? to_float(a[i]) : 0.0f, needs_b ? b.at(i) : 0.0f, to_float(gy[i])};
  }
  // ga before gb, each read when it is written: ga and gb may be one array (then WriteB is add).
  __device__ void store(index_t i, binary_backward_inputs v) const {
    if constexpr (WantA) {
      const float d = F::grad_a(v.a, v.b, v.gy);
      ga[i] = from_float<T>(WriteA == grad_write::store ? d : to_float(ga[i]) + d);
    }
    if constexpr (WantB) {
      const float d = F::grad_b(v.a, v.b, v.gy);
      gb[i] = from_float<T>(WriteB == grad_write::store ? d : to_float(gb[i]) + d);
    }
  }
};

// grad_b at element i, for the reductions of broadcast operands.
template <class F, class T, class Operand>
struct grad_b_at {
  const T* a;
  Operand b;
  const T* gy;
  __device__ float operator()(index_t i) const {
    return F::grad_b(F::grad_b_uses_a ? to_float(a[i]) : 0.0f, F::grad_b_uses_b ? b.at(i) : 0.0f, to_float(gy[i]));
  }
};
template <class Inner>
struct at_row_column {  // (r, j) of a (rows, cols) array → element r·cols + j
  Inner inner;
  index_t cols;
  __device__ float operator()(index_t r, index_t j) const { return inner(r * cols + j); }
};

template <class T>
struct fill_map {
  T* y;
  float value;
  __device__ int load(index_t) const { return 0; }
  __device__ void store(index_t i, int) const { y[i] = from_float<T>(value); }
};
template <class T>
struct copy_map {
  const T* x;
  T* y;
  __device__ T load(index_t i) const { return x[i]; }
  __device__ void store(index_t i, T v) const { y[i] = v; }
};
template <class T>
struct axpy_map {
  float alpha;
  const T* x;
  T* y;
  __device__ float load(index_t i) const { return to_float(x[i]); }
  __device__ void store(index_t i, float v) const { y[i] = from_float<T>(fmaf(alpha, v, to_float(y[i]))); }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Unary functions

// y = f(x).  (n); `op` carries the numbers of a functor that has some (affine_op). Without it,
// the device twin is made here: a cpu:: functor is only declared in a CUDA translation unit.
template <class Op, DeviceReal T>
void unary_forward(const T* x, T* y, index_t n, const device_function_t<Op>& f = {}) {
  using F = device_function_t<Op>;
  static_assert(device_unary_function<F>, "unary_forward: Op must be a function of unary_functions.cuh or its cpu:: twin.");
  map("cuda::unary_forward", n, detail::unary_forward_map<F, T>{x, y, f});
}
template <class Op, DeviceReal T>
  requires(!std::is_same_v<Op, device_function_t<Op>>)
void unary_forward(const T* x, T* y, index_t n, const Op& op) {
  unary_forward<Op, T>(x, y, n, device_functor(op));
}

// gx += f'(x) · gy (gx = f'(x) · gy with mode store).  (n); x or y may be nullptr when the
// function's derivative does not read it.
template <class Op, DeviceReal T>
void unary_backward(optional_in<T> x, optional_in<T> y, const T* gy, T* gx, index_t n, const device_function_t<Op>& f,
                    grad_write mode = grad_write::add) {
  using F = device_function_t<Op>;
  static_assert(device_unary_function<F>, "unary_backward: Op must be a function of unary_functions.cuh or its cpu:: twin.");
  if (n <= 0) return;
  detail::require(!F::derivative_uses_x || x != nullptr, "cuda::unary_backward", "x is needed but null");
  detail::require(!F::derivative_uses_y || y != nullptr, "cuda::unary_backward", "y is needed but null");
  detail::with_grad_write(mode, [&]<grad_write M>() { map("cuda::unary_backward", n, detail::unary_backward_map<F, T, M>{x, y, gy, gx, f}); });
}
template <class Op, DeviceReal T>
  requires(!std::is_same_v<Op, device_function_t<Op>>)
void unary_backward(optional_in<T> x, optional_in<T> y, const T* gy, T* gx, index_t n, const Op& op, grad_write mode = grad_write::add) {
  unary_backward<Op, T>(x, y, gy, gx, n, device_functor(op), mode);
}
template <class Op, DeviceReal T>
void unary_backward(optional_in<T> x, optional_in<T> y, const T* gy, T* gx, index_t n, grad_write mode = grad_write::add) {
  unary_backward<Op, T>(x, y, gy, gx, n, device_function_t<Op>{}, mode);
}

// ---------------------------------------------------------------------------------------
// Binary functions

// y = op(a, b).  a, b, y: (n)
template <class Op, DeviceReal T>
void binary_forward(const T* a, const T* b, T* y, index_t n) {
  using F = device_function_t<Op>;
  static_assert(device_binary_function<F>, "binary_forward: Op must be a function of binary_functions.cuh or its cpu:: twin.");
  map("cuda::binary_forward", n, detail::binary_forward_map<F, T, detail::array_operand<T>>{a, {b}, y});
}
template <class Op, DeviceReal T>
void binary_forward(const T* a, const T* b, T* y, index_t n, const Op&) {
  binary_forward<Op>(a, b, y, n);
}

// y = op(a, b) for a scalar b.  a, y: (n)
template <class Op, DeviceReal T>
void binary_forward_scalar(const T* a, std::type_identity_t<T> b, T* y, index_t n) {
  using F = device_function_t<Op>;
  map("cuda::binary_forward_scalar", n, detail::binary_forward_map<F, T, detail::scalar_operand>{a, {to_float(b)}, y});
}
template <class Op, DeviceReal T>
void binary_forward_scalar(const T* a, std::type_identity_t<T> b, T* y, index_t n, const Op&) {
  binary_forward_scalar<Op>(a, b, y, n);
}

// y[r, j] = op(a[r, j], b[j]).  a, y: (rows, cols); b: (cols)
template <class Op, DeviceReal T>
void binary_forward_broadcast_row(const T* a, const T* b, T* y, index_t rows, index_t cols) {
  using F = device_function_t<Op>;
  detail::require_extents("cuda::binary_forward_broadcast_row", rows, cols);
  if (cols == 0) return;
  map("cuda::binary_forward_broadcast_row", rows * cols, detail::binary_forward_map<F, T, detail::row_operand<T>>{a, {b, cols}, y});
}
template <class Op, DeviceReal T>
void binary_forward_broadcast_row(const T* a, const T* b, T* y, index_t rows, index_t cols, const Op&) {
  binary_forward_broadcast_row<Op>(a, b, y, rows, cols);
}

// y[r, j] = op(a[r, j], b[r]).  a, y: (rows, cols); b: (rows)
template <class Op, DeviceReal T>
void binary_forward_broadcast_column(const T* a, const T* b, T* y, index_t rows, index_t cols) {
  using F = device_function_t<Op>;
  detail::require_extents("cuda::binary_forward_broadcast_column", rows, cols);
  if (cols == 0) return;
  map("cuda::binary_forward_broadcast_column", rows * cols, detail::binary_forward_map<F, T, detail::column_operand<T>>{a, {b, cols}, y});
}
template <class Op, DeviceReal T>
void binary_forward_broadcast_column(const T* a, const T* b, T* y, index_t rows, index_t cols, const Op&) {
  binary_forward_broadcast_column<Op>(a, b, y, rows, cols);
}

// ga += gy · ∂op/∂a, gb += gy · ∂op/∂b.  a, b, gy, ga, gb: (n); ga or gb may be nullptr. With
// write_a (write_b) store, ga (gb) is overwritten instead; ga and gb may then be the same array
// only if write_b is add.
template <class Op, DeviceReal T>
void binary_backward(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t n,
                     grad_write write_a = grad_write::add, grad_write write_b = grad_write::add) {
  using F = device_function_t<Op>;
  detail::dispatch_wanted(ga != nullptr, gb != nullptr, [&]<bool WantA, bool WantB>() {
    detail::with_grad_write(write_a, [&]<grad_write WA>() {
      detail::with_grad_write(write_b, [&]<grad_write WB>() {
        map("cuda::binary_backward", n,
            detail::binary_backward_map<F, T, detail::array_operand<T>, WantA, WantB, WA, WB>{a, {b}, gy, ga, gb});
      });
    });
  });
}
template <class Op, DeviceReal T>
void binary_backward(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t n, const Op&,
                     grad_write write_a = grad_write::add, grad_write write_b = grad_write::add) {
  binary_backward<Op, T>(a, b, gy, ga, gb, n, write_a, write_b);
}

// ga += gy · ∂op/∂a; *gb += Σ gy · ∂op/∂b, for a scalar b.  a, gy, ga: (n); gb: one value
// (a device pointer).
template <class Op, DeviceReal T>
void binary_backward_scalar(const T* a, std::type_identity_t<T> b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t n) {
  using F = device_function_t<Op>;
  const detail::scalar_operand operand{to_float(b)};
  if (ga)
    map("cuda::binary_backward_scalar", n,
        detail::binary_backward_map<F, T, detail::scalar_operand, true, false, grad_write::add, grad_write::add>{a, operand, gy, ga, nullptr});
  if (gb) total_reduce("cuda::binary_backward_scalar", n, detail::grad_b_at<F, T, detail::scalar_operand>{a, operand, gy}, add_into<T>{gb});
}
template <class Op, DeviceReal T>
void binary_backward_scalar(const T* a, std::type_identity_t<T> b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t n,
                            const Op&) {
  binary_backward_scalar<Op, T>(a, b, gy, ga, gb, n);
}

// ga += gy · ∂op/∂a; gb[j] += Σ_r gy · ∂op/∂b.  a, gy, ga: (rows, cols); b, gb: (cols)
template <class Op, DeviceReal T>
void binary_backward_broadcast_row(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t rows,
                                   index_t cols) {
  using F = device_function_t<Op>;
  detail::require_extents("cuda::binary_backward_broadcast_row", rows, cols);
  if (cols == 0) return;
  const detail::row_operand<T> operand{b, cols};
  if (ga)
    map("cuda::binary_backward_broadcast_row", rows * cols,
        detail::binary_backward_map<F, T, detail::row_operand<T>, true, false, grad_write::add, grad_write::add>{a, operand, gy, ga, nullptr});
  if (gb)
    column_reduce("cuda::binary_backward_broadcast_row", rows, cols,
                  detail::at_row_column<detail::grad_b_at<F, T, detail::row_operand<T>>>{{a, operand, gy}, cols}, add_into<T>{gb});
}
template <class Op, DeviceReal T>
void binary_backward_broadcast_row(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t rows,
                                   index_t cols, const Op&) {
  binary_backward_broadcast_row<Op, T>(a, b, gy, ga, gb, rows, cols);
}

// ga += gy · ∂op/∂a; gb[r] += Σ_j gy · ∂op/∂b.  a, gy, ga: (rows, cols); b, gb: (rows)
template <class Op, DeviceReal T>
void binary_backward_broadcast_column(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t rows,
                                      index_t cols) {
  using F = device_function_t<Op>;
  detail::require_extents("cuda::binary_backward_broadcast_column", rows, cols);
  if (cols == 0) return;
  const detail::column_operand<T> operand{b, cols};
  if (ga)
    map("cuda::binary_backward_broadcast_column", rows * cols,
        detail::binary_backward_map<F, T, detail::column_operand<T>, true, false, grad_write::add, grad_write::add>{a, operand, gy, ga,
                                                                                                                   nullptr});
  if (gb)
    row_reduce("cuda::binary_backward_broadcast_column", rows, cols,
               detail::at_row_column<detail::grad_b_at<F, T, detail::column_operand<T>>>{{a, operand, gy}, cols}, add_into<T>{gb});
}
template <class Op, DeviceReal T>
void binary_backward_broadcast_column(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t rows,
                                      index_t cols, const Op&) {
  binary_backward_broadcast_column<Op, T>(a, b, gy, ga, gb, rows, cols);
}

// ---------------------------------------------------------------------------------------
// BLAS-1 style helpers.  All (n).

// y = value.
template <DeviceReal T>
void fill(T* y, std::type_identity_t<T> value, index_t n) {
  map("cuda::fill", n, detail::fill_map<T>{y, to_float(value)});
}

// y = x.
template <DeviceReal T>
void copy(const T* x, T* y, index_t n) {
  if (x == y || n <= 0) return;
  map("cuda::copy", n, detail::copy_map<T>{x, y});
}

// y = alpha · x.
template <DeviceReal T>
void scale(const T* x, std::type_identity_t<T> alpha, T* y, index_t n) {
  binary_forward_scalar<mul_op>(x, alpha, y, n);
}

// y += alpha · x.
template <DeviceReal T>
void axpy(std::type_identity_t<T> alpha, const T* x, T* y, index_t n) {
  map("cuda::axpy", n, detail::axpy_map<T>{to_float(alpha), x, y});
}

// y += x.
template <DeviceReal T>
void add_inplace(const T* x, T* y, index_t n) {
  binary_forward<add_op>(y, x, y, n);
}

// y = a + b for device tensors of one shape.
template <class T, ShapeType S>
void add(const Tensor<T, S, cuda_t>& a, const Tensor<T, S, cuda_t>& b, Tensor<T, S, cuda_t>& y) {
  require_same_shape("cuda::add", a.shape(), b.shape());
  require_same_shape("cuda::add", a.shape(), y.shape());
  binary_forward<add_op>(a.data(), b.data(), y.data(), a.numel());
}

}  // namespace ranklens::cuda
