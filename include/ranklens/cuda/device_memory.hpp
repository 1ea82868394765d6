// device_memory<cuda_t>: what core/ needs to place Tensors and the tape arena on a GPU (memory
// from the caching allocator; zeroing and copies queued on the current stream), and explicit
// host <-> device transfers (never implicit: a copy across PCIe is a decision).
#pragma once
#include "ranklens/core/tensor.hpp"
#include "ranklens/cuda/caching_allocator.hpp"

namespace ranklens {

template <>
struct device_memory<cuda_t> {
  // At least 256-byte aligned (cudaMalloc's alignment, and the allocator rounds sizes to 512):
  // more than tensor_alignment.
  static void* allocate(std::size_t bytes) { return cuda::caching_allocator::instance().allocate(bytes); }
  static void deallocate(void* p) noexcept { cuda::caching_allocator::instance().deallocate(p); }
  static void zero(void* p, std::size_t bytes) { cuda::runtime::memset_async(p, 0, bytes, cuda::current_stream()); }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    cuda::runtime::copy_async(dst, src, bytes, cuda::current_stream(), "cudaMemcpyAsync (device to device)");
  }
  // Both wait for the stream (the host side may be reused or read at once) and are refused
  // while the stream is captured into a graph.
  static void copy_to_host(void* host, const void* src, std::size_t bytes) {
    cuda::runtime::require_not_capturing(cuda::current_stream(), "device_memory<cuda_t>::copy_to_host");
    cuda::runtime::copy_async(host, src, bytes, cuda::current_stream(), "cudaMemcpyAsync (device to host)");
    cuda::synchronize();
  }
  static void copy_from_host(void* dst, const void* host, std::size_t bytes) {
    cuda::runtime::require_not_capturing(cuda::current_stream(), "device_memory<cuda_t>::copy_from_host");
    cuda::runtime::copy_async(dst, host, bytes, cuda::current_stream(), "cudaMemcpyAsync (host to device)");
    cuda::synchronize();
  }
};

namespace cuda {

// dst (device) = src (host), `count` elements. Returns when src may be reused. Refused while the
// current stream is captured into a graph (graph.hpp), as is copy_to_host.
template <class T>
void copy_to_device(T* dst, const T* src, index_t count) {
  runtime::require_not_capturing(current_stream(), "cuda::copy_to_device");
  runtime::copy_async(dst, src, sizeof(T) * std::size_t(count), current_stream(), "cudaMemcpyAsync (host to device)");
  synchronize();
}

// dst (host) = src (device), `count` elements, after the work queued before it.
template <class T>
void copy_to_host(T* dst, const T* src, index_t count) {
  runtime::require_not_capturing(current_stream(), "cuda::copy_to_host");
  runtime::copy_async(dst, src, sizeof(T) * std::size_t(count), current_stream(), "cudaMemcpyAsync (device to host)");
  synchronize();
}

}  // namespace cuda

template <class T, ShapeType S>
Tensor<T, S, cuda_t> to_device(const Tensor<T, S, cpu_t>& host) {
  Tensor<T, S, cuda_t> out(host.shape());
  cuda::copy_to_device(out.data(), host.data(), host.numel());
  return out;
}

template <class T, ShapeType S>
Tensor<T, S, cpu_t> to_host(const Tensor<T, S, cuda_t>& device) {
  Tensor<T, S, cpu_t> out(device.shape());
  cuda::copy_to_host(out.data(), device.data(), device.numel());
  return out;
}

}  // namespace ranklens
