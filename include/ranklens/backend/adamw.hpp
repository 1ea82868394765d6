// Switch point for the AdamW update, one fused pass per parameter. Twins: cpu/adamw.hpp,
// cuda/adamw.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/adamw.cuh"
#else
#include "ranklens/cpu/adamw.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(adamw_update)

}  // namespace ranklens::backend
