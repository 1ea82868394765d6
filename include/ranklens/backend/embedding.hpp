// Switch point for the embedding gather and its scatter-add. Twins: cpu/embedding.hpp,
// cuda/embedding.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/embedding.cuh"
#else
#include "ranklens/cpu/embedding.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(embedding_forward)
RANKLENS_BACKEND_KERNEL(embedding_backward)
RANKLENS_BACKEND_PLAIN_KERNEL(embedding_ids)

}  // namespace ranklens::backend
