// Softmax along the last axis, the twins of cpu/softmax.hpp: softmax and log-softmax of (rows,
// cols) arrays and the scaled, causally masked softmax of attention scores, forward and backward.
// One row group per row (patterns.cuh); each forward subtracts the row maximum before
// exponentiating, so no input overflows, and a row of all −inf gives NaN, as on the CPU.
#pragma once
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

namespace detail {

// y[0..visible) = softmax(scale · x[0..visible)), y[visible..n) = 0, for the row group's row.
template <int Threads, class T>
__device__ void softmax_row(const T* x, T* y, index_t visible, index_t n, float scale, int lane, bool store) {
  float top = -infinity;
  for (index_t j = lane; j < visible; j += Threads) top = nan_max(top, scale * to_float(x[j]));
  top = group_max<Threads>(top);
  float total = 0;
  for (index_t j = lane; j < visible; j += Threads) total += expf(scale * to_float(x[j]) - top);
  total = group_sum<Threads>(total);
  const float inverse = 1.0f / total;
  if (!store) return;
  for (index_t j = lane; j < n; j += Threads) y[j] = from_float<T>(j < visible ? expf(scale * to_float(x[j]) - top) * inverse : 0.0f);
}

// gx[0..visible) += scale · y ⊙ (gy − Σ gy ⊙ y).
template <int Threads, class T>
__device__ void softmax_row_backward(const T* y, const T* gy, T* gx, index_t visible, float scale, int lane, bool store) {
  float dot = 0;
  for (index_t j = lane; j < visible; j += Threads) dot += to_float(gy[j]) * to_float(y[j]);
  dot = group_sum<Threads>(dot);
  if (!store) return;
  for (index_t j = lane; j < visible; j += Threads) {
    const float yv = to_float(y[j]);
    gx[j] = from_float<T>(fmaf(scale * yv, to_float(gy[j]) - dot, to_float(gx[j])));
  }
}

// Rows of `t` columns, row r of a (matrices, t, t) stack sees columns 0..r % t when causal.
template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    softmax_kernel(const T* x, T* y, index_t rows, index_t cols, bool causal, float scale) {
  const row_group<Threads> g(rows);
  const index_t visible = causal ? g.row % cols + 1 : cols;
  softmax_row<Threads>(x + g.row * cols, y + g.row * cols, visible, cols, scale, g.lane, g.valid);
}

template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    softmax_backward_kernel(const T* y, const T* gy, T* gx, index_t rows, index_t cols, bool causal, float scale) {
  const row_group<Threads> g(rows);
  const index_t visible = causal ? g.row % cols + 1 : cols;
  const index_t at = g.row * cols;
  softmax_row_backward<Threads>(y + at, gy + at, gx + at, visible, scale, g.lane, g.valid);
}

template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads) log_softmax_kernel(const T* x, T* y, index_t rows, index_t cols) {
  const row_group<Threads> g(rows);
  const T* xr = x + g.row * cols;
  max_and_sum parts;
  for (index_t j = g.lane; j < cols; j += Threads) parts = push(parts, to_float(xr[j]));
  parts = group_merge<Threads>(parts);
  const float log_sum = logf(parts.sum);
  if (!g.valid) return;
  // (x − max) − log Σ: the two parts subtracted one at a time, as on the CPU.
  for (index_t j = g.lane; j < cols; j += Threads) y[g.row * cols + j] = from_float<T>((to_float(xr[j]) - parts.max) - log_sum);
}

template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    log_softmax_backward_kernel(const T* y, const T* gy, T* gx, index_t rows, index_t cols) {
  const row_group<Threads> g(rows);
  const index_t at = g.row * cols;
  float total = 0;
  for (index_t j = g.lane; j < cols; j += Threads) total += to_float(gy[at + j]);
  total = group_sum<Threads>(total);
  if (!g.valid) return;
  for (index_t j = g.lane; j < cols; j += Threads)
    gx[at + j] = from_float<T>(to_float(gx[at + j]) + to_float(gy[at + j]) - expf(to_float(y[at + j])) * total);
}

template <class T>
void launch_softmax(const char* name, const T* x, T* y, index_t rows, index_t cols, bool causal, float scale) {
  with_row_threads(cols, [&]<int Threads>() {
    launch(name, softmax_kernel<Threads, T>, row_group<Threads>::shape(rows), x, y, rows, cols, causal, scale);
  });
}
template <class T>
void launch_softmax_backward(const char* name, const T* y, const T* gy, T* gx, index_t rows, index_t cols, bool causal, float scale) {
  with_row_threads(cols, [&]<int Threads>() {
    launch(name, softmax_backward_kernel<Threads, T>, row_group<Threads>::shape(rows), y, gy, gx, rows, cols, causal, scale);
  });
}

}  // namespace detail

// y = softmax(x) along each row.  x, y: (rows, cols)
template <DeviceReal T>
void softmax_forward(const T* x, T* y, index_t rows, index_t cols) {
  detail::require_extents("cuda::softmax_forward", rows, cols);
  if (cols == 0) return;
  detail::launch_softmax("cuda::softmax_forward", x, y, rows, cols, false, 1.0f);
}

// gx += y ⊙ (gy − Σ_j gy ⊙ y).  y, gy, gx: (rows, cols)
template <DeviceReal T>
void softmax_backward(const T* y, const T* gy, T* gx, index_t rows, index_t cols) {
  detail::require_extents("cuda::softmax_backward", rows, cols);
  if (cols == 0) return;
  detail::launch_softmax_backward("cuda::softmax_backward", y, gy, gx, rows, cols, false, 1.0f);
}

// y = x − log Σ_j exp(x) along each row.  x, y: (rows, cols)
template <DeviceReal T>
void log_softmax_forward(const T* x, T* y, index_t rows, index_t cols) {
  detail::require_extents("cuda::log_softmax_forward", rows, cols);
  if (cols == 0) return;
  detail::with_row_threads(cols, [&]<int Threads>() {
    launch("cuda::log_softmax_forward", detail::log_softmax_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), x, y, rows, cols);
  });
}

// gx += gy − softmax(x) Σ_j gy, with softmax(x) = exp(y).  y, gy, gx: (rows, cols)
template <DeviceReal T>
void log_softmax_backward(const T* y, const T* gy, T* gx, index_t rows, index_t cols) {
  detail::require_extents("cuda::log_softmax_backward", rows, cols);
  if (cols == 0) return;
  detail::with_row_threads(cols, [&]<int Threads>() {
    launch("cuda::log_softmax_backward", detail::log_softmax_backward_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), y, gy, gx,
           rows, cols);
  });
}

// Attention probabilities from raw scores: row i of each (t, t) matrix is softmax(scale · x[i, 0..i])
// and zero for j > i.  x, y: (matrices, t, t)
template <DeviceReal T>
void causal_softmax_forward(const T* x, T* y, index_t matrices, index_t t, float scale) {
  detail::require_extents("cuda::causal_softmax_forward", matrices, t);
  if (t == 0) return;
  detail::launch_softmax("cuda::causal_softmax_forward", x, y, matrices * t, t, true, scale);
}

// gx += scale · y ⊙ (gy − Σ_j gy ⊙ y) on and below the diagonal; nothing is added above it.
// y, gy, gx: (matrices, t, t)
template <DeviceReal T>
void causal_softmax_backward(const T* y, const T* gy, T* gx, index_t matrices, index_t t, float scale) {
  detail::require_extents("cuda::causal_softmax_backward", matrices, t);
  if (t == 0) return;
  detail::launch_softmax_backward("cuda::causal_softmax_backward", y, gy, gx, matrices * t, t, true, scale);
}

}  // namespace ranklens::cuda
