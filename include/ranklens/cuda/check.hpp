// CUDA runtime errors as ranklens exceptions naming the call that failed, and whether a usable
// device is present (tests skip themselves without one).
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

// True when the CUDA runtime finds at least one device it can use (false without a driver).
inline bool device_available() noexcept {
  int count = 0;
  const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  if (!ok) (void)cudaGetLastError();  // clear the sticky "no driver" error
  return ok;
}

}  // namespace ranklens::cuda
