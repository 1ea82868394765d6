// The CUDA runtime calls the backend makes, each checked (an error becomes a cuda_error naming
// the call), in one place, so that the host emulation (emulation.hpp) can stand in for them.
// Memory is plain cudaMalloc memory, never managed memory. Copies use cudaMemcpyDefault: with
// unified virtual addressing the runtime tells host from device pointers itself.
#pragma once
#if defined(RANKLENS_CUDA_EMULATION)
#include "ranklens/cuda/emulation.hpp"
#endif
#include <cuda_runtime.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ranklens/cuda/check.hpp"

namespace ranklens::cuda {

#if defined(RANKLENS_CUDA_EMULATION)
inline constexpr bool emulated = true;
#else
inline constexpr bool emulated = false;
#endif

// True when the CUDA runtime finds at least one device it can use (false without a driver);
// always true in the host emulation.
inline bool device_available() noexcept {
  if constexpr (emulated) {
    return true;
  } else {
    int count = 0;
    const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
    if (!ok) (void)cudaGetLastError();  // clear the sticky "no driver" error
    return ok;
  }
}

namespace runtime {

// What one launch may ask of the current device (cudaDeviceProp's names).
struct launch_limits {
  unsigned max_threads_per_block = 1024;
  unsigned max_block[3] = {1024, 1024, 64};
  unsigned max_grid[3] = {2147483647u, 65535, 65535};
  std::size_t max_shared_per_block = 227 * 1024;  // with the opt-in above 48 KB
};

#if defined(RANKLENS_CUDA_EMULATION)

namespace detail {
struct emulated_event {
  std::chrono::steady_clock::time_point at;
};
}  // namespace detail

inline cudaError_t try_malloc(void** p, std::size_t bytes) noexcept {
  *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline void free(void* p) noexcept { std::free(p); }
inline void copy_async(void* dst, const void* src, std::size_t bytes, cudaStream_t, const char*) {
  if (bytes) emulation::run_or_record([=] { std::memmove(dst, src, bytes); });
}
inline void memset_async(void* p, int value, std::size_t bytes, cudaStream_t) {
  if (bytes) emulation::run_or_record([=] { std::memset(p, value, bytes); });
}
// The emulation has one stream of work per thread: a capture records all of it.
inline bool is_capturing(cudaStream_t) { return emulation::current_recording != nullptr; }
inline void require_not_capturing(cudaStream_t stream, const char* what) {
  if (is_capturing(stream))
    throw cuda_error(std::string(what) + ": the stream is being captured into a CUDA graph, which cannot wait for the device or copy to the host");
}
inline void synchronize(cudaStream_t stream, const char* what) { require_not_capturing(stream, what); }
inline void device_synchronize(const char* what) { require_not_capturing(nullptr, what); }
inline cudaStream_t create_stream() { return reinterpret_cast<cudaStream_t>(new char); }
inline void destroy_stream(cudaStream_t s) noexcept { delete reinterpret_cast<char*>(s); }
inline cudaEvent_t create_event() { return reinterpret_cast<cudaEvent_t>(new detail::emulated_event{}); }
inline void destroy_event(cudaEvent_t e) noexcept { delete reinterpret_cast<detail::emulated_event*>(e); }
inline void record_event(cudaEvent_t e, cudaStream_t) {
  reinterpret_cast<detail::emulated_event*>(e)->at = std::chrono::steady_clock::now();
}
inline void synchronize_event(cudaEvent_t) {}
inline float elapsed_ms(cudaEvent_t start, cudaEvent_t stop) {
  const auto* a = reinterpret_cast<detail::emulated_event*>(start);
  const auto* b = reinterpret_cast<detail::emulated_event*>(stop);
  return std::chrono::duration<float, std::milli>(b->at - a->at).count();
}
inline int current_device() { return 0; }
inline int multiprocessors() { return 4; }
inline std::size_t max_shared_per_block() { return 227 * 1024; }
inline const launch_limits& current_launch_limits() {  // an sm_90 device's
  static const launch_limits limits;
  return limits;
}
template <class Kernel>
void allow_dynamic_shared(Kernel, std::size_t) {}
inline void check_last_launch(const char*) {}

#else

inline cudaError_t try_malloc(void** p, std::size_t bytes) noexcept {
  const cudaError_t status = cudaMalloc(p, bytes);
  if (status != cudaSuccess) (void)cudaGetLastError();  // an allocation failure is not sticky; clear it
  return status;
}
inline void free(void* p) noexcept {
  if (p) (void)cudaFree(p);
}
inline void copy_async(void* dst, const void* src, std::size_t bytes, cudaStream_t stream, const char* what) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream), what);
}
inline void memset_async(void* p, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes) check(cudaMemsetAsync(p, value, bytes, stream), "cudaMemsetAsync");
}
inline bool is_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}
// A stream being captured into a graph cannot wait for the device or copy to pageable host memory:
// CUDA would fail the call and invalidate the whole capture. Asked first, the error names what was
// attempted and the capture stays usable.
inline void require_not_capturing(cudaStream_t stream, const char* what) {
  if (is_capturing(stream))
    throw cuda_error(std::string(what) + ": the stream is being captured into a CUDA graph, which cannot wait for the device or copy to the host");
}
inline void synchronize(cudaStream_t stream, const char* what) {
  require_not_capturing(stream, what);
  check(cudaStreamSynchronize(stream), what);
}
inline void device_synchronize(const char* what) { check(cudaDeviceSynchronize(), what); }
inline cudaStream_t create_stream() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return s;
}
inline void destroy_stream(cudaStream_t s) noexcept {
  if (s) (void)cudaStreamDestroy(s);
}
inline cudaEvent_t create_event() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreate(&e), "cudaEventCreate");
  return e;
}
inline void destroy_event(cudaEvent_t e) noexcept {
  if (e) (void)cudaEventDestroy(e);
}
inline void record_event(cudaEvent_t e, cudaStream_t stream) { check(cudaEventRecord(e, stream), "cudaEventRecord"); }
inline void synchronize_event(cudaEvent_t e) { check(cudaEventSynchronize(e), "cudaEventSynchronize"); }
inline float elapsed_ms(cudaEvent_t start, cudaEvent_t stop) {
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  return ms;
}
inline int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}
inline int multiprocessors() {
  int count = 0;
  check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, current_device()),
        "cudaDeviceGetAttribute(cudaDevAttrMultiProcessorCount)");
  return count;
}
inline std::size_t max_shared_per_block() {
  int bytes = 0;
  check(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, current_device()),
        "cudaDeviceGetAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin)");
  return std::size_t(bytes);
}
// The current device's limits, read once per device.
inline const launch_limits& current_launch_limits() {
  constexpr int max_devices = 64;
  static launch_limits limits[max_devices];
  static std::once_flag read[max_devices];
  const int device = current_device();
  if (device < 0 || device >= max_devices) throw cuda_error("cuda::launch: device " + std::to_string(device) + " is past the 64 this backend knows");
  std::call_once(read[device], [device] {
    auto attribute = [device](cudaDeviceAttr which, const char* name) {
      int value = 0;
      check(cudaDeviceGetAttribute(&value, which, device), name);
      return unsigned(value);
    };
    launch_limits& l = limits[device];
    l.max_threads_per_block = attribute(cudaDevAttrMaxThreadsPerBlock, "cudaDeviceGetAttribute(cudaDevAttrMaxThreadsPerBlock)");
    l.max_block[0] = attribute(cudaDevAttrMaxBlockDimX, "cudaDeviceGetAttribute(cudaDevAttrMaxBlockDimX)");
    l.max_block[1] = attribute(cudaDevAttrMaxBlockDimY, "cudaDeviceGetAttribute(cudaDevAttrMaxBlockDimY)");
    l.max_block[2] = attribute(cudaDevAttrMaxBlockDimZ, "cudaDeviceGetAttribute(cudaDevAttrMaxBlockDimZ)");
    l.max_grid[0] = attribute(cudaDevAttrMaxGridDimX, "cudaDeviceGetAttribute(cudaDevAttrMaxGridDimX)");
    l.max_grid[1] = attribute(cudaDevAttrMaxGridDimY, "cudaDeviceGetAttribute(cudaDevAttrMaxGridDimY)");
    l.max_grid[2] = attribute(cudaDevAttrMaxGridDimZ, "cudaDeviceGetAttribute(cudaDevAttrMaxGridDimZ)");
    l.max_shared_per_block = attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin)");
  });
  return limits[device];
}
// A kernel may use more than 48 KB of dynamic shared memory only after this (once per kernel).
template <class Kernel>
void allow_dynamic_shared(Kernel kernel, std::size_t bytes) {
  if (bytes <= 48 * 1024) return;
  static std::mutex lock;
  static std::unordered_map<const void*, std::size_t> allowed;
  std::lock_guard guard(lock);
  std::size_t& current = allowed[reinterpret_cast<const void*>(kernel)];
  if (current >= bytes) return;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
        "cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize)");
  current = bytes;
}
inline void check_last_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

#endif

}  // namespace runtime
}  // namespace ranklens::cuda
