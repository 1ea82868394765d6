// Launching kernels: every launch of the backend goes through cuda::launch, which queues the
// kernel on the current stream and checks the launch (an error becomes a cuda_error naming the
// kernel). With synchronous checks on (set_synchronous_checks, or RANKLENS_CUDA_SYNC=1 in the
// environment), each launch also waits for the kernel (except while its stream is captured into a
// graph, which cannot wait), so that an error inside a kernel is reported under its own name
// rather than at the next synchronising call; the tests turn this on.
// Under the host emulation (emulation.hpp) the kernel runs on the host instead, a fiber per CUDA
// thread.
#pragma once
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/cuda/check.hpp"
#include "ranklens/cuda/stream.hpp"

// Dynamic shared memory as an array of `type` named `name` (one extern declaration of bytes, so
// that kernels of different element types do not clash).
#if defined(RANKLENS_CUDA_EMULATION)
#define RANKLENS_CUDA_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::ranklens::cuda::emulation::dynamic_shared())
#else
#define RANKLENS_CUDA_DYNAMIC_SHARED(type, name)                      \
  extern __shared__ __align__(16) unsigned char ranklens_dynamic_shared[]; \
  type* name = reinterpret_cast<type*>(ranklens_dynamic_shared)
#endif

namespace ranklens::cuda {

namespace detail {
inline bool& synchronous_checks_flag() {
  static bool flag = [] {
    const char* value = std::getenv("RANKLENS_CUDA_SYNC");
    return value != nullptr && std::string(value) == "1";
  }();
  return flag;
}
}  // namespace detail

inline void set_synchronous_checks(bool on) noexcept { detail::synchronous_checks_flag() = on; }
inline bool synchronous_checks() noexcept { return detail::synchronous_checks_flag(); }

// The backend's kernels launched on one thread while the census is open, counted by name:
// cuda::graph opens one while it captures, so that a captured step can say what it launches
// (the launches a replay saves). cuBLAS's own kernels, copies and fills are not counted.
struct launch_census {
  std::map<std::string, int, std::less<>> by_name;

  int total() const noexcept {
    int sum = 0;
    for (const auto& [name, count] : by_name) sum += count;
    return sum;
  }
};

namespace detail {
inline launch_census*& open_launch_census() noexcept {
  static thread_local launch_census* open = nullptr;
  return open;
}
}  // namespace detail

// Grid, block and dynamic shared memory of one launch.
struct launch_shape {
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes = 0;
};

namespace detail {
// Throws a cuda_error naming the kernel when `shape` asks more than the device allows, before
// CUDA is asked (it would answer "invalid argument", a memory checker's error, without saying why).
inline void check_launch_shape(const char* name, const launch_shape& shape) {
  const runtime::launch_limits& limits = runtime::current_launch_limits();
  const unsigned block[3] = {shape.block.x, shape.block.y, shape.block.z}, grid[3] = {shape.grid.x, shape.grid.y, shape.grid.z};
  const char* axis[3] = {"x", "y", "z"};
  auto refuse = [name](const std::string& why) { throw cuda_error(std::string(name) + ": cannot launch: " + why); };
  const unsigned long long threads = 1ull * block[0] * block[1] * block[2];
  if (threads == 0) refuse("a block of no threads");
  if (threads > limits.max_threads_per_block)
    refuse("a block of " + std::to_string(threads) + " threads, more than the device's " + std::to_string(limits.max_threads_per_block));
  for (int i = 0; i < 3; ++i) {
    if (block[i] > limits.max_block[i])
      refuse(std::string("block.") + axis[i] + " = " + std::to_string(block[i]) + ", more than the device's " + std::to_string(limits.max_block[i]));
    if (grid[i] > limits.max_grid[i])
      refuse(std::string("grid.") + axis[i] + " = " + std::to_string(grid[i]) + ", more than the device's " + std::to_string(limits.max_grid[i]));
  }
  if (shape.shared_bytes > limits.max_shared_per_block)
    refuse(std::to_string(shape.shared_bytes) + " bytes of dynamic shared memory, more than the device's " +
           std::to_string(limits.max_shared_per_block) + " per block");
}
}  // namespace detail

// Queues kernel<<<shape>>>(args...) on the current stream and checks it; a grid with no blocks
// launches nothing, and a shape past the device's limits throws before CUDA is called.
template <class... Params, class... Args>
void launch(const char* name, void (*kernel)(Params...), const launch_shape& shape, Args&&... args) {
  if (shape.grid.x == 0 || shape.grid.y == 0 || shape.grid.z == 0) return;
  detail::check_launch_shape(name, shape);
  if (launch_census* census = detail::open_launch_census()) ++census->by_name[name];
#if defined(RANKLENS_CUDA_EMULATION)
  (void)name;
  emulation::launch(kernel, shape.grid, shape.block, shape.shared_bytes, std::forward<Args>(args)...);
#else
  runtime::allow_dynamic_shared(kernel, shape.shared_bytes);
  kernel<<<shape.grid, shape.block, shape.shared_bytes, current_stream()>>>(std::forward<Args>(args)...);
  runtime::check_last_launch(name);
  if (synchronous_checks() && !runtime::is_capturing(current_stream())) runtime::synchronize(current_stream(), name);
#endif
}

// Blocks of `threads` threads, each covering `per_block` items, for `count` items (at least 1
// block when count > 0; CUDA allows 2^31 − 1 blocks along x).
inline unsigned blocks_for(index_t count, index_t per_block) {
  return count <= 0 ? 0u : unsigned((count + per_block - 1) / per_block);
}

}  // namespace ranklens::cuda
