// Switch point for the reductions: sum and max over one axis and their backward, the sum of
// every element and its backward, the sum of squares. Twins: cpu/reduce.hpp, cuda/reduce.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/reduce.cuh"
#else
#include "ranklens/cpu/reduce.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(sum_axis)
RANKLENS_BACKEND_KERNEL(sum_axis_backward)
RANKLENS_BACKEND_KERNEL(sum_all)
RANKLENS_BACKEND_KERNEL(max_axis)
RANKLENS_BACKEND_KERNEL(max_axis_backward)
RANKLENS_BACKEND_KERNEL(sum_all_backward)
RANKLENS_BACKEND_KERNEL(sum_of_squares)
RANKLENS_BACKEND_KERNEL(sum_of_squares_partials)
RANKLENS_BACKEND_KERNEL(sum_of_squares_many)

}  // namespace ranklens::backend
