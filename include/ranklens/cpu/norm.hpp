// Normalisation over the last axis of x: (rows, cols), forward and backward side by side.
//
// Layer norm (Ba et al. 2016; PyTorch nn.LayerNorm, biased variance):
//   y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps)
// RMS norm (Zhang & Sennrich 2019; as HF Qwen2RMSNorm / LlamaRMSNorm):
//   y = (x * rstd) * weight,                 rstd = 1 / sqrt(mean(x^2) + eps)
//
// The forwards save mean and rstd per row (either may be nullptr when no backward follows);
// the backwards recompute the normalised row from them. weight and bias may be nullptr (1 and
// 0). Weight and bias gradients are column sums over rows, taken deterministically by row
// blocks (parallel_sum.hpp).
#pragma once
#include <cmath>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

namespace detail {

inline constexpr int norm_cost = 4;

template <Real T>
RANKLENS_ALWAYS_INLINE simd<T> weight_at(const T* weight, index_t i, auto step) {
  return weight != nullptr ? load(weight + i, step) : simd<T>(T(1));
}

// Runs row_backward(r, dweight_partial, dbias_partial) for every row, where the partials
// are this row block's accumulators (or nullptr when those gradients are not wanted), and
// adds the column totals into gweight and gbias.
template <Real T, class RowBackward>
void norm_backward_rows(index_t rows, index_t cols, T* gweight, T* gbias,
                        RowBackward&& row_backward) {
  const index_t grain_rows = std::max<index_t>(parallel_grain(norm_cost) / cols, 1);
  if (gweight == nullptr && gbias == nullptr) {
    parallel_for(rows, grain_rows, [&](index_t first, index_t last) {
      for (index_t r = first; r < last; ++r)
        row_backward(r, static_cast<T*>(nullptr), static_cast<T*>(nullptr));
    });
    return;
  }
  // Partial layout per block: [dweight (cols, if wanted) | dbias (cols, if wanted)].
  const index_t weight_cols = gweight != nullptr ? cols : 0;
  const index_t width = weight_cols + (gbias != nullptr ? cols : 0);
  sum_over_row_blocks<T>(
      rows, width, grain_rows,
      [&](index_t first, index_t last, T* partial) {
        T* dweight = gweight != nullptr ? partial : nullptr;
        T* dbias = gbias != nullptr ? partial + weight_cols : nullptr;
        for (index_t r = first; r < last; ++r) row_backward(r, dweight, dbias);
      },
      [&](index_t j, double total) {
        if (j < weight_cols) {
          gweight[j] += T(total);
        } else {
          gbias[j - weight_cols] += T(total);
        }
      });
}

}  // namespace detail

// Layer norm forward.  x, y: (rows, cols); weight, bias: (cols) or nullptr;
// mean, rstd: (rows) or nullptr.
template <Real T>
void layernorm_forward(const T* x, optional_in<T> weight, optional_in<T> bias, T* y,
                       optional_out<T> mean, optional_out<T> rstd, index_t rows, index_t cols,
                       std::type_identity_t<T> eps) {
  detail::require_extents("layernorm_forward", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, detail::norm_cost, [&](index_t r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T mu = T(sum_of(xr, cols) / double(cols));
    const simd<T> mu_v(mu);
    // Two passes (mean, then squared deviations): no cancellation for rows far from zero.
    const double squares = simd_sum<T>(cols, [&](index_t i, auto step) {
      const simd<T> d = load(xr + i, step) - mu_v;
      return d * d;
    });
    const T inv = T(1) / std::sqrt(T(squares / double(cols)) + eps);
    const simd<T> inv_v(inv);
    simd_for<T>(cols, [&](index_t i, auto step) {
      const simd<T> normed = (load(xr + i, step) - mu_v) * inv_v;
      const simd<T> scaled = normed * detail::weight_at(weight, i, step);
      store(yr + i, bias != nullptr ? scaled + load(bias + i, step) : scaled, step);
    });
    if (mean != nullptr) mean[r] = mu;
    if (rstd != nullptr) rstd[r] = inv;
  });
}

// Layer norm backward (the formula of llm.c's layernorm_backward):
//   n = (x - mean) * rstd, g = weight * gy,
//   gx += rstd * (g - mean(g) - n * mean(g * n)),  gweight += Σ_rows gy * n,  gbias += Σ_rows gy.
// x, gy, gx: (rows, cols); weight: (cols) or nullptr; mean, rstd: (rows);
// gx, gweight, gbias: nullptr when not wanted; write_x store overwrites gx instead of adding.
template <Real T>
void layernorm_backward(const T* x, optional_in<T> weight, const T* mean, const T* rstd,
                        const T* gy, optional_out<T> gx, optional_out<T> gweight,
                        optional_out<T> gbias, index_t rows, index_t cols,
                        grad_write write_x = grad_write::add) {
  detail::require_extents("layernorm_backward", rows, cols);
  if (cols == 0) return;
  detail::norm_backward_rows<T>(rows, cols, gweight, gbias, [&](index_t r, T* dweight, T* dbias) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    const simd<T> mu(mean[r]), inv(rstd[r]);
    // Pass 1: mean(g) and mean(g * n), with g = weight * gy and n the normalised x.
    simd<T> g_mean(T(0)), gn_mean(T(0));
    if (gx != nullptr) {
      const auto sums = simd_sums<T, 2>(cols, [&](index_t i, auto step) {
        const simd<T> n = (load(xr + i, step) - mu) * inv;
        const simd<T> g = detail::weight_at(weight, i, step) * load(gr + i, step);
        return std::array<simd<T>, 2>{g, g * n};
      });
      g_mean = simd<T>(T(sums[0] / double(cols)));
      gn_mean = simd<T>(T(sums[1] / double(cols)));
    }
    // Pass 2: every output of the row.
    T* gxr = gx != nullptr ? gx + r * cols : nullptr;
    simd_for<T>(cols, [&](index_t i, auto step) {
      const simd<T> gyv = load(gr + i, step);
      const simd<T> n = (load(xr + i, step) - mu) * inv;
      if (gxr != nullptr) {
        const simd<T> g = detail::weight_at(weight, i, step) * gyv;
        const simd<T> d = (g - g_mean - n * gn_mean) * inv;
        store(gxr + i, write_x == grad_write::store ? d : d + load(gxr + i, step), step);
      }
      if (dweight != nullptr)
        store(dweight + i, multiply_add(gyv, n, load(dweight + i, step)), step);
      if (dbias != nullptr) store(dbias + i, load(dbias + i, step) + gyv, step);
    });
  });
}

// RMS norm forward.  x, y: (rows, cols); weight: (cols) or nullptr; rstd: (rows) or nullptr.
template <Real T>
void rmsnorm_forward(const T* x, optional_in<T> weight, T* y, optional_out<T> rstd, index_t rows,
                     index_t cols, std::type_identity_t<T> eps) {
  detail::require_extents("rmsnorm_forward", rows, cols);
  if (cols == 0) return;
  parallel_for_rows(rows, cols, detail::norm_cost, [&](index_t r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const double squares = simd_sum<T>(cols, [&](index_t i, auto step) {
      const simd<T> v = load(xr + i, step);
      return v * v;
    });
    const T inv = T(1) / std::sqrt(T(squares / double(cols)) + eps);
    const simd<T> inv_v(inv);
    simd_for<T>(cols, [&](index_t i, auto step) {
      store(yr + i, (load(xr + i, step) * inv_v) * detail::weight_at(weight, i, step), step);
    });
    if (rstd != nullptr) rstd[r] = inv;
  });
}

// RMS norm backward:
//   n = x * rstd, g = weight * gy,
//   gx += rstd * (g - n * mean(g * n)),  gweight += Σ_rows gy * n.
// x, gy, gx: (rows, cols); weight, gweight: (cols); rstd: (rows); gx, gweight: nullptr when
// not wanted; write_x store overwrites gx instead of adding.
template <Real T>
void rmsnorm_backward(const T* x, optional_in<T> weight, const T* rstd, const T* gy,
                      optional_out<T> gx, optional_out<T> gweight, index_t rows, index_t cols,
                      grad_write write_x = grad_write::add) {
  detail::require_extents("rmsnorm_backward", rows, cols);
  if (cols == 0) return;
  detail::norm_backward_rows<T>(rows, cols, gweight, nullptr, [&](index_t r, T* dweight, T*) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    const simd<T> inv(rstd[r]);
    // Pass 1: mean(g * n), with g = weight * gy and n = x * rstd.
    simd<T> gn_mean(T(0));
    if (gx != nullptr) {
      gn_mean = simd<T>(T(simd_sum<T>(cols,
                                      [&](index_t i, auto step) {
                                        const simd<T> n = load(xr + i, step) * inv;
                                        return detail::weight_at(weight, i, step) *
                                               load(gr + i, step) * n;
                                      }) /
                          double(cols)));
    }
    // Pass 2: every output of the row.
    T* gxr = gx != nullptr ? gx + r * cols : nullptr;
    simd_for<T>(cols, [&](index_t i, auto step) {
      const simd<T> gyv = load(gr + i, step);
      const simd<T> n = load(xr + i, step) * inv;
      if (gxr != nullptr) {
        const simd<T> g = detail::weight_at(weight, i, step) * gyv;
        const simd<T> d = (g - n * gn_mean) * inv;
        store(gxr + i, write_x == grad_write::store ? d : d + load(gxr + i, step), step);
      }
      if (dweight != nullptr)
        store(dweight + i, multiply_add(gyv, n, load(dweight + i, step)), step);
    });
  });
}

}  // namespace ranklens::cpu
