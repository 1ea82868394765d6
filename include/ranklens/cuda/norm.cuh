// Layer norm and RMS norm over the last axis of x: (rows, cols), the twins of cpu/norm.hpp (same
// formulas, same saved mean and rstd, nullptr for an absent weight or bias or an unwanted
// gradient, grad_write for gx):
//   layer norm  y = (x − mean)·rstd·weight + bias,  rstd = 1/√(var + eps)  (biased variance)
//   RMS norm    y = x·rstd·weight,                   rstd = 1/√(mean(x²) + eps)
// One row group per row for the forward and for gx; the weight and bias gradients are column
// sums over rows (patterns.cuh's column_reduce, one for both when both are wanted), which
// recompute the normalised x from mean and rstd instead of storing it.
#pragma once
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

namespace detail {

template <class T>
__device__ __forceinline__ float weight_or_one(const T* weight, index_t j) {
  return weight != nullptr ? to_float(weight[j]) : 1.0f;
}

template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    layernorm_forward_kernel(const T* x, const T* weight, const T* bias, T* y, float* mean, float* rstd, index_t rows, index_t cols,
                             float eps) {
  const row_group<Threads> g(rows);
  const T* xr = x + g.row * cols;
  float sum = 0;
  for (index_t j = g.lane; j < cols; j += Threads) sum += to_float(xr[j]);
  const float mu = group_sum<Threads>(sum) / float(cols);
  // Two passes (mean, then squared deviations): no cancellation for rows far from zero.
  float squares = 0;
  for (index_t j = g.lane; j < cols; j += Threads) {
    const float d = to_float(xr[j]) - mu;
    squares += d * d;
  }
  const float inv = 1.0f / sqrtf(group_sum<Threads>(squares) / float(cols) + eps);
  if (!g.valid) return;
  for (index_t j = g.lane; j < cols; j += Threads) {
    const float scaled = (to_float(xr[j]) - mu) * inv * weight_or_one(weight, j);
    y[g.row * cols + j] = from_float<T>(bias != nullptr ? scaled + to_float(bias[j]) : scaled);
  }
  if (g.lane == 0) {
    if (mean) mean[g.row] = mu;
    if (rstd) rstd[g.row] = inv;
  }
}

// gx (+)= rstd · (g − mean(g) − n · mean(g·n)), g = weight·gy, n = (x − mean)·rstd; for RMS norm
// (Centered = false) mean(g) is left out and n = x·rstd.
template <int Threads, bool Centered, grad_write Mode, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    norm_input_gradient_kernel(const T* x, const T* weight, const float* mean, const float* rstd, const T* gy, T* gx, index_t rows,
                               index_t cols) {
  const row_group<Threads> g(rows);
  const index_t at = g.row * cols;
  const float mu = Centered ? mean[g.row] : 0.0f, inv = rstd[g.row];
  float g_sum = 0, gn_sum = 0;
  for (index_t j = g.lane; j < cols; j += Threads) {
    const float n = (to_float(x[at + j]) - mu) * inv;
    const float gj = weight_or_one(weight, j) * to_float(gy[at + j]);
    g_sum += gj;
    gn_sum += gj * n;
  }
  const float g_mean = Centered ? group_sum<Threads>(g_sum) / float(cols) : 0.0f;
  const float gn_mean = group_sum<Threads>(gn_sum) / float(cols);
  if (!g.valid) return;
  for (index_t j = g.lane; j < cols; j += Threads) {
    const float n = (to_float(x[at + j]) - mu) * inv;
    const float gj = weight_or_one(weight, j) * to_float(gy[at + j]);
    const float d = (gj - g_mean - n * gn_mean) * inv;
    gx[at + j] = from_float<T>(Mode == grad_write::store ? d : d + to_float(gx[at + j]));
  }
}

// gy[r, j] · n[r, j], the summand of the weight gradient.
template <class T, bool Centered>
struct gy_times_normalised {
  const T* x;
  const T* gy;
  const float* mean;
  const float* rstd;
  index_t cols;
  __device__ float operator()(index_t r, index_t j) const {
    const float n = (to_float(x[r * cols + j]) - (Centered ? mean[r] : 0.0f)) * rstd[r];
    return to_float(gy[r * cols + j]) * n;
  }
};

// Both parameter gradients of a layer norm as one column reduction over 2·cols columns, one pair
// of launches instead of two: column j < cols sums gy·n (the weight's), column cols + j sums gy
// (the bias's).
template <class T>
struct weight_and_bias_summand {
  gy_times_normalised<T, true> weight;
  __device__ float operator()(index_t r, index_t c) const {
    const index_t cols = weight.cols;
    return c < cols ? weight(r, c) : to_float(weight.gy[r * cols + (c - cols)]);
  }
};
template <class T>
struct add_into_weight_and_bias {
  T* gweight;
  T* gbias;
  index_t cols;
  __device__ void operator()(index_t c, float v) const {
    T* out = c < cols ? gweight + c : gbias + (c - cols);
    *out = from_float<T>(to_float(*out) + v);
  }
};

template <bool Centered, class T>
void norm_input_gradient(const char* name, const T* x, const T* weight, const float* mean, const float* rstd, const T* gy, T* gx,
                         index_t rows, index_t cols, grad_write mode) {
  with_row_threads(cols, [&]<int Threads>() {
    with_grad_write(mode, [&]<grad_write M>() {
      launch(name, norm_input_gradient_kernel<Threads, Centered, M, T>, row_group<Threads>::shape(rows), x, weight, mean, rstd, gy, gx,
             rows, cols);
    });
  });
}

}  // namespace detail

// Layer norm forward.  x, y: (rows, cols); weight, bias: (cols) or nullptr; mean, rstd: (rows),
// float whatever T is, or nullptr.
template <DeviceReal T>
void layernorm_forward(const T* x, optional_in<T> weight, optional_in<T> bias, T* y, optional_out<float> mean, optional_out<float> rstd,
                       index_t rows, index_t cols, float eps) {
  detail::require_extents("cuda::layernorm_forward", rows, cols);
  if (cols == 0 || rows == 0) return;
  detail::with_row_threads(cols, [&]<int Threads>() {
    launch("cuda::layernorm_forward", detail::layernorm_forward_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), x, weight, bias,
           y, mean, rstd, rows, cols, eps);
  });
}

// Layer norm backward (llm.c's layernorm_backward):
//   gx += rstd·(g − mean(g) − n·mean(g·n)),  gweight += Σ_rows gy·n,  gbias += Σ_rows gy.
// x, gy, gx: (rows, cols); weight, gweight, gbias: (cols); mean, rstd: (rows). gx, gweight, gbias:
// nullptr when not wanted; write_x store overwrites gx instead of adding.
template <DeviceReal T>
void layernorm_backward(const T* x, optional_in<T> weight, const float* mean, const float* rstd, const T* gy, optional_out<T> gx,
                        optional_out<T> gweight, optional_out<T> gbias, index_t rows, index_t cols, grad_write write_x = grad_write::add) {
  detail::require_extents("cuda::layernorm_backward", rows, cols);
  if (cols == 0) return;
  if (gx && rows > 0) detail::norm_input_gradient<true>("cuda::layernorm_backward", x, weight, mean, rstd, gy, gx, rows, cols, write_x);
  const detail::gy_times_normalised<T, true> weight_summand{x, gy, mean, rstd, cols};
  if (gweight && gbias)
    column_reduce("cuda::layernorm_backward (weight, bias)", rows, 2 * cols, detail::weight_and_bias_summand<T>{weight_summand},
                  detail::add_into_weight_and_bias<T>{gweight, gbias, cols});
  else if (gweight)
    column_reduce("cuda::layernorm_backward (weight)", rows, cols, weight_summand, add_into<T>{gweight});
  else if (gbias)
    column_reduce("cuda::layernorm_backward (bias)", rows, cols, detail::row_value<T>{gy, cols}, add_into<T>{gbias});
}

// RMS norm forward.  x, y: (rows, cols); weight: (cols) or nullptr; rstd: (rows), float, or nullptr.
template <int Threads, class T>
__global__ void __launch_bounds__(detail::row_group<Threads>::block_threads)
    rmsnorm_forward_kernel(const T* x, const T* weight, T* y, float* rstd, index_t rows, index_t cols, float eps) {
  const detail::row_group<Threads> g(rows);
  const T* xr = x + g.row * cols;
  float squares = 0;
  for (index_t j = g.lane; j < cols; j += Threads) {
    const float v = to_float(xr[j]);
    squares += v * v;
  }
  const float inv = 1.0f / sqrtf(group_sum<Threads>(squares) / float(cols) + eps);
  if (!g.valid) return;
  for (index_t j = g.lane; j < cols; j += Threads) y[g.row * cols + j] = from_float<T>((to_float(xr[j]) * inv) * detail::weight_or_one(weight, j));
  if (g.lane == 0 && rstd) rstd[g.row] = inv;
}

template <DeviceReal T>
void rmsnorm_forward(const T* x, optional_in<T> weight, T* y, optional_out<float> rstd, index_t rows, index_t cols, float eps) {
  detail::require_extents("cuda::rmsnorm_forward", rows, cols);
  if (cols == 0 || rows == 0) return;
  detail::with_row_threads(cols, [&]<int Threads>() {
    launch("cuda::rmsnorm_forward", rmsnorm_forward_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), x, weight, y, rstd, rows,
           cols, eps);
  });
}

// RMS norm backward:  gx += rstd·(g − n·mean(g·n)),  gweight += Σ_rows gy·n,  n = x·rstd.
// x, gy, gx: (rows, cols); weight, gweight: (cols); rstd: (rows); write_x store overwrites gx.
template <DeviceReal T>
void rmsnorm_backward(const T* x, optional_in<T> weight, const float* rstd, const T* gy, optional_out<T> gx, optional_out<T> gweight,
                      index_t rows, index_t cols, grad_write write_x = grad_write::add) {
  detail::require_extents("cuda::rmsnorm_backward", rows, cols);
  if (cols == 0) return;
  if (gx && rows > 0) detail::norm_input_gradient<false>("cuda::rmsnorm_backward", x, weight, nullptr, rstd, gy, gx, rows, cols, write_x);
  if (gweight)
    column_reduce("cuda::rmsnorm_backward (weight)", rows, cols, detail::gy_times_normalised<T, false>{x, gy, nullptr, rstd, cols},
                  add_into<T>{gweight});
}

}  // namespace ranklens::cuda
