// Switch point for copies between strided layouts of one shape (store or add). CPU kernel:
// cpu/strided_copy.hpp (no CUDA twin yet).
#pragma once
#include "ranklens/backend/kernel.hpp"

#if !RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cpu/strided_copy.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_CPU_KERNEL(copy_strided)

}  // namespace ranklens::backend
