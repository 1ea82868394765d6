// Switch point for filling the future keys of attention scores, forward and backward. CPU
// kernel: cpu/causal_mask.hpp (no CUDA twin yet).
#pragma once
#include "ranklens/backend/kernel.hpp"
#include "ranklens/cpu/causal_mask.hpp"

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(causal_mask_fill_forward)
RANKLENS_BACKEND_KERNEL(causal_mask_fill_backward)

}  // namespace ranklens::backend
