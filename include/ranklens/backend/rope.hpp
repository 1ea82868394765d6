// Switch point for the rotary embedding, forward and backward (the cos/sin tables are made on
// the host by cpu::rope_tables for every device). Twins: cpu/rope.hpp, cuda/rope.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/rope.cuh"
#else
#include "ranklens/cpu/rope.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_PLAIN_KERNEL(rope_tables)
RANKLENS_BACKEND_KERNEL(rope_forward)
RANKLENS_BACKEND_KERNEL(rope_backward)

}  // namespace ranklens::backend
