// The CUDA low-rank kernels' limit, without their device code: what ops/ and adapt/ check
// against in every translation unit (backend/low_rank.hpp), a C++ one included.
#pragma once
#include "ranklens/core/config.hpp"

namespace ranklens::cuda {

// Ranks cuda/low_rank.cuh takes (its per-row registers); larger ones are GEMMs (adapt/).
inline constexpr index_t max_low_rank = 16;

}  // namespace ranklens::cuda
