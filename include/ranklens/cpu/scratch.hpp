// Per-thread scratch memory for kernels that need temporaries (per-block partial sums):
// each slot grows to the largest request seen and is then reused, so a steady-state training
// step makes no system allocation. A kernel uses distinct slots for temporaries that are
// alive at the same time; the memory is valid until the same thread asks for the slot again.
#pragma once
#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <span>

#include "ranklens/core/config.hpp"

namespace ranklens::cpu {

enum class scratch_slot : std::size_t { partial_sums, totals, block, gemm_partials, packed_b, count };

template <class T>
std::span<T> thread_scratch(scratch_slot slot, std::size_t count) {
  struct Buffer {
    std::unique_ptr<std::byte[]> bytes;
    std::size_t capacity = 0;
  };
  thread_local std::array<Buffer, std::size_t(scratch_slot::count)> buffers;
  Buffer& b = buffers[std::size_t(slot)];
  const std::size_t needed = count * sizeof(T);
  if (needed > b.capacity) {
    b.bytes.reset(new std::byte[needed]);  // operator new[] aligns for any fundamental type
    b.capacity = needed;
  }
  return {reinterpret_cast<T*>(b.bytes.get()), count};
}

}  // namespace ranklens::cpu
