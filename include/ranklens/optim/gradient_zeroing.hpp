// An optimizer's zero_grad: every gradient buffer of its list zeroed by one call of
// backend::zero_many, a launch or a few off the CPU, where a memset per parameter would be a
// launch (and a captured graph's node) each. The list is rebuilt at each call (a parameter gains
// its buffer at its first backward) into storage kept between calls, so that a step allocates
// nothing on the host. A buffer that is not whole 4-byte words (a bf16 one of odd length) is
// zeroed alone.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "ranklens/backend/zero_many.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

template <Device D>
class GradientZeroing {
 public:
  // params: all on D (the optimizer checked its list when built).
  void operator()(const ParameterList& params) {
    words_.clear();
    for (const auto& p : params) {
      void* grad = p.grad();
      if (grad == nullptr) continue;
      const std::size_t bytes = std::size_t(p.numel) * size_of(p.type);
      if (bytes % sizeof(std::uint32_t) == 0 && reinterpret_cast<std::uintptr_t>(grad) % alignof(std::uint32_t) == 0)
        words_.push_back({static_cast<std::uint32_t*>(grad), index_t(bytes / sizeof(std::uint32_t))});
      else
        p.zero_grad();
    }
    backend::zero_many(D{}, std::span<const cpu::array_range<std::uint32_t>>(words_));
  }

 private:
  std::vector<cpu::array_range<std::uint32_t>> words_;
};

}  // namespace ranklens
