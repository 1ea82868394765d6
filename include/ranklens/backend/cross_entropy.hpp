// Switch point for the fused cross-entropy, forward and backward (per row, or of a reduced loss),
// and a reduced loss's factor. Twins: cpu/cross_entropy.hpp, cuda/cross_entropy.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/cross_entropy.cuh"
#else
#include "ranklens/cpu/cross_entropy.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(cross_entropy_forward)
RANKLENS_BACKEND_KERNEL(cross_entropy_backward)
RANKLENS_BACKEND_KERNEL(cross_entropy_backward_reduced)
RANKLENS_BACKEND_KERNEL(cross_entropy_scale)

}  // namespace ranklens::backend
