// Device tags. Every tensor type names its device, so a CPU tensor can never be handed to a
// CUDA kernel by mistake; the CUDA backend (ranklens/cuda/) specialises device_memory<cuda_t>.
#pragma once
#include <concepts>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ranklens/core/config.hpp"

namespace ranklens {

// Tag types only (no objects named cpu/cuda: those names are the kernel namespaces).
struct cpu_t {
  static constexpr const char* name = "cpu";
};
struct cuda_t {
  static constexpr const char* name = "cuda";
};

template <class D>
concept Device = std::same_as<D, cpu_t> || std::same_as<D, cuda_t>;

// The device a type works on: its device_type (tensors, modules, optimizers), or cpu_t where it
// names none.
template <class X>
struct device_of {
  using type = cpu_t;
};
template <class X>
  requires requires { typename X::device_type; }
struct device_of<X> {
  using type = typename X::device_type;
};
template <class X>
using device_of_t = typename device_of<X>::type;

// Raw memory on a device. The CPU version is defined here; ranklens/cuda/ defines cuda_t's.
template <Device D>
struct device_memory;

template <>
struct device_memory<cpu_t> {
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    // aligned_alloc needs a size that is a multiple of the alignment.
    const std::size_t rounded = (bytes + tensor_alignment - 1) / tensor_alignment * tensor_alignment;
    void* p = std::aligned_alloc(tensor_alignment, rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  static void deallocate(void* p) noexcept { std::free(p); }
  static void zero(void* p, std::size_t bytes) noexcept {
    if (bytes) std::memset(p, 0, bytes);
  }
  static void copy(void* dst, const void* src, std::size_t bytes) noexcept {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  // Transfers with host memory, for code written once for every device (a loss's seed, an
  // anomaly check, token ids); on the CPU they are plain copies.
  static void copy_to_host(void* host, const void* src, std::size_t bytes) noexcept { copy(host, src, bytes); }
  static void copy_from_host(void* dst, const void* host, std::size_t bytes) noexcept { copy(dst, host, bytes); }
};

}  // namespace ranklens
