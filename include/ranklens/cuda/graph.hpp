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
// tables); docs/architecture.md, "A whole training step in a CUDA graph". A replay runs no host
// code: dropout's seed is a host number, so replays keep the captured one (the same mask each
// time), and clip_grad_norm (a host sum) cannot be captured.
#pragma once
#include <memory>
#include <utility>

#include "ranklens/cuda/caching_allocator.hpp"

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
    caching_allocator::instance().set_capture_pool(&pool_);
    emulation::current_recording = &recorded;
    try {
      launches();
    } catch (...) {
      emulation::current_recording = nullptr;
      caching_allocator::instance().set_capture_pool(nullptr);
      throw;
    }
    emulation::current_recording = nullptr;
    caching_allocator::instance().set_capture_pool(nullptr);
    recorded_ = std::make_unique<emulation::recording>(std::move(recorded));
#else
    reset();
    stream_scope on(stream_);
    caching_allocator::instance().set_capture_pool(&pool_);
    check(cudaStreamBeginCapture(stream_.handle(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    try {
      launches();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      (void)cudaStreamEndCapture(stream_.handle(), &broken);
      if (broken) (void)cudaGraphDestroy(broken);
      (void)cudaGetLastError();
      caching_allocator::instance().set_capture_pool(nullptr);
      throw;
    }
    caching_allocator::instance().set_capture_pool(nullptr);
    check(cudaStreamEndCapture(stream_.handle(), &graph_), "cudaStreamEndCapture");
    check(cudaGraphInstantiate(&instance_, graph_, 0), "cudaGraphInstantiate");
#endif
  }

  // Runs the recorded launches on the current stream, after the work queued there before.
  void replay() {
#if defined(RANKLENS_CUDA_EMULATION)
    if (!recorded_) throw cuda_error("cuda::graph::replay: nothing was captured");
    recorded_->replay();
#else
    if (!instance_) throw cuda_error("cuda::graph::replay: nothing was captured");
    check(cudaGraphLaunch(instance_, current_stream()), "cudaGraphLaunch");
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
    caching_allocator::instance().release_pool(pool_);
  }

  stream stream_;
  private_pool pool_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t instance_ = nullptr;
#if defined(RANKLENS_CUDA_EMULATION)
  std::unique_ptr<emulation::recording> recorded_;  // the emulation's stand-in for instance_
#endif
};

}  // namespace ranklens::cuda
