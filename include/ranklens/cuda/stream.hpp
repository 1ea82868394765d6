// Streams. Every launch and copy of the backend goes to the calling thread's current stream:
// the legacy default stream unless a stream_scope names another (a captured graph needs its own
// stream, graph.hpp). Work on one stream runs in order, which is what lets the caching allocator
// hand a freed block to the next request on the same stream at once.
#pragma once
#include <utility>

#include "ranklens/cuda/runtime.hpp"

namespace ranklens::cuda {

namespace detail {
inline cudaStream_t& current_stream_slot() noexcept {
  thread_local cudaStream_t stream = nullptr;  // the legacy default stream
  return stream;
}
}  // namespace detail

inline cudaStream_t current_stream() noexcept { return detail::current_stream_slot(); }

// An owned, non-blocking stream (it does not wait for the legacy default stream).
class stream {
 public:
  stream() : handle_(runtime::create_stream()) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  stream(stream&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  stream& operator=(stream&& other) noexcept {
    if (this != &other) {
      runtime::destroy_stream(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~stream() { runtime::destroy_stream(handle_); }

  cudaStream_t handle() const noexcept { return handle_; }
  void synchronize() const { runtime::synchronize(handle_, "cudaStreamSynchronize"); }

 private:
  cudaStream_t handle_;
};

// Makes `s` the calling thread's current stream until the scope ends.
class stream_scope {
 public:
  explicit stream_scope(cudaStream_t s) noexcept : saved_(std::exchange(detail::current_stream_slot(), s)) {}
  explicit stream_scope(const stream& s) noexcept : stream_scope(s.handle()) {}
  stream_scope(const stream_scope&) = delete;
  stream_scope& operator=(const stream_scope&) = delete;
  ~stream_scope() { detail::current_stream_slot() = saved_; }

 private:
  cudaStream_t saved_;
};

// Waits for everything queued on the current stream.
inline void synchronize() { runtime::synchronize(current_stream(), "cudaStreamSynchronize"); }

}  // namespace ranklens::cuda
