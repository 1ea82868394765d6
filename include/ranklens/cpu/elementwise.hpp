// Elementwise kernels over contiguous arrays: unary and binary functions (forward and
// backward), and the small BLAS-1 style helpers (fill, copy, scale, axpy, add_inplace).
//
// Conventions (forward overwrites, backward accumulates, nullptr for an unwanted gradient,
// in place allowed) are those of kernel_args.hpp.
//
// Shapes: `n` elements, or (rows, cols) row-major for the broadcasting variants, where
//   broadcast_row:    b has `cols` elements, the same row for every row of a   (bias add);
//   broadcast_column: b has `rows` elements, one value per row of a            (row scaling).
#pragma once
#include <cstring>
#include <string>

#include "ranklens/core/error.hpp"
#include "ranklens/cpu/binary_functions.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/unary_functions.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

namespace detail {

// The right operand of a binary function: an array read in step with a, or one value.
template <Real T>
struct array_operand {
  const T* data;
  template <class Step>
  RANKLENS_ALWAYS_INLINE simd<T> at(index_t i, Step step) const noexcept {
    return load(data + i, step);
  }
};
template <Real T>
struct scalar_operand {
  T value;
  template <class Step>
  RANKLENS_ALWAYS_INLINE simd<T> at(index_t, Step) const noexcept {
    return simd<T>(value);
  }
};

// y[0..n) = op(a, b) for one contiguous span.
template <class Op, Real T, class Operand>
RANKLENS_ALWAYS_INLINE void binary_forward_span(const Op& op, const T* a, const Operand& b, T* y,
                                                index_t n) {
  simd_for<T>(n, [&](index_t i, auto step) {
    store(y + i, op.forward(load(a + i, step), b.at(i, step)), step);
  });
}

// ga[0..n) += grad_a over one span (or ga = grad_a, with WriteA store); returns Σ grad_b when
// SumB, else adds grad_b into gb (or stores it, with WriteB store).
template <bool WantA, bool WantB, bool SumB, class Op, Real T, class Operand, grad_write WriteA = grad_write::add,
          grad_write WriteB = grad_write::add>
RANKLENS_ALWAYS_INLINE double binary_backward_span(const Op& op, const T* a, const Operand& b,
                                                   const T* gy, optional_out<T> ga,
                                                   optional_out<T> gb, index_t n) {
  constexpr bool needs_a = (WantA && Op::grad_a_uses_a) || (WantB && Op::grad_b_uses_a);
  constexpr bool needs_b = (WantA && Op::grad_a_uses_b) || (WantB && Op::grad_b_uses_b);
  auto inputs = [&](index_t i, auto step) {
    struct {
      simd<T> a, b, gy;
    } v{needs_a ? load(a + i, step) : simd<T>(T(0)), needs_b ? b.at(i, step) : simd<T>(T(0)),
        load(gy + i, step)};
    return v;
  };
  if constexpr (WantB && SumB) {
    // One pass: ga is written while the sum of grad_b is taken (simd_sum visits each
    // position exactly once).
    return simd_sum<T>(n, [&](index_t i, auto step) {
      const auto v = inputs(i, step);
      if constexpr (WantA) store(ga + i, load(ga + i, step) + op.grad_a(v.a, v.b, v.gy), step);
      return op.grad_b(v.a, v.b, v.gy);
    });
  } else {
    simd_for<T>(n, [&](index_t i, auto step) {
      const auto v = inputs(i, step);
      if constexpr (WantA) {
        const simd<T> d = op.grad_a(v.a, v.b, v.gy);
        store(ga + i, WriteA == grad_write::store ? d : load(ga + i, step) + d, step);
      }
      if constexpr (WantB) {
        const simd<T> d = op.grad_b(v.a, v.b, v.gy);
        store(gb + i, WriteB == grad_write::store ? d : load(gb + i, step) + d, step);
      }
    });
    return 0;
  }
}

// Calls body.template operator()<WantA, WantB>() for the gradients that were asked for.
template <class Body>
void dispatch_wanted(bool want_a, bool want_b, Body&& body) {
  if (want_a && want_b) {
    body.template operator()<true, true>();
  } else if (want_a) {
    body.template operator()<true, false>();
  } else if (want_b) {
    body.template operator()<false, true>();
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Unary functions (see unary_functions.hpp for the functors)

// y = f(x).  (n)
template <class Op, Real T>
requires unary_function_for<Op, T>
void unary_forward(const T* x, T* y, index_t n, const Op& op = {}) {
  parallel_for_elements(n, parallel_grain(Op::cost), [&](index_t begin, index_t end) {
    simd_for<T>(end - begin, [&](index_t i, auto step) {
      store(y + begin + i, op.forward(load(x + begin + i, step)), step);
    });
  });
}

// gx += f'(x) * gy (gx = f'(x) * gy with mode store; chain_rule: where it is not a product).
// (n) x or y may be nullptr when the functor's derivative does not read it.
template <class Op, Real T>
requires unary_function_for<Op, T>
void unary_backward(optional_in<T> x, optional_in<T> y, const T* gy, T* gx, index_t n,
                    const Op& op = {}, grad_write mode = grad_write::add) {
  if (n <= 0) return;
  detail::require(!Op::derivative_uses_x || x != nullptr, "unary_backward", "x is needed but null");
  detail::require(!Op::derivative_uses_y || y != nullptr, "unary_backward", "y is needed but null");
  detail::with_grad_write(mode, [&]<grad_write M>() {
    parallel_for_elements(n, parallel_grain(Op::cost), [&](index_t begin, index_t end) {
      simd_for<T>(end - begin, [&](index_t i, auto step) {
        const index_t k = begin + i;
        const simd<T> xv = Op::derivative_uses_x ? load(x + k, step) : simd<T>(T(0));
        const simd<T> yv = Op::derivative_uses_y ? load(y + k, step) : simd<T>(T(0));
        if constexpr (M == grad_write::store)
          store(gx + k, chain_rule(op, xv, yv, load(gy + k, step)), step);
        else if constexpr (requires { op.gradient(xv, yv, xv); })
          store(gx + k, chain_rule(op, xv, yv, load(gy + k, step)) + load(gx + k, step), step);
        else
          store(gx + k, multiply_add(op.derivative(xv, yv), load(gy + k, step), load(gx + k, step)), step);
      });
    });
  });
}
template <class Op, Real T>
requires unary_function_for<Op, T>
void unary_backward(optional_in<T> x, optional_in<T> y, const T* gy, T* gx, index_t n, grad_write mode) {
  unary_backward<Op, T>(x, y, gy, gx, n, Op{}, mode);
}

// ---------------------------------------------------------------------------------------
// Binary functions (see binary_functions.hpp for the functors)

// y = op(a, b).  a, b, y: (n)
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_forward(const T* a, const T* b, T* y, index_t n, const Op& op = {}) {
  parallel_for_elements(n, parallel_grain(Op::cost), [&](index_t begin, index_t end) {
    detail::binary_forward_span(op, a + begin, detail::array_operand<T>{b + begin}, y + begin,
                                end - begin);
  });
}

// y = op(a, b) for a scalar b.  a, y: (n)
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_forward_scalar(const T* a, std::type_identity_t<T> b, T* y, index_t n,
                           const Op& op = {}) {
  parallel_for_elements(n, parallel_grain(Op::cost), [&](index_t begin, index_t end) {
    detail::binary_forward_span(op, a + begin, detail::scalar_operand<T>{b}, y + begin,
                                end - begin);
  });
}

// y[r, j] = op(a[r, j], b[j]).  a, y: (rows, cols); b: (cols)
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_forward_broadcast_row(const T* a, const T* b, T* y, index_t rows, index_t cols,
                                  const Op& op = {}) {
  detail::require_extents("binary_forward_broadcast_row", rows, cols);
  if (cols == 0) return;
  const index_t grain_rows = std::max<index_t>(parallel_grain(Op::cost) / cols, 1);
  parallel_for(rows, grain_rows, [&](index_t first, index_t last) {
    for (index_t r = first; r < last; ++r)
      detail::binary_forward_span(op, a + r * cols, detail::array_operand<T>{b}, y + r * cols,
                                  cols);
  });
}

// y[r, j] = op(a[r, j], b[r]).  a, y: (rows, cols); b: (rows)
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_forward_broadcast_column(const T* a, const T* b, T* y, index_t rows, index_t cols,
                                     const Op& op = {}) {
  detail::require_extents("binary_forward_broadcast_column", rows, cols);
  if (cols == 0) return;
  const index_t grain_rows = std::max<index_t>(parallel_grain(Op::cost) / cols, 1);
  parallel_for(rows, grain_rows, [&](index_t first, index_t last) {
    for (index_t r = first; r < last; ++r)
      detail::binary_forward_span(op, a + r * cols, detail::scalar_operand<T>{b[r]}, y + r * cols,
                                  cols);
  });
}

// ga += gy * d op/da, gb += gy * d op/db.  a, b, gy, ga, gb: (n); ga or gb may be nullptr.
// With write_a (write_b) store, ga (gb) is overwritten instead; ga and gb may then be the same
// array only if write_b is add (a + a: the second adds onto what the first stored).
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_backward(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb,
                     index_t n, const Op& op = {}, grad_write write_a = grad_write::add,
                     grad_write write_b = grad_write::add) {
  detail::dispatch_wanted(ga != nullptr, gb != nullptr, [&]<bool WantA, bool WantB>() {
    detail::with_grad_write(write_a, [&]<grad_write WA>() {
      detail::with_grad_write(write_b, [&]<grad_write WB>() {
        parallel_for_elements(n, parallel_grain(Op::cost), [&](index_t begin, index_t end) {
          detail::binary_backward_span<WantA, WantB, false, Op, T, detail::array_operand<T>, WA, WB>(
              op, a + begin, detail::array_operand<T>{b + begin}, gy + begin,
              WantA ? ga + begin : nullptr, WantB ? gb + begin : nullptr, end - begin);
        });
      });
    });
  });
}
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_backward(const T* a, const T* b, const T* gy, optional_out<T> ga, optional_out<T> gb, index_t n, grad_write write_a,
                     grad_write write_b = grad_write::add) {
  binary_backward<Op, T>(a, b, gy, ga, gb, n, Op{}, write_a, write_b);
}

// ga += gy * d op/da; *gb += Σ gy * d op/db, for a scalar b.  a, gy, ga: (n); gb: one value.
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_backward_scalar(const T* a, std::type_identity_t<T> b, const T* gy, optional_out<T> ga,
                            optional_out<T> gb, index_t n, const Op& op = {}) {
  detail::dispatch_wanted(ga != nullptr, gb != nullptr, [&]<bool WantA, bool WantB>() {
    const double sum_b =
        blocked_sum(n, sum_block * 16, parallel_grain(Op::cost), [&](index_t begin, index_t end) {
          return detail::binary_backward_span<WantA, WantB, true>(
              op, a + begin, detail::scalar_operand<T>{b}, gy + begin, WantA ? ga + begin : nullptr,
              nullptr, end - begin);
        });
    if constexpr (WantB) *gb += T(sum_b);
  });
}

// ga += gy * d op/da; gb[j] += Σ_r gy * d op/db.  a, gy, ga: (rows, cols); b, gb: (cols)
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_backward_broadcast_row(const T* a, const T* b, const T* gy, optional_out<T> ga,
                                   optional_out<T> gb, index_t rows, index_t cols,
                                   const Op& op = {}) {
  detail::require_extents("binary_backward_broadcast_row", rows, cols);
  if (cols == 0) return;
  const index_t grain_rows = std::max<index_t>(parallel_grain(Op::cost) / cols, 1);
  detail::dispatch_wanted(ga != nullptr, gb != nullptr, [&]<bool WantA, bool WantB>() {
    if constexpr (WantB) {
      // Each block of rows adds its grad_b into its own partial row, so the span kernel's
      // "add into gb" form does the column sum.
      sum_over_row_blocks<T>(
          rows, cols, grain_rows,
          [&](index_t first, index_t last, T* partial) {
            for (index_t r = first; r < last; ++r)
              detail::binary_backward_span<WantA, true, false>(
                  op, a + r * cols, detail::array_operand<T>{b}, gy + r * cols,
                  WantA ? ga + r * cols : nullptr, partial, cols);
          },
          [&](index_t j, double total) { gb[j] += T(total); });
    } else {
      parallel_for(rows, grain_rows, [&](index_t first, index_t last) {
        for (index_t r = first; r < last; ++r)
          detail::binary_backward_span<true, false, false>(
              op, a + r * cols, detail::array_operand<T>{b}, gy + r * cols, ga + r * cols, nullptr,
              cols);
      });
    }
  });
}

// ga += gy * d op/da; gb[r] += Σ_j gy * d op/db.  a, gy, ga: (rows, cols); b, gb: (rows)
template <class Op, Real T>
requires binary_function_for<Op, T>
void binary_backward_broadcast_column(const T* a, const T* b, const T* gy, optional_out<T> ga,
                                      optional_out<T> gb, index_t rows, index_t cols,
                                      const Op& op = {}) {
  detail::require_extents("binary_backward_broadcast_column", rows, cols);
  if (cols == 0) return;
  const index_t grain_rows = std::max<index_t>(parallel_grain(Op::cost) / cols, 1);
  detail::dispatch_wanted(ga != nullptr, gb != nullptr, [&]<bool WantA, bool WantB>() {
    parallel_for(rows, grain_rows, [&](index_t first, index_t last) {
      for (index_t r = first; r < last; ++r) {
        const double sum_b = detail::binary_backward_span<WantA, WantB, true>(
            op, a + r * cols, detail::scalar_operand<T>{b[r]}, gy + r * cols,
            WantA ? ga + r * cols : nullptr, nullptr, cols);
        if constexpr (WantB) gb[r] += T(sum_b);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// BLAS-1 style helpers.  All (n).

// y = value.
template <Real T>
void fill(T* y, std::type_identity_t<T> value, index_t n) {
  parallel_for_elements(n, parallel_grain(1), [&](index_t begin, index_t end) {
    const simd<T> v(value);
    simd_for<T>(end - begin, [&](index_t i, auto step) { store(y + begin + i, v, step); });
  });
}

// y = x.
template <Real T>
void copy(const T* x, T* y, index_t n) {
  if (x == y) return;
  parallel_for_elements(n, parallel_grain(1), [&](index_t begin, index_t end) {
    std::memcpy(y + begin, x + begin, std::size_t(end - begin) * sizeof(T));
  });
}

// y = alpha * x.
template <Real T>
void scale(const T* x, std::type_identity_t<T> alpha, T* y, index_t n) {
  binary_forward_scalar<mul_op>(x, alpha, y, n);
}

// y += alpha * x.
template <Real T>
void axpy(std::type_identity_t<T> alpha, const T* x, T* y, index_t n) {
  parallel_for_elements(n, parallel_grain(1), [&](index_t begin, index_t end) {
    const simd<T> a(alpha);
    simd_for<T>(end - begin, [&](index_t i, auto step) {
      const index_t k = begin + i;
      store(y + k, multiply_add(a, load(x + k, step), load(y + k, step)), step);
    });
  });
}

// y += x.
template <Real T>
void add_inplace(const T* x, T* y, index_t n) {
  binary_forward<add_op>(y, x, y, n);
}

}  // namespace ranklens::cpu
