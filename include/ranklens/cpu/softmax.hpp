// Softmax along the last axis: softmax and log-softmax of (rows, cols) arrays, and the fused
// scaled, causally masked softmax of attention scores. Each forward subtracts the row maximum
// before exponentiating, so no input overflows exp; a row of all -inf (fully masked) gives NaN,
// as in PyTorch. Row sums accumulate in double across blocks of 1024 columns.
#pragma once
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

namespace detail {

// Arithmetic per element of a softmax row (one exp and a few adds), for parallel_grain.
inline constexpr int softmax_cost = 12;

template <Real T>
RANKLENS_ALWAYS_INLINE T scaled_row_max(const T* x, index_t count, T scale) {
  simd<T> best(-std::numeric_limits<T>::infinity());
  simd_for<T>(count, [&](index_t i, auto step) {
    const simd<T> v = simd<T>(scale) * load(x + i, step);
    if constexpr (std::is_same_v<decltype(step), partial_step>) {
      best = xsimd::max(
          best, xsimd::select(keep_valid<T>(simd<T>(T(1)), step) != simd<T>(T(0)), v, best));
    } else {
      best = xsimd::max(best, v);
    }
  });
  return reduce_max<T>(best);
}

// y[0..count) = softmax(scale * x[0..count)).
template <Real T>
RANKLENS_ALWAYS_INLINE void softmax_row(const T* x, T* y, index_t count, T scale) {
  const simd<T> top(scaled_row_max(x, count, scale));
  const simd<T> s(scale);
  const double total = simd_sum<T>(count, [&](index_t i, auto step) {
    const simd<T> e = xsimd::exp(multiply_add(s, load(x + i, step), -top));
    store(y + i, e, step);
    return e;
  });
  const simd<T> inverse(T(1.0 / total));
  simd_for<T>(count,
              [&](index_t i, auto step) { store(y + i, load(y + i, step) * inverse, step); });
}

// gx[0..count) += scale * y * (gy - Σ gy * y).
template <Real T>
RANKLENS_ALWAYS_INLINE void softmax_row_backward(const T* y, const T* gy, T* gx, index_t count,
                                                 T scale) {
  const simd<T> dot(T(simd_sum<T>(
      count, [&](index_t i, auto step) { return load(gy + i, step) * load(y + i, step); })));
  const simd<T> s(scale);
  simd_for<T>(count, [&](index_t i, auto step) {
    const simd<T> yv = load(y + i, step);
    store(gx + i, multiply_add(s * yv, load(gy + i, step) - dot, load(gx + i, step)), step);
  });
}

// log Σ exp(x[0..count)) as max + log Σ exp(x - max), the two parts kept apart: subtracting
// them from x one at a time keeps log-softmax exact even when max dwarfs the log-sum.
template <Real T>
struct log_sum_exp_parts {
  T max;
  T log_sum;  // log Σ exp(x - max), in [0, log count]
};
template <Real T>
RANKLENS_ALWAYS_INLINE log_sum_exp_parts<T> log_sum_exp_row(const T* x, index_t count) {
  const T top = scaled_row_max(x, count, T(1));
  const simd<T> top_v(top);
  const double total = simd_sum<T>(
      count, [&](index_t i, auto step) { return xsimd::exp(load(x + i, step) - top_v); });
  return {top, T(std::log(total))};
}

}  // namespace detail

// y = softmax(x) along each row.  x, y: (rows, cols)
template <Real T>
void softmax_forward(const T* x, T* y, index_t rows, index_t cols) {
  detail::require_extents("softmax_forward", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, detail::softmax_cost, [&](index_t r) {
    detail::softmax_row(x + r * cols, y + r * cols, cols, T(1));
  });
}

// gx += y ⊙ (gy − Σ_j gy ⊙ y).  y, gy, gx: (rows, cols)
template <Real T>
void softmax_backward(const T* y, const T* gy, T* gx, index_t rows, index_t cols) {
  detail::require_extents("softmax_backward", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, 2, [&](index_t r) {
    detail::softmax_row_backward(y + r * cols, gy + r * cols, gx + r * cols, cols, T(1));
  });
}

// y = x − log Σ_j exp(x) along each row.  x, y: (rows, cols)
template <Real T>
void log_softmax_forward(const T* x, T* y, index_t rows, index_t cols) {
  detail::require_extents("log_softmax_forward", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, detail::softmax_cost, [&](index_t r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const auto parts = detail::log_sum_exp_row(xr, cols);
    const simd<T> top(parts.max), log_sum(parts.log_sum);
    simd_for<T>(cols, [&](index_t i, auto step) {
      store(yr + i, (load(xr + i, step) - top) - log_sum, step);
    });
  });
}

// gx += gy − softmax(x) Σ_j gy, with softmax(x) = exp(y).  y, gy, gx: (rows, cols)
template <Real T>
void log_softmax_backward(const T* y, const T* gy, T* gx, index_t rows, index_t cols) {
  detail::require_extents("log_softmax_backward", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, detail::softmax_cost, [&](index_t r) {
    const T* yr = y + r * cols;
    const T* gr = gy + r * cols;
    T* gxr = gx + r * cols;
    const simd<T> total(T(sum_of(gr, cols)));
    simd_for<T>(cols, [&](index_t i, auto step) {
      const simd<T> p = xsimd::exp(load(yr + i, step));
      store(gxr + i, load(gxr + i, step) + load(gr + i, step) - p * total, step);
    });
  });
}

// Attention probabilities from raw scores: for each of `matrices` (t, t) score matrices,
// row i is softmax(scale * x[i, 0..i]) and zero for j > i (a query attends to itself and the
// past). x, y: (matrices, t, t)
template <Real T>
void causal_softmax_forward(const T* x, T* y, index_t matrices, index_t t,
                            std::type_identity_t<T> scale) {
  detail::require_extents("causal_softmax_forward", matrices, t);
  parallel_for_rows(matrices * t, t / 2 + 1, detail::softmax_cost, [&](index_t r) {
    const index_t i = r % t;
    T* yr = y + r * t;
    detail::softmax_row(x + r * t, yr, i + 1, scale);
    std::fill(yr + i + 1, yr + t, T(0));
  });
}

// gx += scale * y ⊙ (gy − Σ_j gy ⊙ y) on and below the diagonal; nothing is added above it.
// y, gy, gx: (matrices, t, t)
template <Real T>
void causal_softmax_backward(const T* y, const T* gy, T* gx, index_t matrices, index_t t,
                             std::type_identity_t<T> scale) {
  detail::require_extents("causal_softmax_backward", matrices, t);
  parallel_for_rows(matrices * t, t / 2 + 1, 2, [&](index_t r) {
    const index_t i = r % t;
    detail::softmax_row_backward(y + r * t, gy + r * t, gx + r * t, i + 1, scale);
  });
}

}  // namespace ranklens::cpu
