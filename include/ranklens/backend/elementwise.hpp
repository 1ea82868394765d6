// Switch point for the elementwise kernels: unary and binary functions, forward and backward
// (same shape, b broadcast along rows, any strided layouts), filling with one value and
// scaling. Twins: cpu/elementwise.hpp and cpu/strided_binary.hpp, cuda/elementwise.cuh and
// cuda/strided_binary.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/strided_binary.cuh"
#else
#include "ranklens/cpu/elementwise.hpp"
#include "ranklens/cpu/strided_binary.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(unary_forward)
RANKLENS_BACKEND_KERNEL(unary_backward)
RANKLENS_BACKEND_KERNEL(binary_forward)
RANKLENS_BACKEND_KERNEL(binary_backward)
RANKLENS_BACKEND_KERNEL(binary_forward_broadcast_row)
RANKLENS_BACKEND_KERNEL(binary_backward_broadcast_row)
RANKLENS_BACKEND_KERNEL(fill)
RANKLENS_BACKEND_KERNEL(scale)
RANKLENS_BACKEND_KERNEL(binary_forward_strided)
RANKLENS_BACKEND_KERNEL(binary_backward_strided)

}  // namespace ranklens::backend
