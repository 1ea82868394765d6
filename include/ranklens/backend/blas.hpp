// Switch point for the matrix products and the bias: GEMM (single and strided-batched), GEMM
// with a bias on every row, bias rows, the column sums of a bias gradient. Twins:
// cpu/blas.hpp and cpu/bias.hpp, cuda/blas.cuh and cuda/reduce.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/blas.cuh"
#include "ranklens/cuda/reduce.cuh"
#else
#include "ranklens/cpu/bias.hpp"
#include "ranklens/cpu/blas.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(gemm)
RANKLENS_BACKEND_KERNEL(gemm_strided_batched)
RANKLENS_BACKEND_KERNEL(gemm_plus_bias)
RANKLENS_BACKEND_KERNEL(fill_rows)
RANKLENS_BACKEND_KERNEL(add_column_sums)

}  // namespace ranklens::backend
