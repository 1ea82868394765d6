// A host emulation of the CUDA execution model, for running the kernels of this folder without
// a GPU: compile a CUDA test or program as C++ with -DRANKLENS_CUDA_EMULATION (g++ -x c++), and
// every launch runs on host threads, one thread per CUDA thread, with real barriers for
// __syncthreads and the warp intrinsics, static storage for __shared__ arrays (the blocks of a
// grid run one after another) and host memory for "device" memory.
//
// Why: kernels are written here on machines without a GPU, and a GPU is lent for minutes at a
// time. Running the same kernel source on the CPU finds indexing, masking and synchronisation
// bugs early; built with -fsanitize=thread it also reports a missing __syncthreads as a data
// race. It proves nothing about speed, and nothing about what has no emulation here (cuBLAS is
// replaced by a plain column-major loop, graphs are refused), so the parity suite still has to
// run on a real device (scripts/gpu_check.sh).
//
// Limits: warp intrinsics assume all 32 lanes of a warp (or every thread of a partial last warp)
// take part, which is how the kernels here use them; a thread that returns early counts as
// arrived at later barriers of its block, as on the device.
#pragma once
#if !defined(RANKLENS_CUDA_EMULATION)
#error "ranklens/cuda/emulation.hpp is only for builds with RANKLENS_CUDA_EMULATION defined."
#endif

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

// CUDA's qualifiers become plain C++: __shared__ storage is static, which one block at a time
// shares between its threads.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(...)

namespace ranklens::cuda::emulation {

// A reusable barrier for a fixed set of threads, from which a thread may retire (return from
// the kernel) so that the others do not wait for it. Waits time out with a message: a kernel
// whose threads disagree on the barriers they reach would otherwise hang the test.
class barrier {
 public:
  explicit barrier(int expected = 0) : expected_(expected) {}

  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    const long generation = generation_;
    if (++arrived_ == expected_) {
      release();
      return;
    }
    if (!released_.wait_for(lock, std::chrono::seconds(120), [&] { return generation != generation_; })) {
      std::fprintf(stderr, "ranklens CUDA emulation: a barrier waited 120 s for %d of %d threads (block (%u, %u, %u)); "
                   "the kernel's threads reach different barriers\n", expected_ - arrived_, expected_, block_x_, block_y_, block_z_);
      std::abort();
    }
  }
  // The calling thread takes part in no further phase until reset().
  void retire() {
    std::unique_lock lock(mutex_);
    --expected_;
    if (arrived_ > 0 && arrived_ == expected_) release();
  }
  // Called while no thread waits (between blocks).
  void reset(int expected, uint3 block) {
    std::unique_lock lock(mutex_);
    expected_ = expected;
    arrived_ = 0;
    block_x_ = block.x, block_y_ = block.y, block_z_ = block.z;
  }

 private:
  void release() {
    arrived_ = 0;
    ++generation_;
    released_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable released_;
  int expected_ = 0, arrived_ = 0;
  long generation_ = 0;
  unsigned block_x_ = 0, block_y_ = 0, block_z_ = 0;
};

struct warp_state {
  barrier sync;
  int lanes = 32;
  std::uint64_t slots[32] = {};
  alignas(16) unsigned char wide_slots[32][64] = {};  // gather()'s values of up to 64 bytes
};

struct block_state {
  barrier sync;
  std::vector<std::unique_ptr<warp_state>> warps;
  std::atomic<int> counts[2] = {0, 0};  // __syncthreads_count's, used in turn (zeroed between blocks)
};

inline thread_local block_state* current_block = nullptr;
inline thread_local unsigned count_calls = 0;  // this thread's __syncthreads_count calls in the launch
inline thread_local warp_state* current_warp = nullptr;
inline thread_local int lane = 0;

// Dynamic shared memory of the running launch (RANKLENS_CUDA_DYNAMIC_SHARED).
inline std::vector<std::max_align_t>& dynamic_shared_storage() {
  static std::vector<std::max_align_t> storage;
  return storage;
}
inline void* dynamic_shared() { return dynamic_shared_storage().data(); }

// Atomic operations on types std::atomic_ref cannot take (bfloat16) serialise on this lock.
inline std::mutex& atomic_lock() {
  static std::mutex lock;
  return lock;
}

}  // namespace ranklens::cuda::emulation

// The built-in variables: threadIdx and blockIdx per thread; blockDim and gridDim are written by
// the launching thread before it starts the workers.
inline thread_local uint3 threadIdx{};
inline thread_local uint3 blockIdx{};
inline dim3 blockDim{};
inline dim3 gridDim{};

inline void __syncthreads() { ranklens::cuda::emulation::current_block->sync.arrive_and_wait(); }
// The block's threads with a nonzero predicate. Two counters in turn: while every thread reads
// this call's, the other is zeroed for the next call (by every thread: the same store).
inline int __syncthreads_count(int predicate) {
  using namespace ranklens::cuda::emulation;
  block_state& b = *current_block;
  const unsigned turn = count_calls++ % 2;
  if (predicate) b.counts[turn].fetch_add(1);
  b.sync.arrive_and_wait();
  b.counts[1 - turn].store(0);
  const int count = b.counts[turn].load();
  b.sync.arrive_and_wait();
  return count;
}
inline void __syncwarp(unsigned = 0xffffffffu) { ranklens::cuda::emulation::current_warp->sync.arrive_and_wait(); }

namespace ranklens::cuda::emulation {
// Every lane publishes its value, then reads lane `from`'s.
template <class T>
T exchange(T value, int from) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t), "emulated shuffles move at most 8 bytes.");
  warp_state& w = *current_warp;
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  w.slots[lane] = bits;
  w.sync.arrive_and_wait();
  T result;
  std::memcpy(&result, &w.slots[from < w.lanes ? from : lane], sizeof(T));
  w.sync.arrive_and_wait();
  return result;
}
// Every lane publishes `value` and receives all the lanes' values (lanes past the end of a partial
// warp: value-initialised): the warp-wide collectives of warp_matrix.cuh (ldmatrix, mma.sync) are
// emulated on top of this.
template <class T>
std::array<T, 32> gather(const T& value) {
  static_assert(sizeof(T) <= 64 && std::is_trivially_copyable_v<T>, "emulated warp gathers move at most 64 bytes of plain data.");
  warp_state& w = *current_warp;
  std::memcpy(w.wide_slots[lane], &value, sizeof(T));
  w.sync.arrive_and_wait();
  std::array<T, 32> all{};
  for (int from = 0; from < w.lanes; ++from) std::memcpy(&all[std::size_t(from)], w.wide_slots[from], sizeof(T));
  w.sync.arrive_and_wait();
  return all;
}
inline int lane_id() { return lane; }

}  // namespace ranklens::cuda::emulation

template <class T>
T __shfl_xor_sync(unsigned, T value, int lane_mask, int width = 32) {
  using namespace ranklens::cuda::emulation;
  const int segment = lane & ~(width - 1);
  const int from = segment + ((lane ^ lane_mask) & (width - 1));
  return exchange(value, from);
}
template <class T>
T __shfl_down_sync(unsigned, T value, unsigned delta, int width = 32) {
  using namespace ranklens::cuda::emulation;
  const int within = (lane & (width - 1)) + int(delta);
  return exchange(value, within < width ? lane + int(delta) : lane);
}
template <class T>
T __shfl_sync(unsigned, T value, int source, int width = 32) {
  using namespace ranklens::cuda::emulation;
  return exchange(value, (lane & ~(width - 1)) + (source & (width - 1)));
}
inline unsigned __ballot_sync(unsigned, int predicate) {
  using namespace ranklens::cuda::emulation;
  unsigned bits = 0;
  for (int from = 0; from < current_warp->lanes; ++from) {
    const int vote = exchange(predicate ? 1 : 0, from);
    bits |= unsigned(vote) << from;
  }
  return bits;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  using namespace ranklens::cuda::emulation;
  const unsigned all = current_warp->lanes == 32 ? 0xffffffffu : ((1u << current_warp->lanes) - 1);
  return __ballot_sync(mask, predicate) == all;
}

inline float atomicAdd(float* address, float value) { return std::atomic_ref<float>(*address).fetch_add(value); }
inline double atomicAdd(double* address, double value) { return std::atomic_ref<double>(*address).fetch_add(value); }
inline int atomicAdd(int* address, int value) { return std::atomic_ref<int>(*address).fetch_add(value); }
inline unsigned atomicAdd(unsigned* address, unsigned value) { return std::atomic_ref<unsigned>(*address).fetch_add(value); }
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return std::atomic_ref<unsigned long long>(*address).fetch_add(value);
}
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* address, __nv_bfloat16 value) {
  std::lock_guard lock(ranklens::cuda::emulation::atomic_lock());
  const __nv_bfloat16 old = *address;
  *address = __float2bfloat16(__bfloat162float(old) + __bfloat162float(value));
  return old;
}
inline int atomicMin(int* address, int value) {
  std::atomic_ref<int> a(*address);
  int old = a.load();
  while (value < old && !a.compare_exchange_weak(old, value)) {
  }
  return old;
}
inline int atomicMax(int* address, int value) {
  std::atomic_ref<int> a(*address);
  int old = a.load();
  while (value > old && !a.compare_exchange_weak(old, value)) {
  }
  return old;
}
inline int atomicCAS(int* address, int compare, int value) {
  std::atomic_ref<int> a(*address);
  a.compare_exchange_strong(compare, value);
  return compare;
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T>
T __ldg(const T* p) {
  return *p;
}

// Device math without a host twin in <cmath>. The _rn intrinsics round each operation once (the
// emulation builds with -ffp-contract=off, so that nothing fuses them).
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float normcdff(float x) { return 0.5f * std::erfc(-x * 0.70710678118654752f); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }

namespace ranklens::cuda::emulation {

struct worker_start {
  block_state* block;
  int thread;
  void (*body)(void*);
  void* context;
};

inline void* run_worker(void* argument) {
  auto* start = static_cast<worker_start*>(argument);
  start->body(start);
  return nullptr;
}

// Runs kernel(args...) over the grid: one host thread per CUDA thread, the blocks in order.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, Args&&... args) {
  const int threads = int(block.x * block.y * block.z);
  const int warp_count = (threads + 31) / 32;
  std::tuple<std::decay_t<Params>...> parameters(std::forward<Args>(args)...);
  blockDim = block;
  gridDim = grid;
  dynamic_shared_storage().assign((shared_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1, std::max_align_t{});

  block_state state;
  for (int w = 0; w < warp_count; ++w) {
    state.warps.push_back(std::make_unique<warp_state>());
    state.warps.back()->lanes = std::min(32, threads - 32 * w);
  }
  barrier end_of_block(threads);
  auto prepare = [&](uint3 index) {
    state.sync.reset(threads, index);
    state.counts[0].store(0);
    state.counts[1].store(0);
    for (auto& w : state.warps) w->sync.reset(w->lanes, index);
  };
  prepare(uint3{0, 0, 0});

  using parameter_tuple = decltype(parameters);
  using prepare_function = decltype(prepare);
  struct context {
    parameter_tuple* arguments;
    void (*kernel)(Params...);
    dim3 grid, block;
    block_state* state;
    barrier* end_of_block;
    prepare_function* prepare_next;
    std::atomic<int>* finished;
  };
  std::atomic<int> finished{0};
  context shared{&parameters, kernel, grid, block, &state, &end_of_block, &prepare, &finished};

  auto body = [](void* argument) {
    auto* start = static_cast<worker_start*>(argument);
    auto* c = static_cast<context*>(start->context);
    const int t = start->thread;
    threadIdx = uint3{unsigned(t) % c->block.x, (unsigned(t) / c->block.x) % c->block.y, unsigned(t) / (c->block.x * c->block.y)};
    lane = t % 32;
    current_block = c->state;
    current_warp = c->state->warps[std::size_t(t / 32)].get();
    const int threads_in_block = int(c->block.x * c->block.y * c->block.z);
    for (unsigned z = 0; z < c->grid.z; ++z)
      for (unsigned y = 0; y < c->grid.y; ++y)
        for (unsigned x = 0; x < c->grid.x; ++x) {
          blockIdx = uint3{x, y, z};
          count_calls = 0;
          std::apply(c->kernel, *c->arguments);
          current_warp->sync.retire();
          current_block->sync.retire();
          // The last thread to finish the block prepares the barriers for the next one.
          if (c->finished->fetch_add(1) + 1 == threads_in_block) {
            c->finished->store(0);
            const unsigned linear = (z * c->grid.y + y) * c->grid.x + x + 1;
            (*c->prepare_next)(uint3{linear % c->grid.x, (linear / c->grid.x) % c->grid.y, linear / (c->grid.x * c->grid.y)});
          }
          c->end_of_block->arrive_and_wait();
        }
  };

  std::vector<worker_start> starts(static_cast<std::size_t>(threads), worker_start{&state, 0, body, &shared});
  std::vector<pthread_t> handles(static_cast<std::size_t>(threads));
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 1 << 20);
  for (int t = 0; t < threads; ++t) {
    starts[std::size_t(t)].thread = t;
    if (pthread_create(&handles[std::size_t(t)], &attributes, run_worker, &starts[std::size_t(t)]) != 0) {
      std::fprintf(stderr, "ranklens CUDA emulation: could not start thread %d of %d\n", t, threads);
      std::abort();
    }
  }
  pthread_attr_destroy(&attributes);
  for (auto& h : handles) pthread_join(h, nullptr);
}

}  // namespace ranklens::cuda::emulation
