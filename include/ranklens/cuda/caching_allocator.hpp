// Device memory for tensors, arenas and kernel temporaries: a caching allocator over plain
// cudaMalloc (never managed memory). cudaMalloc and cudaFree synchronise the device and cost
// tens of microseconds each, so freed blocks are kept, keyed by device, stream and size, and
// handed to the next request of about the same size on the same stream. Reuse on the same stream
// needs no synchronisation: the stream runs the freed block's last kernels before the new
// owner's. Sizes are rounded up to 512 bytes, and to 2 MiB from 1 MiB on.
//
// While a CUDA graph is captured (graph.hpp), the thread allocates from the graph's private pool
// instead: blocks the graph's kernels use must not reach another owner while the graph lives.
//
// RANKLENS_CUDA_NO_CACHE=1 in the environment turns the caching off (every free is a cudaFree, and
// no size is rounded), for memory checkers.
#pragma once
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "ranklens/cuda/stream.hpp"

namespace ranklens::cuda {

struct allocator_statistics {
  std::size_t in_use = 0;              // bytes in blocks handed out and not yet freed
  std::size_t peak_in_use = 0;         // the most in_use has been since the last reset_peak()
  std::size_t cached = 0;              // bytes in freed blocks kept for reuse
  std::size_t device_allocations = 0;  // cudaMalloc calls so far
};

// The blocks one captured graph owns (see the top of this file).
struct private_pool {
  std::multimap<std::size_t, void*> free_blocks;
  std::vector<void*> owned;
};

class caching_allocator {
 public:
  static caching_allocator& instance() {
    // Never destroyed: tensors in static storage may free their memory after it would be.
    static caching_allocator* allocator = new caching_allocator;
    return *allocator;
  }

  static std::size_t rounded_size(std::size_t bytes) noexcept {
    constexpr std::size_t small = 512, large = std::size_t(2) << 20;
    return bytes < (std::size_t(1) << 20) ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
  }

  // Memory for `bytes` on the current device, for use on the current stream (nullptr for 0).
  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    // Uncached, a block is exactly what was asked for, so that a memory checker sees every overrun.
    const std::size_t size = caching_disabled_ ? bytes : rounded_size(bytes);
    std::lock_guard lock(mutex_);
    private_pool* pool = capture_pool();
    void* p = pool ? take_from_pool(*pool, size) : take_cached(size);
    std::size_t block_size = size;
    if (p) {
      block_size = freed_sizes_.at(p);
      freed_sizes_.erase(p);
    } else {
      p = device_malloc(size);
      if (pool) pool->owned.push_back(p);
    }
    live_.emplace(p, block{block_size, runtime::current_device(), current_stream(), pool});
    stats_.in_use += block_size;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
    return p;
  }

  void deallocate(void* p) noexcept {
    if (!p) return;
    std::lock_guard lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: nothing sensible to do in a noexcept path
    const block b = it->second;
    live_.erase(it);
    stats_.in_use -= b.size;
    if (b.pool) {
      b.pool->free_blocks.emplace(b.size, p);
      freed_sizes_[p] = b.size;
    } else if (caching_disabled_) {
      runtime::free(p);
      stats_.device_bytes -= b.size;
    } else {
      free_.emplace(key{b.device, b.stream, b.size}, p);
      freed_sizes_[p] = b.size;
      stats_.cached += b.size;
    }
  }

  // Returns every cached block to the device (after waiting for the device to finish with them).
  void empty_cache() {
    std::lock_guard lock(mutex_);
    release_cached();
  }

  allocator_statistics statistics() const {
    std::lock_guard lock(mutex_);
    return allocator_statistics{stats_.in_use, stats_.peak_in_use, stats_.cached, stats_.device_allocations};
  }
  void reset_peak() {
    std::lock_guard lock(mutex_);
    stats_.peak_in_use = stats_.in_use;
  }

  // False under RANKLENS_CUDA_NO_CACHE=1: every block is exactly the size asked for and freed at once.
  bool caching() const noexcept { return !caching_disabled_; }

  // Routes this thread's allocations to `pool` (nullptr: back to the shared cache).
  void set_capture_pool(private_pool* pool) noexcept { capture_pool() = pool; }

  // Gives a graph's blocks back: free ones to the shared cache; blocks still handed out go there
  // when they are freed.
  void release_pool(private_pool& pool) noexcept {
    std::lock_guard lock(mutex_);
    for (auto& [p, b] : live_)
      if (b.pool == &pool) b.pool = nullptr;
    for (const auto& [size, p] : pool.free_blocks) {
      free_.emplace(key{runtime::current_device(), current_stream(), size}, p);
      stats_.cached += size;
    }
    pool.free_blocks.clear();
    pool.owned.clear();
  }

 private:
  caching_allocator() {
    const char* flag = std::getenv("RANKLENS_CUDA_NO_CACHE");
    caching_disabled_ = flag != nullptr && std::string(flag) == "1";
  }

  struct key {
    int device;
    cudaStream_t stream;
    std::size_t size;
    bool operator<(const key& o) const noexcept {
      return std::tie(device, stream, size) < std::tie(o.device, o.stream, o.size);
    }
  };
  struct block {
    std::size_t size;
    int device;
    cudaStream_t stream;
    private_pool* pool;
  };
  struct counters {
    std::size_t in_use = 0, peak_in_use = 0, cached = 0, device_allocations = 0, device_bytes = 0;
  };

  static private_pool*& capture_pool() noexcept {
    thread_local private_pool* pool = nullptr;
    return pool;
  }

  // A cached block of at least `size` bytes and at most a quarter more, or nullptr.
  void* take_cached(std::size_t size) {
    const int device = runtime::current_device();
    const cudaStream_t stream = current_stream();
    const auto it = free_.lower_bound(key{device, stream, size});
    if (it == free_.end() || it->first.device != device || it->first.stream != stream || it->first.size > size + size / 4)
      return nullptr;
    void* p = it->second;
    stats_.cached -= it->first.size;
    free_.erase(it);
    return p;
  }
  void* take_from_pool(private_pool& pool, std::size_t size) {
    const auto it = pool.free_blocks.lower_bound(size);
    if (it == pool.free_blocks.end() || it->first > size + size / 4) return nullptr;
    void* p = it->second;
    pool.free_blocks.erase(it);
    return p;
  }

  void* device_malloc(std::size_t size) {
    void* p = nullptr;
    if (runtime::try_malloc(&p, size) != cudaSuccess) {
      release_cached();  // cached blocks of other sizes may make room
      if (runtime::try_malloc(&p, size) != cudaSuccess)
        throw cuda_error("cudaMalloc: out of device memory for " + std::to_string(size) + " bytes (" +
                         std::to_string(stats_.in_use) + " bytes in use by ranklens tensors and temporaries)");
    }
    ++stats_.device_allocations;
    stats_.device_bytes += size;
    return p;
  }

  void release_cached() {
    if (free_.empty()) return;
    runtime::device_synchronize("cudaDeviceSynchronize (before freeing cached blocks)");
    for (const auto& [k, p] : free_) {
      runtime::free(p);
      freed_sizes_.erase(p);
      stats_.device_bytes -= k.size;
    }
    free_.clear();
    stats_.cached = 0;
  }

  mutable std::mutex mutex_;
  std::multimap<key, void*> free_;
  std::unordered_map<void*, block> live_;
  std::unordered_map<void*, std::size_t> freed_sizes_;  // the size of every free block, cached or pooled
  counters stats_;
  bool caching_disabled_ = false;
};

}  // namespace ranklens::cuda
