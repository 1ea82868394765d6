// Switch point for filling the future keys of attention scores, forward and backward. Twins:
// cpu/causal_mask.hpp, cuda/causal_mask.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/causal_mask.cuh"
#else
#include "ranklens/cpu/causal_mask.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(causal_mask_fill_forward)
RANKLENS_BACKEND_KERNEL(causal_mask_fill_backward)

}  // namespace ranklens::backend
