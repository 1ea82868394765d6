// The sparse decoder of a sparse autoencoder: with the active latents of each row r at entries
// e in [begin(r), end(r)) (latent indices[e], value values[e]),
//   y[r, :] = b + Σ_e values[e] · W_dec[indices[e], :]
// and its backward, which touches the active rows of W_dec only (k·d_in work per row instead of
// d_sae·d_in):
//   gvalues[e] (+)= gy[r, :] · W_dec[indices[e], :],   gW_dec[indices[e], :] += values[e] · gy[r, :],
//   gb += Σ_r gy[r, :].
// Two forms of the same kernels: k entries per row (values, indices: (rows, k) from topk_rows),
// and compressed rows with any number per row (BatchTopK, JumpReLU): sparse_decode_forward /
// sparse_decode_backward, the twins of cpu/sparse_decode.hpp, whose pattern and values are in
// device memory. W_dec: (d_sae, d_in) (SAELens' W_dec); b: (d_in) or nullptr; y, gy: (rows,
// d_in). gW_dec is added with atomics (rows that share a latent add into one row), so its last
// bits vary from run to run, where the CPU twin adds per latent in row order.
#pragma once
#include <cstdint>

#include "ranklens/cpu/sparse_rows.hpp"
#include "ranklens/cuda/numeric.cuh"
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int decoder_threads = 128;

// Entries [r·k, (r + 1)·k) of row r.
struct fixed_rows {
  index_t k;
  __device__ index_t begin(index_t r) const { return r * k; }
  __device__ index_t end(index_t r) const { return (r + 1) * k; }
};
// Entries [offsets[r], offsets[r + 1]) of row r.
struct compressed_rows {
  const index_t* offsets;
  __device__ index_t begin(index_t r) const { return offsets[r]; }
  __device__ index_t end(index_t r) const { return offsets[r + 1]; }
};

// One block per row.
template <class T, class Rows>
__global__ void __launch_bounds__(decoder_threads)
    sparse_decoder_forward_kernel(Rows rows, const T* values, const std::int32_t* indices, const T* w, const T* b, T* y, index_t d_in) {
  const index_t r = blockIdx.x, first = rows.begin(r), last = rows.end(r);
  for (index_t c = threadIdx.x; c < d_in; c += decoder_threads) {
    float acc = b != nullptr ? to_float(b[c]) : 0.0f;
    for (index_t e = first; e < last; ++e) acc = fmaf(to_float(values[e]), to_float(w[index_t(indices[e]) * d_in + c]), acc);
    y[r * d_in + c] = from_float<T>(acc);
  }
}

// gvalues: one block per row, one warp per entry.
template <class T, class Rows, grad_write Mode>
__global__ void __launch_bounds__(decoder_threads)
    sparse_decoder_value_gradient_kernel(Rows rows, const std::int32_t* indices, const T* w, const T* gy, T* gvalues, index_t d_in) {
  constexpr int warps = decoder_threads / 32;
  const index_t r = blockIdx.x, first = rows.begin(r), last = rows.end(r);
  const int lane = int(threadIdx.x % 32);
  const T* gy_row = gy + r * d_in;
  for (index_t e = first + threadIdx.x / 32; e < last; e += warps) {
    const T* w_row = w + index_t(indices[e]) * d_in;
    float dot = 0;
    for (index_t c = lane; c < d_in; c += 32) dot = fmaf(to_float(gy_row[c]), to_float(w_row[c]), dot);
    dot = group_sum<32>(dot);
    if (lane == 0) gvalues[e] = from_float<T>(Mode == grad_write::store ? dot : dot + to_float(gvalues[e]));
  }
}

template <class T, class Rows>
__global__ void __launch_bounds__(decoder_threads)
    sparse_decoder_weight_gradient_kernel(Rows rows, const T* values, const std::int32_t* indices, const T* gy, T* gw, index_t d_in) {
  const index_t r = blockIdx.x, first = rows.begin(r), last = rows.end(r);
  for (index_t c = threadIdx.x; c < d_in; c += decoder_threads) {
    const float g = to_float(gy[r * d_in + c]);
    for (index_t e = first; e < last; ++e) atomic_add(gw + index_t(indices[e]) * d_in + c, to_float(values[e]) * g);
  }
}

template <class T, class Rows>
void decode_forward(const char* name, Rows row_entries, const T* values, const std::int32_t* indices, const T* w_dec, const T* b, T* y,
                    index_t rows, index_t d_in) {
  if (rows == 0 || d_in == 0) return;
  launch(name, sparse_decoder_forward_kernel<T, Rows>, launch_shape{dim3(unsigned(rows)), dim3(decoder_threads)}, row_entries, values, indices,
         w_dec, b, y, d_in);
}

template <class T, class Rows>
void decode_backward(const char* name, Rows row_entries, const T* values, const std::int32_t* indices, const T* w_dec, const T* gy, T* gvalues,
                     T* gw_dec, T* gb, index_t rows, index_t d_in, grad_write write_values) {
  if (rows > 0 && gvalues)
    with_grad_write(write_values, [&]<grad_write M>() {
      launch(name, sparse_decoder_value_gradient_kernel<T, Rows, M>, launch_shape{dim3(unsigned(rows)), dim3(decoder_threads)}, row_entries,
             indices, w_dec, gy, gvalues, d_in);
    });
  if (rows > 0 && gw_dec && d_in > 0)
    launch(name, sparse_decoder_weight_gradient_kernel<T, Rows>, launch_shape{dim3(unsigned(rows)), dim3(decoder_threads)}, row_entries, values,
           indices, gy, gw_dec, d_in);
  if (gb) add_column_sums(gy, gb, rows, d_in);
}

}  // namespace detail

template <DeviceReal T>
void sparse_decoder_forward(const T* values, const std::int32_t* indices, const T* w_dec, optional_in<T> b, T* y, index_t rows, index_t k,
                            index_t d_in) {
  detail::require_extents("cuda::sparse_decoder_forward", rows, d_in);
  detail::require(k >= 0, "cuda::sparse_decoder_forward", "negative k");
  detail::decode_forward("cuda::sparse_decoder_forward", detail::fixed_rows{k}, values, indices, w_dec, b, y, rows, d_in);
}

// Any gradient may be nullptr; write_values store overwrites gvalues instead of adding.
template <DeviceReal T>
void sparse_decoder_backward(const T* values, const std::int32_t* indices, const T* w_dec, const T* gy, optional_out<T> gvalues,
                             optional_out<T> gw_dec, optional_out<T> gb, index_t rows, index_t k, index_t d_in,
                             grad_write write_values = grad_write::add) {
  detail::require_extents("cuda::sparse_decoder_backward", rows, d_in);
  detail::require(k >= 0, "cuda::sparse_decoder_backward", "negative k");
  detail::decode_backward("cuda::sparse_decoder_backward", detail::fixed_rows{k}, values, indices, w_dec, gy, k > 0 ? gvalues : nullptr,
                          k > 0 ? gw_dec : nullptr, gb, rows, d_in, write_values);
}

// The twins of cpu::sparse_decode_forward / sparse_decode_backward (same arguments; s's arrays in
// device memory, by_column unused: the weight gradient adds with atomics). y is overwritten; the
// gradients are added into.
template <DeviceReal T>
void sparse_decode_forward(const cpu::CompressedRows& s, const T* values, const T* w, index_t n, optional_in<T> bias, T* y) {
  detail::require_extents("cuda::sparse_decode_forward", s.rows, n);
  detail::decode_forward("cuda::sparse_decode_forward", detail::compressed_rows{s.row_offsets}, values, s.columns, w, bias, y, s.rows, n);
}
template <DeviceReal T>
void sparse_decode_backward(const cpu::CompressedRows& s, const cpu::EntriesByColumn&, const T* values, const T* w, index_t n, const T* gy,
                            optional_out<T> gvalues, optional_out<T> gw, optional_out<T> gbias) {
  detail::require_extents("cuda::sparse_decode_backward", s.rows, n);
  detail::decode_backward("cuda::sparse_decode_backward", detail::compressed_rows{s.row_offsets}, values, s.columns, w, gy, gvalues, gw, gbias,
                          s.rows, n, grad_write::add);
}

}  // namespace ranklens::cuda
