// Switch point for layer norm and RMS norm, forward and backward. Twins: cpu/norm.hpp,
// cuda/norm.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/norm.cuh"
#else
#include "ranklens/cpu/norm.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(layernorm_forward)
RANKLENS_BACKEND_KERNEL(layernorm_backward)
RANKLENS_BACKEND_KERNEL(rmsnorm_forward)
RANKLENS_BACKEND_KERNEL(rmsnorm_backward)

}  // namespace ranklens::backend
