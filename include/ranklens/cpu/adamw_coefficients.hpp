// The per-step constants of one AdamW update, shared by cpu::adamw_update and
// cuda::adamw_update. No SIMD here, so that nvcc can include it.
#pragma once
#include "ranklens/core/dtype.hpp"

namespace ranklens::cpu {

// Computed by the optimizer in double and rounded to T once.
template <Real T>
struct adamw_coefficients {
  T decay;           // 1 − lr·weight_decay
  T beta1, beta2;
  T step_size;       // lr / (1 − β₁ᵗ)
  T inv_bias2_sqrt;  // 1 / √(1 − β₂ᵗ)
  T eps;
};

}  // namespace ranklens::cpu
