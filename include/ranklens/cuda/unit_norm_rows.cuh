// Keeping a matrix's rows on the unit sphere (a sparse autoencoder's decoder directions): the
// twins of cpu/unit_norm_rows.hpp (see there), one block per row, sums in float.
//
//   remove_parallel_component:  g_j −= (g_j · w_j / ‖w_j‖²) w_j
//   normalize_rows:             w_j /= ‖w_j‖
//
// Rows of zero norm are left as they are. W, G: (rows, cols), row-major, in device memory.
#pragma once
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int unit_rows_threads = 256;

template <class T>
__global__ void __launch_bounds__(unit_rows_threads) remove_parallel_component_kernel(const T* w, T* g, index_t cols) {
  const T* wr = w + index_t(blockIdx.x) * cols;
  T* gr = g + index_t(blockIdx.x) * cols;
  float along = 0, squares = 0;
  for (index_t i = threadIdx.x; i < cols; i += unit_rows_threads) {
    const float wi = to_float(wr[i]);
    along = fmaf(wi, to_float(gr[i]), along);
    squares = fmaf(wi, wi, squares);
  }
  along = group_sum<unit_rows_threads>(along);
  squares = group_sum<unit_rows_threads>(squares);
  if (!(squares > 0.0f)) return;
  const float scale = -along / squares;
  for (index_t i = threadIdx.x; i < cols; i += unit_rows_threads) gr[i] = from_float<T>(fmaf(scale, to_float(wr[i]), to_float(gr[i])));
}

template <class T>
__global__ void __launch_bounds__(unit_rows_threads) normalize_rows_kernel(T* w, index_t cols) {
  T* wr = w + index_t(blockIdx.x) * cols;
  float squares = 0;
  for (index_t i = threadIdx.x; i < cols; i += unit_rows_threads) squares = fmaf(to_float(wr[i]), to_float(wr[i]), squares);
  squares = group_sum<unit_rows_threads>(squares);
  if (!(squares > 0.0f)) return;
  const float inverse = 1.0f / sqrtf(squares);
  for (index_t i = threadIdx.x; i < cols; i += unit_rows_threads) wr[i] = from_float<T>(to_float(wr[i]) * inverse);
}

}  // namespace detail

template <DeviceReal T>
void remove_parallel_component(const T* w, T* g, index_t rows, index_t cols) {
  detail::require_extents("cuda::remove_parallel_component", rows, cols);
  launch("cuda::remove_parallel_component", detail::remove_parallel_component_kernel<T>,
         launch_shape{dim3(unsigned(rows)), dim3(detail::unit_rows_threads)}, w, g, cols);
}

template <DeviceReal T>
void normalize_rows(T* w, index_t rows, index_t cols) {
  detail::require_extents("cuda::normalize_rows", rows, cols);
  launch("cuda::normalize_rows", detail::normalize_rows_kernel<T>, launch_shape{dim3(unsigned(rows)), dim3(detail::unit_rows_threads)}, w,
         cols);
}

}  // namespace ranklens::cuda
