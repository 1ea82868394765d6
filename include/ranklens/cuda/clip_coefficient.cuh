// The coefficient of global-norm gradient clipping on the device, the twin of
// cpu/clip_coefficient.hpp (the formula: cpu/clip_coefficient_formula.hpp): one thread adds the
// partial sums of squares in order, in double, and writes the norm and
// min(1, max_norm / (norm + 1e-6)); then the gradients are scaled by it, read on the device (a
// launch or a few for all of them: scale_by_clip_coefficient_many). No waiting: a captured graph
// can clip.
#pragma once
#include <span>

#include "ranklens/cpu/array_range.hpp"
#include "ranklens/cpu/clip_coefficient_formula.hpp"
#include "ranklens/cuda/launch.cuh"
#include "ranklens/cuda/patterns.cuh"
#include "ranklens/cuda/tensor_lists.cuh"

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

// x[i] *= c, where every thread first reads c (one cached word) and a c of exactly 1 skips the
// element's read and write: a step under the limit costs a launch, not a pass over the gradients.
struct scale_by_clip_coefficient_map {
  const float* coefficient;
  float* x;
  __device__ float load(index_t i) const { return *coefficient == 1.0f ? 0.0f : x[i]; }
  __device__ void store(index_t i, float v) const {
    const float c = *coefficient;
    if (c != 1.0f) x[i] = v * c;
  }
};

// The same for a list entry (for_each_in_list): the coefficient read once per thread.
struct scale_by_clip_coefficient_list_op {
  const float* coefficient;
  struct bound {
    float c;
    __device__ float load(const cpu::array_range<float>& g, index_t i) const { return c == 1.0f ? 0.0f : g.data[i]; }
    __device__ void store(const cpu::array_range<float>& g, index_t i, float v) const {
      if (c != 1.0f) g.data[i] = v * c;
    }
  };
  __device__ bound bind() const { return {*coefficient}; }
};

}  // namespace detail

// totals: (count); norm, coefficient: one float each; all device memory.
inline void clip_coefficient(const float* totals, index_t count, double max_norm, float* norm, float* coefficient) {
  launch("cuda::clip_coefficient", detail::clip_coefficient_kernel<index_t>, launch_shape{dim3(1), dim3(1)}, totals, count, max_norm, norm,
         coefficient);
}

// x[i] *= *coefficient for i < n; x and coefficient device memory. The twin of
// cpu::scale_by_clip_coefficient.
inline void scale_by_clip_coefficient(const float* coefficient, float* x, index_t n) {
  map("cuda::scale_by_clip_coefficient", n, detail::scale_by_clip_coefficient_map{coefficient, x});
}

// The same over a list of gradients (device memory) in a launch or a few, not one per gradient.
// `chunk` (elements per block) is for the tests.
inline void scale_by_clip_coefficient_many(const float* coefficient, std::span<const cpu::array_range<float>> gradients,
                                           index_t chunk = detail::list_chunk) {
  for_each_in_list("cuda::scale_by_clip_coefficient_many", gradients, detail::scale_by_clip_coefficient_list_op{coefficient}, chunk);
}

}  // namespace ranklens::cuda
