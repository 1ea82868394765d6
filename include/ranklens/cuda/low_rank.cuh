// The low-rank adapter path (LoRA, Hu et al. 2021) for ranks 1 to 16:
//   h = x·Aᵀ,  y += scale · h·Bᵀ
// and its backward
//   gh = scale · gy·B,  gx += gh·A,  gA += ghᵀ·x,  gB += scale · gyᵀ·h.
// x: (rows, in); A: (rank, in) (PEFT's lora_A); B: (out, rank) (lora_B); h, gh: (rows, rank), float;
// y, gy: (rows, out).
//
// At these ranks the products are thin enough that a GEMM would be mostly overhead (a rank-1
// "GEMM" has inner dimension 1): one warp per row computes the row's `rank` dot products with A
// (its lanes stride over `in`, then `rank` warp reductions), keeps them in registers, and adds the
// row of y (or gx) as `rank` axpys; the weight gradients are column sums over rows
// (patterns.cuh), with the columns of gA ordered (i, k) so that a warp reads each x[r, i] once.
// The CPU twins are cpu/low_rank.hpp's kernels of the same names (backend/low_rank.hpp).
#pragma once
#include <string>

#include "ranklens/cuda/low_rank_args.hpp"
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int low_rank_rows_per_block = 8;

// h[r, :] = x[r, :]·Aᵀ; y[r, :] (+)= scale · h[r, :]·Bᵀ.
template <class T, grad_write Mode>
__global__ void __launch_bounds__(32 * low_rank_rows_per_block)
    low_rank_forward_kernel(const T* x, const T* a, const T* b, float* h, T* y, index_t rows, index_t in, index_t out, int rank,
                            float scale) {
  const index_t r_raw = index_t(blockIdx.x) * low_rank_rows_per_block + threadIdx.x / 32;
  const bool valid = r_raw < rows;
  const index_t r = valid ? r_raw : rows - 1;
  const int lane = int(threadIdx.x % 32);
  float acc[max_low_rank];
#pragma unroll
  for (int k = 0; k < max_low_rank; ++k) acc[k] = 0;
  for (index_t i = lane; i < in; i += 32) {
    const float xi = to_float(x[r * in + i]);
#pragma unroll
    for (int k = 0; k < max_low_rank; ++k)
      if (k < rank) acc[k] = fmaf(xi, to_float(a[index_t(k) * in + i]), acc[k]);
  }
#pragma unroll
  for (int k = 0; k < max_low_rank; ++k)
    if (k < rank) acc[k] = group_sum<32>(acc[k]);
  if (!valid) return;
  if (h != nullptr && lane < rank) {
#pragma unroll
    for (int k = 0; k < max_low_rank; ++k)
      if (k == lane) h[r * rank + k] = acc[k];
  }
  for (index_t o = lane; o < out; o += 32) {
    float sum = 0;
#pragma unroll
    for (int k = 0; k < max_low_rank; ++k)
      if (k < rank) sum = fmaf(acc[k], to_float(b[o * rank + k]), sum);
    T& target = y[r * out + o];
    target = from_float<T>(Mode == grad_write::store ? scale * sum : fmaf(scale, sum, to_float(target)));
  }
}

// gh[r, :] = scale · gy[r, :]·B; gx[r, :] (+)= gh[r, :]·A.
template <class T, grad_write Mode>
__global__ void __launch_bounds__(32 * low_rank_rows_per_block)
    low_rank_input_gradient_kernel(const T* a, const T* b, const T* gy, float* gh, T* gx, index_t rows, index_t in, index_t out, int rank,
                                   float scale) {
  const index_t r_raw = index_t(blockIdx.x) * low_rank_rows_per_block + threadIdx.x / 32;
  const bool valid = r_raw < rows;
  const index_t r = valid ? r_raw : rows - 1;
  const int lane = int(threadIdx.x % 32);
  float acc[max_low_rank];
#pragma unroll
  for (int k = 0; k < max_low_rank; ++k) acc[k] = 0;
  for (index_t o = lane; o < out; o += 32) {
    const float g = to_float(gy[r * out + o]);
#pragma unroll
    for (int k = 0; k < max_low_rank; ++k)
      if (k < rank) acc[k] = fmaf(g, to_float(b[o * rank + k]), acc[k]);
  }
#pragma unroll
  for (int k = 0; k < max_low_rank; ++k)
    if (k < rank) acc[k] = scale * group_sum<32>(acc[k]);
  if (!valid) return;
  if (lane < rank) {
#pragma unroll
    for (int k = 0; k < max_low_rank; ++k)
      if (k == lane) gh[r * rank + k] = acc[k];
  }
  if (gx == nullptr) return;
  for (index_t i = lane; i < in; i += 32) {
    float sum = 0;
#pragma unroll
    for (int k = 0; k < max_low_rank; ++k)
      if (k < rank) sum = fmaf(acc[k], to_float(a[index_t(k) * in + i]), sum);
    T& target = gx[r * in + i];
    target = from_float<T>(Mode == grad_write::store ? sum : sum + to_float(target));
  }
}

// Column c = i·rank + k of gA's sum: gh[r, k]·x[r, i].
template <class T>
struct low_rank_a_term {
  const float* gh;
  const T* x;
  index_t in, rank;
  __device__ float operator()(index_t r, index_t c) const { return gh[r * rank + c % rank] * to_float(x[r * in + c / rank]); }
};
template <class T>
struct add_into_transposed {  // column c = i·rank + k → ga[k, i]
  T* ga;
  index_t in, rank;
  __device__ void operator()(index_t c, float v) const {
    T& target = ga[(c % rank) * in + c / rank];
    target = from_float<T>(to_float(target) + v);
  }
};
// Column c = o·rank + k of gB's sum: scale · gy[r, o]·h[r, k].
template <class T>
struct low_rank_b_term {
  const T* gy;
  const float* h;
  index_t out, rank;
  float scale;
  __device__ float operator()(index_t r, index_t c) const { return scale * to_float(gy[r * out + c / rank]) * h[r * rank + c % rank]; }
};

inline void check_low_rank(const char* kernel, index_t rows, index_t in, index_t out, index_t rank) {
  require_extents(kernel, rows, in);
  require_extents(kernel, out, rank);
  if (rank < 1 || rank > max_low_rank)
    throw shape_error(std::string(kernel) + ": rank " + std::to_string(rank) + " is outside [1, " + std::to_string(max_low_rank) + "]");
}

}  // namespace detail

// h = x·Aᵀ (saved for the backward; may be nullptr), y += scale · h·Bᵀ (y = with mode store).
template <DeviceReal T>
void low_rank_forward(const T* x, const T* a, const T* b, optional_out<float> h, T* y, index_t rows, index_t in, index_t out, index_t rank,
                      float scale, grad_write mode = grad_write::add) {
  detail::check_low_rank("cuda::low_rank_forward", rows, in, out, rank);
  if (rows == 0) return;
  detail::with_grad_write(mode, [&]<grad_write M>() {
    launch("cuda::low_rank_forward", detail::low_rank_forward_kernel<T, M>,
           launch_shape{dim3(blocks_for(rows, detail::low_rank_rows_per_block)), dim3(32 * detail::low_rank_rows_per_block)}, x, a, b, h, y,
           rows, in, out, int(rank), scale);
  });
}

// gx += gh·A (gx = with write_x store), gA += ghᵀ·x, gB += scale · gyᵀ·h, gh = scale · gy·B; any
// gradient may be nullptr. h: the forward's. The arguments in cpu::low_rank_backward's order.
template <DeviceReal T>
void low_rank_backward(const T* x, const T* a, const T* b, const float* h, const T* gy, optional_out<T> gx, grad_write write_x,
                       optional_out<T> ga, optional_out<T> gb, index_t rows, index_t in, index_t out, index_t rank, float scale) {
  detail::check_low_rank("cuda::low_rank_backward", rows, in, out, rank);
  if (rows == 0) return;
  if (gx || ga) {
    device_buffer<float> gh(rows * rank);
    detail::with_grad_write(write_x, [&]<grad_write M>() {
      launch("cuda::low_rank_backward (gx)", detail::low_rank_input_gradient_kernel<T, M>,
             launch_shape{dim3(blocks_for(rows, detail::low_rank_rows_per_block)), dim3(32 * detail::low_rank_rows_per_block)}, a, b, gy,
             gh.data(), gx, rows, in, out, int(rank), scale);
    });
    if (ga)
      column_reduce("cuda::low_rank_backward (gA)", rows, in * rank, detail::low_rank_a_term<T>{gh.data(), x, in, rank},
                    detail::add_into_transposed<T>{ga, in, rank});
  }
  if (gb)
    column_reduce("cuda::low_rank_backward (gB)", rows, out * rank, detail::low_rank_b_term<T>{gy, h, out, rank, scale}, add_into<T>{gb});
}

}  // namespace ranklens::cuda
