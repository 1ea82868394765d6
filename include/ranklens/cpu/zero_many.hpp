// Zeroes a list of word runs in turn: the twin of cuda::zero_many, which zeroes them in few
// launches (an optimizer's zero_grad over every gradient buffer).
#pragma once
#include <cstdint>
#include <cstring>
#include <span>

#include "ranklens/cpu/array_range.hpp"

namespace ranklens::cpu {

inline void zero_many(std::span<const array_range<std::uint32_t>> ranges) {
  for (const array_range<std::uint32_t>& r : ranges)
    if (r.n > 0) std::memset(r.data, 0, std::size_t(r.n) * sizeof(std::uint32_t));
}

}  // namespace ranklens::cpu
