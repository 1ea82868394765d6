// device_buffer<T>: an owned array in device memory from the caching allocator, for kernel
// temporaries and for tests. Freed memory goes back to the cache at once; the stream order makes
// that safe for kernels still queued on the current stream.
#pragma once
#include <algorithm>
#include <utility>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/cuda/device_memory.hpp"

namespace ranklens::cuda {

template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(index_t count)
      : data_(static_cast<T*>(caching_allocator::instance().allocate(sizeof(T) * std::size_t(count)))), size_(count) {}
  explicit device_buffer(const std::vector<T>& host) : device_buffer(index_t(host.size())) { copy_to_device(data_, host.data(), size_); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  device_buffer& operator=(device_buffer&& other) noexcept {
    if (this != &other) {
      caching_allocator::instance().deallocate(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~device_buffer() { caching_allocator::instance().deallocate(data_); }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  index_t size() const noexcept { return size_; }

  std::vector<T> to_host() const {
    std::vector<T> host(static_cast<std::size_t>(size_));
    copy_to_host(host.data(), data_, size_);
    return host;
  }
  void assign(const std::vector<T>& host) { copy_to_device(data_, host.data(), std::min<index_t>(size_, index_t(host.size()))); }

 private:
  T* data_ = nullptr;
  index_t size_ = 0;
};

}  // namespace ranklens::cuda
