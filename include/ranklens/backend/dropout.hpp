// Switch point for dropout: the key of a call, forward and backward. Twins: cpu/dropout.hpp,
// cuda/dropout.cuh (the same mask bit for bit: core/counter_generator.hpp; on CUDA a captured
// graph's keys advance with each replay: cuda/replay_counters.cuh).
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/dropout.cuh"
#else
#include "ranklens/cpu/dropout.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_PLAIN_KERNEL(dropout_key)
RANKLENS_BACKEND_KERNEL(dropout_forward)
RANKLENS_BACKEND_KERNEL(dropout_backward)

}  // namespace ranklens::backend
