// CUDA graphs: capture a sequence of launches once, replay it with one launch. At small sizes a
// training step is mostly launch overhead (dozens of kernels of a few microseconds each), which a
// replayed graph removes; the shapes must stay fixed between replays, and the replay reads and
// writes the very buffers the captured launches named.
//
//   cuda::graph step;
//   step.warm_up([&] { train_step(); });   // once, uncaptured: makes cuBLAS handles and buffers
//   step.capture([&] { train_step(); });   // recorded, not run
//   for (...) step.replay();               // on the current stream
//
// Capture runs on the graph's own stream (a stream_scope makes it current, so every launch of the
// backend goes there) in relaxed mode, and the thread's allocations go to the graph's private
// pool: blocks a captured kernel uses are never handed to anyone else while the graph lives.
// cuBLAS keeps a handle per stream, so run the launches once on the graph's stream (warm_up)
// before capturing them; a capture that would create a handle, or that synchronises (a copy to
// the host), fails with the CUDA error naming the call. The host emulation records and replays
// the same way (emulation.hpp), so that a captured step's logic is tested without a GPU.
//
// A whole training step (zero_grad, forward, backward, AdamW's or SGD's step) can be captured:
// the ops keep what changes from step to step on the device (cross-entropy's divisor, the
// optimizers' rates and AdamW's step count, token ids passed as device tensors, the rotary
// tables); docs/architecture.md, "A whole training step in a CUDA graph". A replay runs none of
// the captured host code: before it launches, it only writes dropout's call counts into the
// graph's slots (replay_counters.cuh), so each replay draws new masks, the ones eager steps would.
// clip_grad_norm (a host sum) cannot be captured; clip_grad_norm_into can.
#pragma once
#include <memory>
#include <utility>

#include "ranklens/cuda/caching_allocator.hpp"
#include "ranklens/cuda/replay_counters.cuh"

namespace ranklens::cuda {

class graph {
 public:
  graph() = default;
  graph(const graph&) = delete;
  graph& operator=(const graph&) = delete;
  ~graph() { reset(); }

  cudaStream_t capture_stream() const noexcept { return stream_.handle(); }

  // Runs launches() once on the graph's stream and waits for it.
  template <class Launches>
  void warm_up(Launches&& launches) {
    {
      stream_scope on(stream_);
      launches();
    }
    stream_.synchronize();
  }

  // Records launches() (replacing any earlier recording).
  template <class Launches>
  void capture(Launches&& launches) {
#if defined(RANKLENS_CUDA_EMULATION)
    reset();
    stream_scope on(stream_);
    emulation::recording recorded;
    capture_scope scope(pool_, counters_, launches_);
    emulation::current_recording = &recorded;
    try {
      launches();
    } catch (...) {
      emulation::current_recording = nullptr;
      counters_.clear();
      launches_.by_name.clear();
      throw;
    }
    emulation::current_recording = nullptr;
    recorded_ = std::make_unique<emulation::recording>(std::move(recorded));
#else
    reset();
    stream_scope on(stream_);
    capture_scope scope(pool_, counters_, launches_);
    check(cudaStreamBeginCapture(stream_.handle(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    try {
      launches();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      (void)cudaStreamEndCapture(stream_.handle(), &broken);
      if (broken) (void)cudaGraphDestroy(broken);
      (void)cudaGetLastError();
      counters_.clear();
      launches_.by_name.clear();
      throw;
    }
    check(cudaStreamEndCapture(stream_.handle(), &graph_), "cudaStreamEndCapture");
    check(cudaGraphInstantiate(&instance_, graph_, 0), "cudaGraphInstantiate");
#endif
  }

  // Runs the recorded launches on the current stream, after the work queued there before.
  void replay() {
#if defined(RANKLENS_CUDA_EMULATION)
    if (!recorded_) throw cuda_error("cuda::graph::replay: nothing was captured");
    counters_.before_replay();
    recorded_->replay();
#else
    if (!instance_) throw cuda_error("cuda::graph::replay: nothing was captured");
    counters_.before_replay();
    check(cudaGraphLaunch(instance_, current_stream()), "cudaGraphLaunch");
#endif
  }

  // The backend's kernels the capture launched, by name (cuBLAS's kernels, copies and fills not
  // counted): what a replay launches in one go.
  const launch_census& launches() const noexcept { return launches_; }

  // Every operation the graph holds: the backend's kernels, cuBLAS's, copies and fills (under the
  // emulation, each GEMM is one).
  std::size_t node_count() const {
#if defined(RANKLENS_CUDA_EMULATION)
    return recorded_ ? recorded_->steps.size() : 0;
#else
    if (!graph_) return 0;
    std::size_t count = 0;
    check(cudaGraphGetNodes(graph_, nullptr, &count), "cudaGraphGetNodes");
    return count;
#endif
  }

  bool captured() const noexcept {
#if defined(RANKLENS_CUDA_EMULATION)
    return recorded_ != nullptr;
#else
    return instance_ != nullptr;
#endif
  }

 private:
  // While a capture runs: the thread allocates from the graph's pool, dropout takes its keys from
  // the graph's counters, and the launches are counted in the graph's census.
  struct capture_scope {
    capture_scope(private_pool& pool, replay_counters& counters, launch_census& census) noexcept
        : outer_census(detail::open_launch_census()) {
      caching_allocator::instance().set_capture_pool(&pool);
      replay_counters::capturing() = &counters;
      detail::open_launch_census() = &census;
    }
    ~capture_scope() {
      detail::open_launch_census() = outer_census;
      replay_counters::capturing() = nullptr;
      caching_allocator::instance().set_capture_pool(nullptr);
    }
    launch_census* outer_census;
    capture_scope(const capture_scope&) = delete;
    capture_scope& operator=(const capture_scope&) = delete;
  };

  // Waits for the device (a replay may still use the pool), then gives everything back.
  void reset() noexcept {
#if !defined(RANKLENS_CUDA_EMULATION)
    if (instance_ || graph_) (void)cudaDeviceSynchronize();
    if (instance_) (void)cudaGraphExecDestroy(instance_);
    if (graph_) (void)cudaGraphDestroy(graph_);
#endif
    instance_ = nullptr;
    graph_ = nullptr;
#if defined(RANKLENS_CUDA_EMULATION)
    recorded_.reset();
#endif
    counters_.clear();  // its slots are blocks of the pool
    launches_.by_name.clear();
    caching_allocator::instance().release_pool(pool_);
  }

  stream stream_;
  private_pool pool_;
  replay_counters counters_;
  launch_census launches_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t instance_ = nullptr;
#if defined(RANKLENS_CUDA_EMULATION)
  std::unique_ptr<emulation::recording> recorded_;  // the emulation's stand-in for instance_
#endif
};

}  // namespace ranklens::cuda
