// Switch point for filling the future keys of attention scores, forward and backward. CPU
// kernel: cpu/causal_mask.hpp (no CUDA twin yet).
#pragma once
#include "ranklens/backend/kernel.hpp"

#if !RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cpu/causal_mask.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_CPU_KERNEL(causal_mask_fill_forward)
RANKLENS_BACKEND_CPU_KERNEL(causal_mask_fill_backward)

}  // namespace ranklens::backend
