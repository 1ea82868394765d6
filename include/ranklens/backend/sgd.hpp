// Switch point for the SGD update, one fused pass per parameter or over a list of them
// (sgd_update_many). Twins: cpu/sgd.hpp, cuda/sgd.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/sgd.cuh"
#else
#include "ranklens/cpu/sgd.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(sgd_update)
RANKLENS_BACKEND_KERNEL(sgd_update_many)

}  // namespace ranklens::backend
