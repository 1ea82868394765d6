// The coefficient of global-norm gradient clipping, from each parameter's sum of squares:
//   norm = sqrt(Σ_i totals[i])  (added in order, in double),
//   coefficient = min(1, max_norm / (norm + 1e-6)),
// with a NaN norm giving a NaN coefficient (as torch's clamp does). Written to memory, not
// returned, so that a device twin (cuda/clip_coefficient.cuh) computes it without the host
// waiting and a captured graph can clip.
#pragma once
#include <cmath>

#include "ranklens/core/config.hpp"

namespace ranklens::cpu {

// The formula both twins share: one thread's work.
constexpr float clip_coefficient_of(double norm, double max_norm) noexcept {
  const double coefficient = max_norm / (norm + 1e-6);
  return float(coefficient < 1.0 || coefficient != coefficient ? coefficient : 1.0);
}

// totals: (count); norm, coefficient: one float each.
inline void clip_coefficient(const float* totals, index_t count, double max_norm, float* norm, float* coefficient) {
  double sum = 0;
  for (index_t i = 0; i < count; ++i) sum += double(totals[i]);
  const double total = std::sqrt(sum);
  *norm = float(total);
  *coefficient = clip_coefficient_of(total, max_norm);
}

}  // namespace ranklens::cpu
