// A small persistent thread pool for the CPU kernels: parallel_for(n, grain, fn) splits
// [0, n) into contiguous chunks and runs fn(begin, end) on the calling thread and on the
// pool's workers.
//
// Design, in short:
//  * The pool holds size() - 1 worker threads; the calling thread is the last member and
//    always takes part, so a pool of size 1 runs everything inline.
//  * Dispatch publishes one 64-bit word (generation, chunk count, next chunk). Threads claim
//    chunks with a compare-exchange on that word, so a chunk can only be claimed while its
//    job is live, and a worker that wakes late simply finds nothing left to claim: the
//    caller never waits for a thread that was descheduled before it started a chunk.
//  * Waiting (workers for a job, the caller for the last chunk) spins briefly, then polls
//    while yielding the core, then blocks on a condition variable, so the dispatch latency
//    of back-to-back kernels stays below a microsecond or so without burning a core while
//    the program does something else.
//  * An exception thrown by fn on any thread is captured (the first one wins), the chunks
//    not yet started are skipped, and the caller rethrows it once every running chunk has
//    finished.
//
// Threading contract: parallel_for may be called from any thread. The pool serves one
// caller at a time; a call that finds the pool busy (another thread dispatching, or a
// nested call from inside fn) runs fn(0, n) inline on its own thread instead of waiting.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/cpu/vector_extensions.hpp"

namespace ranklens::cpu {

namespace detail {

// Tells the core that we are busy-waiting, so that a sibling hyper-thread gets the pipeline.
RANKLENS_ALWAYS_INLINE void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How a waiting thread waits: it polls with the pause instruction for a few microseconds
// (the gap between two kernels of one training step), then keeps polling but yields the core
// between polls, then blocks. The yielding phase matters when the machine has more runnable
// threads than cores: a waiter that only paused could hold the very core that the thread it
// waits for needs (measured here: 55 us per dispatch instead of 3 with two cores shared by
// several processes).
inline constexpr std::chrono::microseconds spin_with_pause{4};
inline constexpr std::chrono::microseconds spin_with_yield{100};

// Polls ready() as described above, then sleeps on cv until ready() holds. The waker must
// call wake() with the same mutex, cv and sleepers after making ready() true.
template <class Ready>
void spin_then_block(Ready&& ready, std::mutex& mutex, std::condition_variable& cv,
                     std::atomic<int>& sleepers) {
  const auto start = std::chrono::steady_clock::now();
  for (int polls = 1;; ++polls) {
    if (ready()) return;
    cpu_relax();
    if (polls % 64 == 0 && std::chrono::steady_clock::now() - start > spin_with_pause) break;
  }
  for (int polls = 1;; ++polls) {
    if (ready()) return;
    std::this_thread::yield();
    if (polls % 8 == 0 && std::chrono::steady_clock::now() - start > spin_with_yield) break;
  }
  std::unique_lock lock(mutex);
  // Sequentially consistent increment, then a sequentially consistent read inside ready():
  // with wake() doing the mirror image (publish, then read sleepers), at least one side sees
  // the other, so a wake-up cannot be lost.
  sleepers.fetch_add(1);
  cv.wait(lock, ready);
  sleepers.fetch_sub(1);
}

// Wakes up to `wanted` sleepers (all of them by default). Waking only as many workers as
// there are chunks to share keeps a small job on a big pool from paying for a thundering herd.
inline void wake(std::mutex& mutex, std::condition_variable& cv, std::atomic<int>& sleepers,
                 int wanted = std::numeric_limits<int>::max()) {
  const int sleeping = sleepers.load();
  if (sleeping == 0 || wanted <= 0) return;
  { std::lock_guard lock(mutex); }  // a sleeper is either already waiting or will see ready()
  if (wanted >= sleeping) {
    cv.notify_all();
  } else {
    for (int i = 0; i < wanted; ++i) cv.notify_one();
  }
}

// Number of CPUs this process may run on (respects taskset and container limits).
inline int available_cpus() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? int(hardware) : 1;
}

// RANKLENS_NUM_THREADS if it holds a positive integer, otherwise every available CPU.
inline int default_thread_count() {
  if (const char* text = std::getenv("RANKLENS_NUM_THREADS"); text != nullptr && *text != '\0') {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end == '\0' && value > 0 && value <= 4096) return int(value);
    throw value_error("RANKLENS_NUM_THREADS='" + std::string(text) +
                      "': expected a positive integer (at most 4096)");
  }
  return available_cpus();
}

// Set while a thread runs a chunk, so that a nested parallel_for runs inline.
inline thread_local bool inside_parallel_region = false;

}  // namespace detail

class thread_pool {
 public:
  // `threads` counts the calling thread too: thread_pool(1) starts no worker.
  explicit thread_pool(int threads) { start_workers(threads); }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() { stop_workers(); }

  // Threads that take part in a parallel_for, the caller included.
  int size() const noexcept { return int(workers_.size()) + 1; }

  // Replaces the workers. Waits for a dispatch in progress on another thread to finish.
  void resize(int threads) {
    if (threads < 1)
      throw value_error("thread_pool::resize: thread count " + std::to_string(threads) +
                        " is below 1");
    std::lock_guard dispatch(dispatch_mutex_);
    if (threads == size()) return;
    stop_workers();
    start_workers(threads);
  }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), each of at least `grain`
  // iterations (except when n < grain), returning when all chunks have run. Runs inline
  // when n < 2 * grain, when the pool has one thread, or when the pool is busy (see the
  // contract at the top of this file).
  template <class F>
  void parallel_for(index_t n, index_t grain, F&& fn) {
    if (n <= 0) return;
    grain = std::max<index_t>(grain, 1);
    const index_t max_chunks = index_t(size()) * chunks_per_thread;
    const index_t chunks = std::min<index_t>({n / grain, max_chunks, max_chunk_count});
    if (chunks < 2 || detail::inside_parallel_region) {
      fn(index_t(0), n);
      return;
    }
    std::unique_lock dispatch(dispatch_mutex_, std::try_to_lock);
    if (!dispatch.owns_lock()) {
      fn(index_t(0), n);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    run_job(job{
        [](void* context, index_t begin, index_t end) { (*static_cast<Fn*>(context))(begin, end); },
        const_cast<void*>(static_cast<const void*>(std::addressof(fn))), n, chunks});
  }

 private:
  // More chunks than threads, so that a thread slowed down by other programs on the machine
  // leaves its share to the others.
  static constexpr index_t chunks_per_thread = 4;
  static constexpr index_t max_chunk_count = 0xFFFF;  // fits the 16-bit fields of the state word

  struct job {
    void (*run)(void* context, index_t begin, index_t end);
    void* context;
    index_t n;
    index_t chunks;
  };

  // State word: generation (32 bits) | chunk count (16 bits) | next unclaimed chunk (16 bits).
  static constexpr std::uint64_t pack(std::uint32_t generation, std::uint64_t chunks,
                                      std::uint64_t next) noexcept {
    return (std::uint64_t(generation) << 32) | (chunks << 16) | next;
  }
  static constexpr std::uint32_t generation_of(std::uint64_t w) noexcept {
    return std::uint32_t(w >> 32);
  }
  static constexpr index_t chunks_of(std::uint64_t w) noexcept {
    return index_t((w >> 16) & 0xFFFF);
  }
  static constexpr index_t next_of(std::uint64_t w) noexcept { return index_t(w & 0xFFFF); }

  void run_job(const job& j) {
    job_ = j;
    chunks_done_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    ++generation_;
    // The release in this store publishes job_ (and the resets above) to whoever claims a
    // chunk of this generation with an acquiring compare-exchange.
    state_.store(pack(generation_, std::uint64_t(j.chunks), 0));
    // The caller takes chunks too, so chunks - 1 helpers at most are useful.
    detail::wake(job_mutex_, job_cv_, job_sleepers_, int(std::min<index_t>(j.chunks - 1, size())));

    run_chunks(generation_);
    detail::spin_then_block([&] { return chunks_done_.load() == j.chunks; }, done_mutex_, done_cv_,
                            done_sleepers_);
    if (error_) std::rethrow_exception(error_);
  }

  // Claims and runs chunks of `generation` until none are left.
  void run_chunks(std::uint32_t generation) {
    for (;;) {
      std::uint64_t w = state_.load(std::memory_order_acquire);
      index_t chunk;
      do {
        if (generation_of(w) != generation || next_of(w) >= chunks_of(w)) return;
        chunk = next_of(w);
      } while (!state_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                             std::memory_order_acquire));
      // Chunk `chunk` is ours: the job cannot finish before we report it, so job_ is stable.
      run_chunk(chunk);
    }
  }

  void run_chunk(index_t chunk) {
    const index_t begin = job_.n * chunk / job_.chunks;
    const index_t end = job_.n * (chunk + 1) / job_.chunks;
    if (!failed_.load(std::memory_order_relaxed)) {
      detail::inside_parallel_region = true;
      try {
        job_.run(job_.context, begin, end);
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
      detail::inside_parallel_region = false;
    }
    const index_t chunks = job_.chunks;  // read before the caller may be released
    if (chunks_done_.fetch_add(1) + 1 == chunks)
      detail::wake(done_mutex_, done_cv_, done_sleepers_);
  }

  void worker_loop() {
    std::uint32_t seen = generation_of(state_.load());
    for (;;) {
      detail::spin_then_block(
          [&] { return stopping_.load() || generation_of(state_.load()) != seen; }, job_mutex_,
          job_cv_, job_sleepers_);
      if (stopping_.load()) return;
      seen = generation_of(state_.load(std::memory_order_acquire));
      run_chunks(seen);
    }
  }

  void start_workers(int threads) {
    if (threads < 1)
      throw value_error("thread_pool: thread count " + std::to_string(threads) + " is below 1");
    stopping_.store(false);
    workers_.reserve(std::size_t(threads - 1));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void stop_workers() {
    stopping_.store(true);
    { std::lock_guard lock(job_mutex_); }
    job_cv_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex dispatch_mutex_;  // held by the one thread that owns the workers right now

  std::atomic<std::uint64_t> state_{0};
  std::uint32_t generation_ = 0;  // written only under dispatch_mutex_
  job job_{};
  std::atomic<index_t> chunks_done_{0};
  std::atomic<bool> failed_{false};
  std::atomic<bool> stopping_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;

  std::mutex job_mutex_;
  std::condition_variable job_cv_;
  std::atomic<int> job_sleepers_{0};
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  std::atomic<int> done_sleepers_{0};
};

// The process-wide pool the kernels use, created on first use with default_thread_count().
// Creating it is the kernels' first step, so it is also where a program compiled for narrower
// vectors than its CPU has is told so (once).
inline thread_pool& default_thread_pool() {
  static thread_pool pool((check_vector_extensions(), detail::default_thread_count()));
  return pool;
}

inline int num_threads() { return default_thread_pool().size(); }

// Sets the threads the kernels use (the caller included); overrides RANKLENS_NUM_THREADS.
inline void set_num_threads(int threads) { default_thread_pool().resize(threads); }

template <class F>
void parallel_for(index_t n, index_t grain, F&& fn) {
  default_thread_pool().parallel_for(n, grain, std::forward<F>(fn));
}

}  // namespace ranklens::cpu
