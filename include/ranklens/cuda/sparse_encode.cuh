// The backward of a sparse autoencoder's encoder at its active entries only: the twin of
// cpu/sparse_encode.hpp (see there for the formulas). g: one gradient per entry (∂loss/∂pre);
// xt: the centred input (s.rows, n); w: W_enc (n, s.cols). Adds into whichever of gx (s.rows, n),
// gw (n, s.cols), gb (s.cols) and gc (n) are not nullptr.
//
// One block per row: its threads walk the row's n inputs, each reading the row's entries (k of
// them) to form gx̃[r, i] = Σ_e g_e · W[i, j_e], and adding g_e · x̃[r, i] into gW[i, j_e]. gW, gb
// and gc collect from every row, with atomics (their last bits vary from run to run; the CPU
// twin adds per latent in row order); by_column is not needed.
#pragma once
#include <cstdint>

#include "ranklens/cpu/sparse_rows.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int encode_backward_threads = 128;

template <class T>
__global__ void __launch_bounds__(encode_backward_threads)
    sparse_encode_backward_kernel(const index_t* row_offsets, const std::int32_t* columns, const T* g, const T* xt, const T* w, index_t n,
                                  index_t m, T* gx, T* gw, T* gb, T* gc) {
  const index_t r = blockIdx.x, first = row_offsets[r], last = row_offsets[r + 1];
  for (index_t i = threadIdx.x; i < n; i += encode_backward_threads) {
    const float x_ri = to_float(xt[r * n + i]);
    float acc = 0;
    for (index_t e = first; e < last; ++e) {
      const float ge = to_float(g[e]);
      const index_t j = columns[e];
      acc = fmaf(ge, to_float(w[i * m + j]), acc);
      if (gw != nullptr) atomic_add(gw + i * m + j, ge * x_ri);
    }
    if (gx != nullptr) gx[r * n + i] = from_float<T>(to_float(gx[r * n + i]) + acc);
    if (gc != nullptr) atomic_add(gc + i, -acc);
  }
  if (gb != nullptr)
    for (index_t e = first + threadIdx.x; e < last; e += encode_backward_threads) atomic_add(gb + columns[e], to_float(g[e]));
}

}  // namespace detail

template <DeviceReal T>
void sparse_encode_backward(const cpu::CompressedRows& s, const cpu::EntriesByColumn&, const T* g, const T* xt, const T* w, index_t n,
                            optional_out<T> gx, optional_out<T> gw, optional_out<T> gb, optional_out<T> gc) {
  detail::require_extents("cuda::sparse_encode_backward", s.rows, n);
  if (s.rows == 0 || (gx == nullptr && gw == nullptr && gb == nullptr && gc == nullptr)) return;
  launch("cuda::sparse_encode_backward", detail::sparse_encode_backward_kernel<T>,
         launch_shape{dim3(unsigned(s.rows)), dim3(detail::encode_backward_threads)}, s.row_offsets, s.columns, g, xt, w, n, s.cols, gx, gw, gb,
         gc);
}

}  // namespace ranklens::cuda
