// A run of n elements of T, the list entry of the kernels that treat many arrays at once
// (zero_many, sum_of_squares_many, scale_by_clip_coefficient_many). No SIMD here, so that nvcc
// can include it.
#pragma once
#include "ranklens/core/config.hpp"

namespace ranklens::cpu {

template <class T>
struct array_range {
  T* data;
  index_t n;
};

}  // namespace ranklens::cpu
