// Switch point for the coefficient of global-norm gradient clipping and its use. Twins:
// cpu/clip_coefficient.hpp, cuda/clip_coefficient.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/clip_coefficient.cuh"
#else
#include "ranklens/cpu/clip_coefficient.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_PLAIN_KERNEL(clip_coefficient)
RANKLENS_BACKEND_PLAIN_KERNEL(scale_by_clip_coefficient)
RANKLENS_BACKEND_PLAIN_KERNEL(scale_by_clip_coefficient_many)

}  // namespace ranklens::backend
