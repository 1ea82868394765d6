// Switch point for the low-rank (LoRA) paths: the adapter's update and its backward, the
// adapter activations alone, and a GEMM with the low-rank product added. Twins:
// cpu/low_rank.hpp and cpu/low_rank_gemm.hpp, cuda/low_rank.cuh (update and backward only).
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/low_rank.cuh"
#else
#include "ranklens/cpu/low_rank.hpp"
#include "ranklens/cpu/low_rank_gemm.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(low_rank_forward)
RANKLENS_BACKEND_KERNEL(low_rank_backward)
RANKLENS_BACKEND_CPU_KERNEL(low_rank_activations)
RANKLENS_BACKEND_CPU_KERNEL(gemm_plus_low_rank)

}  // namespace ranklens::backend
