// device_memory<cuda_t>: what core/ needs to place Tensors and the tape arena on a GPU, and
// explicit host <-> device transfers (never implicit: a copy across PCIe is a decision).
#pragma once
#include "ranklens/core/tensor.hpp"
#include "ranklens/cuda/check.hpp"

namespace ranklens {

template <>
struct device_memory<cuda_t> {
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    cuda::check(cudaMalloc(&p, bytes), "cudaMalloc");  // 256-byte aligned: more than tensor_alignment
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p) (void)cudaFree(p);
  }
  static void zero(void* p, std::size_t bytes) {
    if (bytes) cuda::check(cudaMemset(p, 0, bytes), "cudaMemset");
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) cuda::check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy (device to device)");
  }
};

template <class T, ShapeType S>
Tensor<T, S, cuda_t> to_device(const Tensor<T, S, cpu_t>& host) {
  Tensor<T, S, cuda_t> out(host.shape());
  if (host.bytes()) cuda::check(cudaMemcpy(out.data(), host.data(), host.bytes(), cudaMemcpyHostToDevice), "to_device");
  return out;
}

template <class T, ShapeType S>
Tensor<T, S, cpu_t> to_host(const Tensor<T, S, cuda_t>& device) {
  Tensor<T, S, cpu_t> out(device.shape());
  if (device.bytes()) cuda::check(cudaMemcpy(out.data(), device.data(), device.bytes(), cudaMemcpyDeviceToHost), "to_host");
  return out;
}

}  // namespace ranklens
