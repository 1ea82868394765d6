// The low-rank kernels' limits, without their SIMD code: what ops/ and adapt/ check against in
// every translation unit, a CUDA one included.
#pragma once
#include "ranklens/core/config.hpp"

namespace ranklens::cpu {

// Ranks these kernels take; larger ones are GEMM-shaped and go to BLAS (adapt/).
inline constexpr index_t low_rank_max_rank = 64;

}  // namespace ranklens::cpu
