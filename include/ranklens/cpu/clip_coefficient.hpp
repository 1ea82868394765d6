// The coefficient of global-norm gradient clipping, from partial sums of squares (one per
// parameter, or per chunk of the list on a device: sum_of_squares_many):
//   norm = sqrt(Σ_i totals[i])  (added in order, in double),
//   coefficient = min(1, max_norm / (norm + 1e-6)),
// with a NaN norm giving a NaN coefficient (as torch's clamp does); and its use, every gradient
// times the coefficient. Read and written in memory, not passed by value, so that the device twins
// (cuda/clip_coefficient.cuh) clip without the host waiting and a captured graph can clip.
#pragma once
#include <cmath>
#include <span>

#include "ranklens/core/config.hpp"
#include "ranklens/cpu/array_range.hpp"
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

// The same over a list of gradients: the twin of the device form, one launch or a few.
inline void scale_by_clip_coefficient_many(const float* coefficient, std::span<const array_range<float>> gradients) {
  for (const array_range<float>& g : gradients) scale_by_clip_coefficient(coefficient, g.data, g.n);
}

}  // namespace ranklens::cpu
