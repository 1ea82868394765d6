// Launching kernels: every launch of the backend goes through cuda::launch, which queues the
// kernel on the current stream and checks the launch (an error becomes a cuda_error naming the
// kernel). With synchronous checks on (set_synchronous_checks, or RANKLENS_CUDA_SYNC=1 in the
// environment), each launch also waits for the kernel, so that an error inside a kernel is
// reported under its own name rather than at the next synchronising call; the tests turn this on.
// Under the host emulation (emulation.hpp) the kernel runs on host threads instead.
#pragma once
#include <cstdlib>
#include <string>

#include "ranklens/core/config.hpp"
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

// Grid, block and dynamic shared memory of one launch.
struct launch_shape {
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes = 0;
};

// Queues kernel<<<shape>>>(args...) on the current stream and checks it; a grid with no blocks
// launches nothing.
template <class... Params, class... Args>
void launch(const char* name, void (*kernel)(Params...), const launch_shape& shape, Args&&... args) {
  if (shape.grid.x == 0 || shape.grid.y == 0 || shape.grid.z == 0) return;
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
