// The sparse decoder of a TopK sparse autoencoder: with k of d_sae latents active per row,
//   y[r, :] = b + Σ_j values[r, j] · W_dec[indices[r, j], :]
// and its backward, which touches the k active rows of W_dec only (k·d_in work per row instead of
// d_sae·d_in):
//   gvalues[r, j] (+)= gy[r, :] · W_dec[indices[r, j], :],   gW_dec[indices[r, j], :] += values[r, j] · gy[r, :],
//   gb += Σ_r gy[r, :].
// values, gvalues: (rows, k); indices: (rows, k) from topk_rows; W_dec: (d_sae, d_in) (SAELens'
// W_dec); b: (d_in) or nullptr; y, gy: (rows, d_in). gW_dec is added with atomics (rows that share
// a latent add into one row), so its last bits vary from run to run. No CPU kernel of this name
// exists yet; the tests compare with the dense definition.
#pragma once
#include <cstdint>

#include "ranklens/cuda/numeric.cuh"
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int decoder_threads = 128;

template <class T>
__global__ void __launch_bounds__(decoder_threads)
    sparse_decoder_forward_kernel(const T* values, const std::int32_t* indices, const T* w, const T* b, T* y, index_t k, index_t d_in) {
  const index_t r = blockIdx.x;
  for (index_t c = threadIdx.x; c < d_in; c += decoder_threads) {
    float acc = b != nullptr ? to_float(b[c]) : 0.0f;
    for (index_t j = 0; j < k; ++j) acc = fmaf(to_float(values[r * k + j]), to_float(w[index_t(indices[r * k + j]) * d_in + c]), acc);
    y[r * d_in + c] = from_float<T>(acc);
  }
}

// gvalues: one warp per (row, j) pair.
template <class T, grad_write Mode>
__global__ void __launch_bounds__(256)
    sparse_decoder_value_gradient_kernel(const std::int32_t* indices, const T* w, const T* gy, T* gvalues, index_t pairs, index_t k,
                                         index_t d_in) {
  const index_t p_raw = index_t(blockIdx.x) * 8 + threadIdx.x / 32;
  const bool valid = p_raw < pairs;
  const index_t p = valid ? p_raw : pairs - 1;
  const int lane = int(threadIdx.x % 32);
  const T* w_row = w + index_t(indices[p]) * d_in;
  const T* gy_row = gy + (p / k) * d_in;
  float dot = 0;
  for (index_t c = lane; c < d_in; c += 32) dot = fmaf(to_float(gy_row[c]), to_float(w_row[c]), dot);
  dot = group_sum<32>(dot);
  if (valid && lane == 0) gvalues[p] = from_float<T>(Mode == grad_write::store ? dot : dot + to_float(gvalues[p]));
}

template <class T>
__global__ void __launch_bounds__(decoder_threads)
    sparse_decoder_weight_gradient_kernel(const T* values, const std::int32_t* indices, const T* gy, T* gw, index_t k, index_t d_in) {
  const index_t r = blockIdx.x;
  for (index_t c = threadIdx.x; c < d_in; c += decoder_threads) {
    const float g = to_float(gy[r * d_in + c]);
    for (index_t j = 0; j < k; ++j) atomic_add(gw + index_t(indices[r * k + j]) * d_in + c, to_float(values[r * k + j]) * g);
  }
}

}  // namespace detail

template <DeviceReal T>
void sparse_decoder_forward(const T* values, const std::int32_t* indices, const T* w_dec, optional_in<T> b, T* y, index_t rows, index_t k,
                            index_t d_in) {
  detail::require_extents("cuda::sparse_decoder_forward", rows, d_in);
  detail::require(k >= 0, "cuda::sparse_decoder_forward", "negative k");
  if (rows == 0 || d_in == 0) return;
  launch("cuda::sparse_decoder_forward", detail::sparse_decoder_forward_kernel<T>,
         launch_shape{dim3(unsigned(rows)), dim3(detail::decoder_threads)}, values, indices, w_dec, b, y, k, d_in);
}

// Any gradient may be nullptr; write_values store overwrites gvalues instead of adding.
template <DeviceReal T>
void sparse_decoder_backward(const T* values, const std::int32_t* indices, const T* w_dec, const T* gy, optional_out<T> gvalues,
                             optional_out<T> gw_dec, optional_out<T> gb, index_t rows, index_t k, index_t d_in,
                             grad_write write_values = grad_write::add) {
  detail::require_extents("cuda::sparse_decoder_backward", rows, d_in);
  detail::require(k >= 0, "cuda::sparse_decoder_backward", "negative k");
  if (rows == 0 || k == 0) {
    if (gb) add_column_sums(gy, gb, rows, d_in);
    return;
  }
  if (gvalues)
    detail::with_grad_write(write_values, [&]<grad_write M>() {
      launch("cuda::sparse_decoder_backward (values)", detail::sparse_decoder_value_gradient_kernel<T, M>,
             launch_shape{dim3(blocks_for(rows * k, 8)), dim3(256)}, indices, w_dec, gy, gvalues, rows * k, k, d_in);
    });
  if (gw_dec && d_in > 0)
    launch("cuda::sparse_decoder_backward (W_dec)", detail::sparse_decoder_weight_gradient_kernel<T>,
           launch_shape{dim3(unsigned(rows)), dim3(detail::decoder_threads)}, values, indices, gy, gw_dec, k, d_in);
  if (gb) add_column_sums(gy, gb, rows, d_in);
}

}  // namespace ranklens::cuda
