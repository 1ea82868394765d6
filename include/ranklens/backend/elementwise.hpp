// Switch point for the elementwise kernels: unary and binary functions, forward and backward
// (same shape, and b broadcast along rows), and filling with one value. Twins: cpu/elementwise.hpp, cuda/elementwise.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"
#include "ranklens/cpu/elementwise.hpp"

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(unary_forward)
RANKLENS_BACKEND_KERNEL(unary_backward)
RANKLENS_BACKEND_KERNEL(binary_forward)
RANKLENS_BACKEND_KERNEL(binary_backward)
RANKLENS_BACKEND_KERNEL(binary_forward_broadcast_row)
RANKLENS_BACKEND_KERNEL(binary_backward_broadcast_row)
RANKLENS_BACKEND_KERNEL(fill)

}  // namespace ranklens::backend
