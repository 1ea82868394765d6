// The cross-entropy kernels' argument conventions, without their SIMD code: what ops/ and the
// CUDA twin (cuda/cross_entropy.cuh) share with cpu/cross_entropy.hpp.
#pragma once
#include <cstdint>

namespace ranklens::cpu {

// Rows whose target is this have loss 0 and no gradient (PyTorch's ignore_index default).
inline constexpr std::int32_t default_ignore_index = -100;

}  // namespace ranklens::cpu
