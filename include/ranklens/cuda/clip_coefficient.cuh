// The coefficient of global-norm gradient clipping on the device, the twin of
// cpu/clip_coefficient.hpp: one thread adds the parameters' sums of squares in order, in double,
// and writes the norm and min(1, max_norm / (norm + 1e-6)). No waiting: a captured graph can clip.
#pragma once
#include "ranklens/cpu/clip_coefficient.hpp"
#include "ranklens/cuda/launch.cuh"

namespace ranklens::cuda {

namespace detail {

template <class Index>
__global__ void clip_coefficient_kernel(const float* totals, Index count, double max_norm, float* norm, float* coefficient) {
  double sum = 0;
  for (Index i = 0; i < count; ++i) sum += double(totals[i]);
  const double total = ::sqrt(sum);  // not ranklens::sqrt, the op
  *norm = float(total);
  *coefficient = cpu::clip_coefficient_of(total, max_norm);
}

}  // namespace detail

// totals: (count); norm, coefficient: one float each; all device memory.
inline void clip_coefficient(const float* totals, index_t count, double max_norm, float* norm, float* coefficient) {
  launch("cuda::clip_coefficient", detail::clip_coefficient_kernel<index_t>, launch_shape{dim3(1), dim3(1)}, totals, count, max_norm, norm,
         coefficient);
}

}  // namespace ranklens::cuda
