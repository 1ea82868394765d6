// Switch point for the AdamW update, one fused pass per parameter or over a list of them
// (adamw_update_many), and the step that computes its coefficients where they live
// (adamw_advance). Twins: cpu/adamw.hpp,
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
RANKLENS_BACKEND_KERNEL(adamw_update_many)
RANKLENS_BACKEND_KERNEL(adamw_advance)

}  // namespace ranklens::backend
