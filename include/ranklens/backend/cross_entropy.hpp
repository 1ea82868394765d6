// Switch point for the fused cross-entropy, forward and backward. Twins:
// cpu/cross_entropy.hpp, cuda/cross_entropy.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"
#include "ranklens/cpu/cross_entropy.hpp"

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(cross_entropy_forward)
RANKLENS_BACKEND_KERNEL(cross_entropy_backward)

}  // namespace ranklens::backend
