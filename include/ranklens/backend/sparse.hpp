// Switch point for the sparse autoencoder's kernels: latent selection (TopK per row,
// BatchTopK, a threshold per latent), the encoder's backward over active entries, and the
// sparse decoder. Twins: cpu/latent_selection.hpp, cpu/sparse_encode.hpp, cpu/sparse_decode.hpp;
// cuda/latent_selection.cuh, cuda/sparse_encode.cuh, cuda/sparse_decoder.cuh (the pattern in
// device memory; counts come back to the host).
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/latent_selection.cuh"
#include "ranklens/cuda/sparse_decoder.cuh"
#include "ranklens/cuda/sparse_encode.cuh"
#else
#include "ranklens/cpu/latent_selection.hpp"
#include "ranklens/cpu/sparse_decode.hpp"
#include "ranklens/cpu/sparse_encode.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(top_k_per_row)
RANKLENS_BACKEND_KERNEL(batch_top_k)
RANKLENS_BACKEND_KERNEL(count_above_threshold)
RANKLENS_BACKEND_KERNEL(gather_above_threshold)
RANKLENS_BACKEND_KERNEL(sparse_encode_backward)
RANKLENS_BACKEND_KERNEL(sparse_decode_forward)
RANKLENS_BACKEND_KERNEL(sparse_decode_backward)

}  // namespace ranklens::backend
