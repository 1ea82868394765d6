// A bump allocator whose blocks are kept across rewinds: after the first training step has
// sized it, later steps of the same shapes allocate nothing from the system (Stan's arena).
//
// BlockArena does the bookkeeping for any device, with the device's allocate/deallocate taken
// as plain function pointers when it is made; Arena<D> makes one from device_memory<D>. So a
// holder (the tape) can keep a CUDA arena made in a CUDA translation unit, while C++ files that
// destroy or rewind it never name device_memory<cuda_t>.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "ranklens/core/device.hpp"

namespace ranklens {

class BlockArena {
 public:
  // Where the next allocation would go; rewinding to it releases everything allocated later.
  struct Mark {
    std::size_t block = 0;
    std::size_t offset = 0;
  };
  using allocate_function = void* (*)(std::size_t);
  using deallocate_function = void (*)(void*) noexcept;

  BlockArena(allocate_function allocate_block, deallocate_function deallocate_block, std::size_t first_block_bytes)
      : allocate_block_(allocate_block), deallocate_block_(deallocate_block), next_block_bytes_(first_block_bytes) {}
  BlockArena(const BlockArena&) = delete;
  BlockArena& operator=(const BlockArena&) = delete;
  ~BlockArena() {
    for (auto& b : blocks_) deallocate_block_(b.data);
  }

  // Uninitialised memory aligned to `alignment` (a power of two, at most tensor_alignment).
  void* allocate(std::size_t bytes, std::size_t alignment = tensor_alignment) {
    if (bytes == 0) bytes = 1;  // distinct non-null pointers keep views comparable
    while (current_ < blocks_.size()) {
      Block& b = blocks_[current_];
      const std::size_t start = (offset_ + alignment - 1) & ~(alignment - 1);
      if (start + bytes <= b.size) {
        offset_ = start + bytes;
        in_use_ += bytes;
        return b.data + start;
      }
      // Blocks are visited in order, so the same sequence of requests takes the same path
      // every step; an over-large request skips to a block that fits.
      ++current_;
      offset_ = 0;
    }
    const std::size_t size = std::max(bytes, next_block_bytes_);
    next_block_bytes_ = size * 2;
    blocks_.push_back({static_cast<std::byte*>(allocate_block_(size)), size});
    ++system_allocations_;
    current_ = blocks_.size() - 1;
    offset_ = bytes;
    in_use_ += bytes;
    return blocks_.back().data;
  }

  template <class T>
  T* allocate_array(std::size_t count) {
    return static_cast<T*>(allocate(sizeof(T) * count, alignof(T) > tensor_alignment ? alignof(T) : tensor_alignment));
  }

  Mark mark() const noexcept { return {current_, offset_}; }
  void rewind(Mark m) noexcept {
    current_ = m.block;
    offset_ = m.offset;
    in_use_ = 0;  // approximate after partial rewinds; exact after a full one
  }
  void clear() noexcept { rewind({}); }

  // How often the arena asked the system for memory (a steady-state step must add none).
  std::size_t system_allocations() const noexcept { return system_allocations_; }
  std::size_t capacity() const noexcept {
    std::size_t c = 0;
    for (auto& b : blocks_) c += b.size;
    return c;
  }
  std::size_t bytes_since_rewind() const noexcept { return in_use_; }

 private:
  struct Block {
    std::byte* data;
    std::size_t size;
  };
  allocate_function allocate_block_;
  deallocate_function deallocate_block_;
  std::vector<Block> blocks_;
  std::size_t current_ = 0;
  std::size_t offset_ = 0;
  std::size_t next_block_bytes_;
  std::size_t system_allocations_ = 0;
  std::size_t in_use_ = 0;
};

// An arena of device D's memory.
template <Device D = cpu_t>
class Arena : public BlockArena {
 public:
  explicit Arena(std::size_t first_block_bytes = std::size_t{1} << 20)
      : BlockArena(&device_memory<D>::allocate, &device_memory<D>::deallocate, first_block_bytes) {}
};

}  // namespace ranklens
