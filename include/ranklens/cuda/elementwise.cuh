// Elementwise CUDA kernels (compiled by nvcc): a grid-stride loop per op. This first kernel
// proves the device path end to end; the CUDA backend grows from here.
#pragma once
#include <algorithm>

#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/cuda/device_memory.hpp"

namespace ranklens::cuda {

template <class T>
__global__ void add_kernel(const T* a, const T* b, T* y, index_t n) {
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) y[i] = a[i] + b[i];
}

// y = a + b for device tensors of one shape.
template <class T, ShapeType S>
void add(const Tensor<T, S, cuda_t>& a, const Tensor<T, S, cuda_t>& b, Tensor<T, S, cuda_t>& y) {
  require_same_shape("cuda::add", a.shape(), b.shape());
  require_same_shape("cuda::add", a.shape(), y.shape());
  const index_t n = a.numel();
  if (n == 0) return;
  const int threads = 256;
  const int blocks = int(std::min<index_t>((n + threads - 1) / threads, 65535));
  add_kernel<T><<<blocks, threads>>>(a.data(), b.data(), y.data(), n);
  check(cudaGetLastError(), "cuda::add launch");
  check(cudaDeviceSynchronize(), "cuda::add");
}

}  // namespace ranklens::cuda
