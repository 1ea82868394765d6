// Reductions over one axis of a contiguous 3-D view x: (outer, n, inner), reducing n — the twins
// of cpu/reduce.hpp (sum_axis, max_axis and their backward kernels, sum_all, sum_of_squares) —
// and the column sums of bias gradients (cpu/bias.hpp's add_column_sums). Sums accumulate in
// float in a fixed order that depends on the shape only (patterns.cuh), so they repeat bit for
// bit; they are not the CPU's order, so the two agree to rounding.
#pragma once
#include <span>
#include <string>

#include "ranklens/cpu/array_range.hpp"
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/tensor_lists.cuh"

namespace ranklens::cuda {

namespace detail {

inline void require_axis_view(const char* kernel, index_t outer, index_t n, index_t inner) {
  if (outer < 0 || n < 0 || inner < 0)
    throw shape_error(std::string(kernel) + ": negative extent in (outer, n, inner) = (" + std::to_string(outer) + ", " +
                      std::to_string(n) + ", " + std::to_string(inner) + ")");
}

// x[o, j, k] seen as (rows j, columns o·inner + k).
template <class T>
struct axis_column_value {
  const T* x;
  index_t n, inner;
  __device__ float operator()(index_t j, index_t c) const {
    const index_t o = c / inner, k = c % inner;
    return to_float(x[(o * n + j) * inner + k]);
  }
};
template <class T>
struct row_value {
  const T* x;
  index_t cols;
  __device__ float operator()(index_t r, index_t j) const { return to_float(x[r * cols + j]); }
};
template <class T>
struct flat_value {
  const T* x;
  __device__ float operator()(index_t i) const { return to_float(x[i]); }
};

template <class T>
struct sum_axis_backward_map {
  const T* gy;
  T* gx;
  index_t n, inner;
  __device__ float load(index_t i) const {
    const index_t k = i % inner, o = i / (n * inner);
    return to_float(gy[o * inner + k]);
  }
  __device__ void store(index_t i, float g) const { gx[i] = from_float<T>(to_float(gx[i]) + g); }
};

// Row maxima (inner == 1): one row group per row.
template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    row_max_kernel(const T* x, T* y, index_t* argmax, index_t rows, index_t n) {
  const row_group<Threads> g(rows);
  value_and_index best;
  for (index_t j = g.lane; j < n; j += Threads) best = first_of(best, value_and_index{to_float(x[g.row * n + j]), int(j)});
  best = group_first<Threads>(best);
  if (g.valid && g.lane == 0) {
    y[g.row] = x[g.row * n + best.index];
    if (argmax) argmax[g.row] = best.index;
  }
}

// Column maxima (inner > 1): one thread per (o, k), walking down n.
template <class T>
__global__ void column_max_kernel(const T* x, T* y, index_t* argmax, index_t outer, index_t n, index_t inner) {
  const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= outer * inner) return;
  const index_t o = c / inner, k = c % inner;
  const T* slab = x + o * n * inner + k;
  value_and_index best{to_float(slab[0]), 0};
  for (index_t j = 1; j < n; ++j) best = first_of(best, value_and_index{to_float(slab[j * inner]), int(j)});
  y[c] = slab[index_t(best.index) * inner];
  if (argmax) argmax[c] = best.index;
}

template <class T>
__global__ void max_axis_backward_kernel(const index_t* argmax, const T* gy, T* gx, index_t outer, index_t n, index_t inner) {
  const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= outer * inner) return;
  const index_t j = argmax[c];
  if (j < 0 || j >= n) return;  // see max_axis_backward
  const index_t at = ((c / inner) * n + j) * inner + c % inner;
  gx[at] = from_float<T>(to_float(gx[at]) + to_float(gy[c]));
}

}  // namespace detail

// y[o, k] = Σ_j x[o, j, k].  x: (outer, n, inner); y: (outer, inner)
template <DeviceReal T>
void sum_axis(const T* x, T* y, index_t outer, index_t n, index_t inner) {
  detail::require_axis_view("cuda::sum_axis", outer, n, inner);
  if (outer == 0 || inner == 0) return;
  if (inner == 1)
    row_reduce("cuda::sum_axis", outer, n, detail::row_value<T>{x, n}, store_into<T>{y});
  else
    column_reduce("cuda::sum_axis", n, outer * inner, detail::axis_column_value<T>{x, n, inner}, store_into<T>{y});
}

// gx[o, j, k] += gy[o, k].  gy: (outer, inner); gx: (outer, n, inner)
template <DeviceReal T>
void sum_axis_backward(const T* gy, T* gx, index_t outer, index_t n, index_t inner) {
  detail::require_axis_view("cuda::sum_axis_backward", outer, n, inner);
  map("cuda::sum_axis_backward", outer * n * inner, detail::sum_axis_backward_map<T>{gy, gx, n, inner});
}

// y[o, k] = max_j x[o, j, k] and argmax[o, k] = the first j attaining it; NaN counts as the
// largest value. argmax may be nullptr. x: (outer, n, inner); y, argmax: (outer, inner); n ≥ 1.
template <DeviceReal T>
void max_axis(const T* x, T* y, optional_out<index_t> argmax, index_t outer, index_t n, index_t inner) {
  detail::require_axis_view("cuda::max_axis", outer, n, inner);
  if (outer == 0 || inner == 0) return;
  if (n == 0) throw shape_error("cuda::max_axis: cannot take the maximum over an empty axis (n = 0)");
  if (inner == 1) {
    detail::with_row_threads(n, [&]<int Threads>() {
      launch("cuda::max_axis", detail::row_max_kernel<Threads, T>, detail::row_group<Threads>::shape(outer), x, y, argmax, outer, n);
    });
  } else {
    launch("cuda::max_axis", detail::column_max_kernel<T>, launch_shape{dim3(blocks_for(outer * inner, 256)), dim3(256)}, x, y, argmax,
           outer, n, inner);
  }
}

// gx[o, argmax[o, k], k] += gy[o, k].  argmax, gy: (outer, inner); gx: (outer, n, inner).
// argmax comes from max_axis; an index outside [0, n) (which cpu::max_axis_backward refuses) is
// skipped on the device, where there is no one to throw to.
template <DeviceReal T>
void max_axis_backward(const index_t* argmax, const T* gy, T* gx, index_t outer, index_t n, index_t inner) {
  detail::require_axis_view("cuda::max_axis_backward", outer, n, inner);
  launch("cuda::max_axis_backward", detail::max_axis_backward_kernel<T>, launch_shape{dim3(blocks_for(outer * inner, 256)), dim3(256)},
         argmax, gy, gx, outer, n, inner);
}

// *total = Σ x[0..n), into device memory (no synchronisation: usable in a captured graph).
template <DeviceReal T>
void sum_all(const T* x, index_t n, T* total) {
  total_reduce("cuda::sum_all", n, detail::flat_value<T>{x}, store_into<T>{total});
}

namespace detail {
template <class T>
struct squared_value {
  const T* x;
  __device__ float operator()(index_t i) const {
    const float v = to_float(x[i]);
    return v * v;
  }
};
}  // namespace detail

// *total = Σ x[i]², in one pass, the twin of cpu::sum_of_squares.
template <DeviceReal T>
void sum_of_squares(const T* x, index_t n, T* total) {
  total_reduce("cuda::sum_of_squares", n, detail::squared_value<T>{x}, store_into<T>{total});
}

namespace detail {
// partials[k] = Σ x² over the list's chunk k: a block per chunk, each thread's elements in float,
// then the block's tree (a fixed order: the sums repeat bit for bit).
template <class T>
__global__ void __launch_bounds__(list_threads) sum_of_squares_list_kernel(tensor_batch<cpu::array_range<const T>> batch, float* partials) {
  const auto [t, begin, end] = batch.work_of(blockIdx.x);
  float s = 0;
  for (index_t i = begin + threadIdx.x; i < end; i += list_threads) {
    const float x = to_float(t.data[i]);
    s += x * x;
  }
  s = group_sum<list_threads>(s);
  if (threadIdx.x == 0) partials[batch.first_block + blockIdx.x] = s;
}
}  // namespace detail

// Sums of squares of a list of arrays as partials whose sum is the total, one per chunk of the
// list (for_each_list_batch, tensor_lists.cuh), in a launch or a few: gradient clipping's norm
// over every parameter without a reduction (two launches) per parameter. The twin of
// cpu::sum_of_squares_many. sum_of_squares_partials says how many partials a list gets.
template <DeviceReal T>
index_t sum_of_squares_partials(std::span<const cpu::array_range<const T>> arrays, index_t chunk = detail::list_chunk) {
  return list_chunks(arrays, chunk);
}
template <DeviceReal T>
void sum_of_squares_many(std::span<const cpu::array_range<const T>> arrays, float* partials, index_t chunk = detail::list_chunk) {
  for_each_list_batch("cuda::sum_of_squares_many", arrays, chunk, [&](const detail::tensor_batch<cpu::array_range<const T>>& batch, int blocks) {
    launch("cuda::sum_of_squares_many", detail::sum_of_squares_list_kernel<T>, launch_shape{dim3(unsigned(blocks)), dim3(detail::list_threads)},
           batch, partials);
  });
}

// gx[i] += gy[0] for i < n: the backward of sum_all, reading gy on the device (no
// synchronisation), the twin of cpu::sum_all_backward.
namespace detail {
template <class T>
struct broadcast_total_map {
  const T* gy;
  T* gx;
  __device__ float load(index_t) const { return to_float(gy[0]); }
  __device__ void store(index_t i, float g) const { gx[i] = from_float<T>(to_float(gx[i]) + g); }
};
}  // namespace detail
template <DeviceReal T>
void sum_all_backward(const T* gy, T* gx, index_t n) {
  map("cuda::sum_all_backward", n, detail::broadcast_total_map<T>{gy, gx});
}

// Σ x[0..n), returned to the host (waits for the device).
template <DeviceReal T>
T sum_all(const T* x, index_t n) {
  device_buffer<T> total(1);
  sum_all(x, n, total.data());
  T result{};
  copy_to_host(&result, total.data(), 1);
  return result;
}

// gb[j] += Σ_r dy[r, j].  dy: (rows, cols); gb: (cols)
template <DeviceReal T>
void add_column_sums(const T* dy, T* gb, index_t rows, index_t cols) {
  detail::require_extents("cuda::add_column_sums", rows, cols);
  column_reduce("cuda::add_column_sums", rows, cols, detail::row_value<T>{dy, cols}, add_into<T>{gb});
}

}  // namespace ranklens::cuda
