// Switch point for softmax, log-softmax and the causal softmax, forward and backward. Twins:
// cpu/softmax.hpp, cuda/softmax.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/softmax.cuh"
#else
#include "ranklens/cpu/softmax.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(softmax_forward)
RANKLENS_BACKEND_KERNEL(softmax_backward)
RANKLENS_BACKEND_KERNEL(log_softmax_forward)
RANKLENS_BACKEND_KERNEL(log_softmax_backward)
RANKLENS_BACKEND_KERNEL(causal_softmax_forward)
RANKLENS_BACKEND_KERNEL(causal_softmax_backward)

}  // namespace ranklens::backend
