// The coefficient of global-norm gradient clipping, from each parameter's sum of squares:
//   norm = sqrt(Σ_i totals[i])  (added in order, in double),
//   coefficient = min(1, max_norm / (norm + 1e-6)),
// with a NaN norm giving a NaN coefficient (as torch's clamp does); and its use, every gradient
// times the coefficient. Read and written in memory, not passed by value, so that the device twins
// (cuda/clip_coefficient.cuh) clip without the host waiting and a captured graph can clip.
#pragma once
#include <cmath>

#include "ranklens/core/config.hpp"
#include "ranklens/cpu/clip_coefficient_formula.hpp"
#include "ranklens/cpu/elementwise.hpp"

namespace ranklens::cpu {

// totals: (count); norm, coefficient: one float each.
inline void clip_coefficient(const float* totals, index_t count, double max_norm, float* norm, float* coefficient) {
  double sum = 0;
  for (index_t i = 0; i < count; ++i) sum += double(totals[i]);
  const double total = std::sqrt(sum);
  *norm = float(total);
  *coefficient = clip_coefficient_of(total, max_norm);
}

// x[i] *= *coefficient for i < n. A coefficient of exactly 1 (the norm under the limit, most steps)
// leaves x unread and unwritten: the branch the host cannot take without waiting is taken here.
inline void scale_by_clip_coefficient(const float* coefficient, float* x, index_t n) {
  const float c = *coefficient;
  if (c != 1.0f) scale(x, c, x, n);
}

}  // namespace ranklens::cpu
