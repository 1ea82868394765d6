// Switch point for dropout, forward and backward. CPU kernel: cpu/dropout.hpp (no CUDA twin
// yet; core/counter_generator.hpp gives one the same bits).
#pragma once
#include "ranklens/backend/kernel.hpp"

#if !RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cpu/dropout.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_CPU_KERNEL(dropout_forward)
RANKLENS_BACKEND_CPU_KERNEL(dropout_backward)

}  // namespace ranklens::backend
