// Switch point for the fused causal attention, forward and backward. Twins:
// cpu/causal_attention.hpp, cuda/causal_attention.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/causal_attention.cuh"
#else
#include "ranklens/cpu/causal_attention.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(causal_attention_forward)
RANKLENS_BACKEND_KERNEL(causal_attention_backward)

}  // namespace ranklens::backend
