// Switch point for zeroing a list of word runs at once (an optimizer's zero_grad). Twins:
// cpu/zero_many.hpp, cuda/zero_many.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/zero_many.cuh"
#else
#include "ranklens/cpu/zero_many.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_PLAIN_KERNEL(zero_many)

}  // namespace ranklens::backend
