// A host emulation of the CUDA execution model, for running the kernels of this folder without
// a GPU: compile a CUDA test or program as C++ with -DRANKLENS_CUDA_EMULATION (g++ -x c++), and
// every launch runs on the launching host thread, each CUDA thread a fiber of its own (a
// ucontext with its own stack) that runs until it reaches a barrier (__syncthreads, or a warp
// intrinsic's exchange) and then lets the next fiber run; static storage serves __shared__
// arrays (the blocks of a grid run one after another) and host memory "device" memory.
//
// Why: kernels are written here on machines without a GPU, and a GPU is lent for minutes at a
// time. Running the same kernel source on the CPU finds indexing, masking and synchronisation
// bugs early; built with -fsanitize=thread it also reports a missing __syncthreads as a data
// race (ThreadSanitizer sees each fiber as a thread, and only barriers order them). It proves
// nothing about speed, and nothing about what has no emulation here (cuBLAS is replaced by a
// plain column-major loop), so the parity suite still has to run on a real device
// (scripts/gpu_check.sh). Stream capture is emulated as CUDA does it: while a graph records,
// launches, copies and the BLAS stand-in are recorded with their arguments' values of that moment
// and not run, and a replay runs the recording; host code between them does not run again. Fibers rather than an OS thread per CUDA thread (the first
// form): a barrier is then a switch between stacks instead of a wake-up of every waiting
// thread through the kernel, which took most of CI's emulation time.
//
// Limits: warp intrinsics assume all 32 lanes of a warp (or every thread of a partial last warp)
// take part, which is how the kernels here use them; a thread that returns early counts as
// arrived at later barriers of its block, as on the device. A fiber runs until it reaches a
// barrier, so a thread that spins on a flag another thread of its block sets would never yield
// (no kernel here does); threads whose barriers disagree stop the program with a message.
#pragma once
#if !defined(RANKLENS_CUDA_EMULATION)
#error "ranklens/cuda/emulation.hpp is only for builds with RANKLENS_CUDA_EMULATION defined."
#endif

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
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

// ThreadSanitizer's fiber interface (a no-op without -fsanitize=thread): each CUDA thread is a
// fiber to it, switches between fibers order nothing, and barriers order what they should
// (release on arrival, acquire on leaving). The emulation's own bookkeeping (the scheduler's
// loop, a barrier's counters, the fibers' records) runs with memory accesses ignored: on a GPU
// that is hardware, and its accesses would be reported as races between the fibers.
#if defined(__SANITIZE_THREAD__)
extern "C" {
void* __tsan_get_current_fiber();
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_acquire(void* address);
void __tsan_release(void* address);
void __tsan_ignore_thread_begin();
void __tsan_ignore_thread_end();
}
namespace sanitizer {
inline constexpr unsigned switch_without_sync = 1;  // __tsan_switch_to_fiber_no_sync
[[gnu::always_inline]] inline void* current_fiber() { return __tsan_get_current_fiber(); }
[[gnu::always_inline]] inline void* create_fiber() { return __tsan_create_fiber(0); }
[[gnu::always_inline]] inline void destroy_fiber(void* fiber) { __tsan_destroy_fiber(fiber); }
[[gnu::always_inline]] inline void switch_to(void* fiber) { __tsan_switch_to_fiber(fiber, switch_without_sync); }
[[gnu::always_inline]] inline void acquire(const void* address) { __tsan_acquire(const_cast<void*>(address)); }
[[gnu::always_inline]] inline void release(const void* address) { __tsan_release(const_cast<void*>(address)); }
[[gnu::always_inline]] inline void ignore_accesses_begin() { __tsan_ignore_thread_begin(); }
[[gnu::always_inline]] inline void ignore_accesses_end() { __tsan_ignore_thread_end(); }
}  // namespace sanitizer
#else
namespace sanitizer {
inline void* current_fiber() { return nullptr; }
inline void* create_fiber() { return nullptr; }
inline void destroy_fiber(void*) {}
inline void switch_to(void*) {}
inline void acquire(const void*) {}
inline void release(const void*) {}
inline void ignore_accesses_begin() {}
inline void ignore_accesses_end() {}
}  // namespace sanitizer
#endif

class barrier;
struct warp_state;

// One CUDA thread: its stack and saved registers, its built-in variables, and the barrier it
// waits at (with that barrier's phase when it arrived).
struct fiber {
  ucontext_t context{};
  uint3 thread_index{};
  int lane = 0;
  warp_state* warp = nullptr;
  unsigned count_calls = 0;  // its __syncthreads_count calls in the block
  const barrier* waiting_at = nullptr;
  long waiting_phase = 0;
  bool finished = false;
  void* sanitizer_fiber = nullptr;
};

// The launching thread's side: where a fiber returns to when it waits or finishes.
struct scheduler {
  ucontext_t context{};
  void* sanitizer_fiber = nullptr;
  fiber* running = nullptr;
};
inline thread_local scheduler* current_scheduler = nullptr;

// The running fiber gives the thread back to the scheduler until `at` has left `phase`.
inline void wait(const barrier* at, long phase) {
  scheduler& s = *current_scheduler;
  fiber& f = *s.running;
  f.waiting_at = at;
  f.waiting_phase = phase;
  sanitizer::switch_to(s.sanitizer_fiber);
  swapcontext(&f.context, &s.context);
}

// A reusable barrier for a fixed set of threads, from which a thread may retire (return from
// the kernel) so that the others do not wait for it.
class barrier {
 public:
  void arrive_and_wait() {
    sanitizer::ignore_accesses_begin();
    const long phase = phase_;
    sanitizer::release(&order_[phase % 2]);  // one order object per phase in turn: a fiber that
    if (++arrived_ == expected_)              // leaves late must not see the next phase's writes
      release();
    else
      wait(this, phase);
    sanitizer::acquire(&order_[phase % 2]);
    sanitizer::ignore_accesses_end();
  }
  // The calling thread takes part in no further phase until reset(). (Called by a finishing
  // fiber, whose accesses the sanitizer already ignores.)
  void retire() {
    --expected_;
    if (arrived_ > 0 && arrived_ == expected_) release();
  }
  // Called while no thread waits (between blocks).
  void reset(int expected) {
    expected_ = expected;
    arrived_ = 0;
  }
  bool left(long phase) const { return phase_ != phase; }

 private:
  void release() {
    arrived_ = 0;
    ++phase_;
  }
  int expected_ = 0, arrived_ = 0;
  long phase_ = 0;
  char order_[2] = {};  // ThreadSanitizer's sync objects (their addresses)
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

// The running fiber's; the scheduler sets them before it resumes a fiber.
inline thread_local block_state* current_block = nullptr;
inline thread_local unsigned count_calls = 0;
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

// The built-in variables: threadIdx per fiber (set by the scheduler as it resumes one); blockIdx,
// blockDim and gridDim per launch, written by the launching thread.
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

// Fiber stacks, made once per launching thread and kept: 1 MiB each (the pthread stacks of the
// first form), committed only as they are touched, below a guard page that turns an overflow
// into a fault instead of a write into the next stack.
class stack_pool {
 public:
  static constexpr std::size_t stack_bytes = std::size_t(1) << 20;

  char* stack(std::size_t i) {
    while (stacks_.size() <= i) {
      const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
      void* base = mmap(nullptr, stack_bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (base == MAP_FAILED || mprotect(base, page, PROT_NONE) != 0) {
        std::fprintf(stderr, "ranklens CUDA emulation: could not map the stack of thread %zu\n", stacks_.size());
        std::abort();
      }
      stacks_.push_back(static_cast<char*>(base) + page);
    }
    return stacks_[i];
  }

 private:
  std::vector<char*> stacks_;
};
inline thread_local stack_pool fiber_stacks;

// What a fiber runs: the kernel's body for the block, then it retires from its barriers and
// hands the thread back for good (a fiber never returns through uc_link, so that the sanitizer's
// view of the stack stays its own).
struct fiber_task {
  void (*body)(void*);
  void* context;
  block_state* block;
  const char* start_order;  // released by the scheduler before a block, acquired by its fibers
  const char* end_order;    // released by each fiber as it finishes, acquired by the scheduler
};
inline thread_local fiber_task* current_task = nullptr;

inline void run_fiber() {
  sanitizer::ignore_accesses_begin();
  scheduler& s = *current_scheduler;
  fiber& f = *s.running;
  const fiber_task& task = *current_task;
  sanitizer::acquire(task.start_order);
  sanitizer::ignore_accesses_end();
  task.body(task.context);
  sanitizer::ignore_accesses_begin();
  f.finished = true;
  f.warp->sync.retire();
  task.block->sync.retire();
  sanitizer::release(task.end_order);
  void* const scheduler_fiber = s.sanitizer_fiber;
  ucontext_t* const from = &f.context;
  ucontext_t* const to = &s.context;
  sanitizer::ignore_accesses_end();  // a fiber must not end inside an ignored region
  sanitizer::switch_to(scheduler_fiber);
  swapcontext(from, to);
  std::abort();  // never resumed
}

// Points f at the start of run_fiber on `stack`. Out of line: getcontext returns twice as far as
// the compiler knows, which would make it keep launch's loop variables out of registers.
[[gnu::noinline]] inline void make_context(fiber& f, char* stack) {
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = stack;
  f.context.uc_stack.ss_size = stack_pool::stack_bytes;
  f.context.uc_link = nullptr;
  makecontext(&f.context, run_fiber, 0);
  f.sanitizer_fiber = sanitizer::create_fiber();
}

// Stream capture (cuda/graph.hpp): while a recording is open on this thread, device work is
// appended to it instead of run, as cudaStreamBeginCapture records launches; replay() runs it.
struct recording {
  std::vector<std::function<void()>> steps;
  void replay() const {
    for (const auto& step : steps) step();
  }
};
inline thread_local recording* current_recording = nullptr;

// Runs work now, or records it while a capture is open. The std::function is made here, so
// that the vector's push_back is one function, not one per kind of work (each kernel is one).
template <class Work>
void run_or_record(Work&& work) {
  if (current_recording != nullptr)
    current_recording->steps.push_back(std::function<void()>(std::forward<Work>(work)));
  else
    work();
}

// Runs body(context) as each thread of the grid, the blocks in order, each block's threads as
// fibers on the calling thread. Not a template, so compiled once per program: inside launch it
// was compiled again for every kernel and argument list (960 copies in one test file).
inline void run_grid(dim3 grid, dim3 block, std::size_t shared_bytes, void (*body)(void*), void* context) {
  const int threads = int(block.x * block.y * block.z);
  const int warp_count = (threads + 31) / 32;
  blockDim = block;
  gridDim = grid;
  dynamic_shared_storage().assign((shared_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1, std::max_align_t{});

  block_state state;
  for (int w = 0; w < warp_count; ++w) {
    state.warps.push_back(std::make_unique<warp_state>());
    state.warps.back()->lanes = std::min(32, threads - 32 * w);
  }
  const char start_order = 0, end_order = 0;
  fiber_task task{body, context, &state, &start_order, &end_order};

  sanitizer::ignore_accesses_begin();
  scheduler s;
  s.sanitizer_fiber = sanitizer::current_fiber();
  scheduler* const outer_scheduler = current_scheduler;
  fiber_task* const outer_task = current_task;
  current_scheduler = &s;
  current_task = &task;
  current_block = &state;
  std::vector<fiber> fibers(static_cast<std::size_t>(threads));

  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = uint3{x, y, z};
        state.sync.reset(threads);
        state.counts[0].store(0);
        state.counts[1].store(0);
        for (auto& w : state.warps) w->sync.reset(w->lanes);
        for (int t = 0; t < threads; ++t) {
          fiber& f = fibers[std::size_t(t)];
          f.thread_index = uint3{unsigned(t) % block.x, (unsigned(t) / block.x) % block.y, unsigned(t) / (block.x * block.y)};
          f.lane = t % 32;
          f.warp = state.warps[std::size_t(t / 32)].get();
          f.count_calls = 0;
          f.waiting_at = nullptr;
          f.finished = false;
          make_context(f, fiber_stacks.stack(std::size_t(t)));
        }
        sanitizer::release(&start_order);
        // Round robin: each fiber runs until it waits or finishes; a fiber whose barrier has not
        // moved on is passed over.
        for (int left = threads; left > 0;) {
          bool ran = false;
          for (fiber& f : fibers) {
            if (f.finished || (f.waiting_at != nullptr && !f.waiting_at->left(f.waiting_phase))) continue;
            f.waiting_at = nullptr;
            threadIdx = f.thread_index;
            lane = f.lane;
            current_warp = f.warp;
            count_calls = f.count_calls;
            s.running = &f;
            sanitizer::switch_to(f.sanitizer_fiber);
            swapcontext(&s.context, &f.context);
            f.count_calls = count_calls;
            ran = true;
            if (f.finished) --left;
          }
          if (!ran) {
            std::fprintf(stderr, "ranklens CUDA emulation: %d of %d threads of block (%u, %u, %u) wait at barriers that the others "
                         "never reach; the kernel's threads reach different barriers\n", left, threads, x, y, z);
            std::abort();
          }
        }
        sanitizer::acquire(&end_order);
        for (fiber& f : fibers) sanitizer::destroy_fiber(f.sanitizer_fiber);
      }
  current_scheduler = outer_scheduler;
  current_task = outer_task;
  sanitizer::ignore_accesses_end();
}

// Runs kernel(arguments...) over the grid.
template <class... Params>
void run_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                const std::tuple<std::decay_t<Params>...>& arguments) {
  struct call {
    void (*kernel)(Params...);
    const std::tuple<std::decay_t<Params>...>* arguments;
  } what{kernel, &arguments};
  run_grid(grid, block, shared_bytes,
           [](void* c) {
             const auto* k = static_cast<const call*>(c);
             std::apply(k->kernel, *k->arguments);
           },
           &what);
}

// Runs kernel(args...) over the grid now, or records it, with the arguments' values of now (as
// a captured launch keeps them), while a capture is open.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, Args&&... args) {
  run_or_record([kernel, grid, block, shared_bytes, arguments = std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)] {
    run_kernel(kernel, grid, block, shared_bytes, arguments);
  });
}

}  // namespace ranklens::cuda::emulation
