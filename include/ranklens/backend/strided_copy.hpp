// Switch point for copies between strided layouts of one shape (store or add). Twins:
// cpu/strided_copy.hpp, cuda/strided_copy.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/strided_copy.cuh"
#else
#include "ranklens/cpu/strided_copy.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(copy_strided)

}  // namespace ranklens::backend
