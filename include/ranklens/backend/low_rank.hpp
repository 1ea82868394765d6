// Switch point for the low-rank (LoRA) paths: the adapter's update and its backward, the
// adapter activations alone, and a GEMM with the low-rank product added. Twins:
// cpu/low_rank.hpp and cpu/low_rank_gemm.hpp, cuda/low_rank.cuh (update and backward only).
#pragma once
#include <concepts>

#include "ranklens/backend/kernel.hpp"
#include "ranklens/cpu/low_rank_args.hpp"
#include "ranklens/cuda/low_rank_args.hpp"

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

// The largest rank device D's row kernels (low_rank_forward, low_rank_backward) take; larger
// ranks are two GEMMs (adapt/low_rank_adapter.hpp).
template <Device D>
inline constexpr index_t low_rank_max_rank = std::same_as<D, cpu_t> ? cpu::low_rank_max_rank : cuda::max_low_rank;

}  // namespace ranklens::backend
