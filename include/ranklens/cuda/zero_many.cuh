// Zeroes a list of word runs in a launch or a few (for_each_in_list), where a memset per run
// would be a graph node each: an optimizer's zero_grad over dozens of gradient buffers. The twin
// of cpu/zero_many.hpp.
#pragma once
#include <cstdint>
#include <span>

#include "ranklens/cpu/array_range.hpp"
#include "ranklens/cuda/tensor_lists.cuh"

namespace ranklens::cuda {

namespace detail {
struct zero_list_op {
  struct bound {  // nothing is read: load only gives store its turn
    __device__ bool load(const cpu::array_range<std::uint32_t>&, index_t) const { return false; }
    __device__ void store(const cpu::array_range<std::uint32_t>& r, index_t i, bool) const { r.data[i] = 0u; }
  };
  __device__ bound bind() const { return {}; }
};
}  // namespace detail

// ranges: runs of words in device memory. `chunk` (words per block) is for the tests.
inline void zero_many(std::span<const cpu::array_range<std::uint32_t>> ranges, index_t chunk = detail::list_chunk) {
  for_each_in_list("cuda::zero_many", ranges, detail::zero_list_op{}, chunk);
}

}  // namespace ranklens::cuda
