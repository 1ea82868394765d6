// The coefficient of global-norm gradient clipping from the norm, min(1, max_norm / (norm + 1e-6))
// with a NaN norm giving NaN (as torch's clamp does): one formula for cpu::clip_coefficient and
// cuda::clip_coefficient. No SIMD here, so that nvcc can include it.
#pragma once

namespace ranklens::cpu {

constexpr float clip_coefficient_of(double norm, double max_norm) noexcept {
  const double coefficient = max_norm / (norm + 1e-6);
  return float(coefficient < 1.0 || coefficient != coefficient ? coefficient : 1.0);
}

}  // namespace ranklens::cpu
