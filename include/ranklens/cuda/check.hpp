// CUDA errors as ranklens exceptions naming the call that failed. Every CUDA runtime, cuBLAS and
// cuBLASLt call of the backend goes through one of these checks (runtime.hpp wraps the runtime's
// calls, blas.cuh the libraries'), and every kernel launch is followed by check_launch.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "ranklens/core/error.hpp"

namespace ranklens::cuda {

struct cuda_error : ranklens::error {
  using ranklens::error::error;
};

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw cuda_error(std::string(what) + ": " + cudaGetErrorString(status));
}

}  // namespace ranklens::cuda
