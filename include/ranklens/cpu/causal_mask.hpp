// causal_mask_fill over contiguous (matrices, queries, keys) scores, as pointer-level kernels:
// the loops ops/masking.hpp ran inline, with the contract a CUDA twin will share
// (docs/architecture.md, "Ops on any device"). Query i sees keys j <= i + offset:
//   y[m, i, j] = j < visible(i) ? x[m, i, j] : value,   gx[m, i, j] (+)= j < visible(i) ? gy[m, i, j] : 0
// No SIMD here, so that nvcc can include it: the rows are copies and fills, which the compiler
// vectorises.
#pragma once
#include <algorithm>

#include "ranklens/core/config.hpp"
#include "ranklens/core/grad_write.hpp"

namespace ranklens::cpu {

// How many leading keys query i sees: j <= i + offset, clamped to [0, keys].
constexpr index_t visible_keys(index_t i, index_t offset, index_t keys) noexcept {
  const index_t last = i + offset;
  return last < 0 ? 0 : (last + 1 < keys ? last + 1 : keys);
}

// f(start, visible) for every query row: where its keys start in the contiguous scores, and
// how many of them it sees.
template <class F>
void for_each_query_row(index_t matrices, index_t queries, index_t keys, index_t offset, F&& f) {
  for (index_t m = 0; m < matrices; ++m)
    for (index_t i = 0; i < queries; ++i) f((m * queries + i) * keys, visible_keys(i, offset, keys));
}

template <class T>
void causal_mask_fill_forward(const T* x, T* y, index_t matrices, index_t queries, index_t keys, index_t offset, T value) {
  for_each_query_row(matrices, queries, keys, offset, [&](index_t row, index_t visible) {
    std::copy(x + row, x + row + visible, y + row);
    std::fill(y + row + visible, y + row + keys, value);
  });
}

// mode == store writes every gx (zero where masked); add adds onto the visible entries only, so
// an infinite or NaN gradient of a masked entry never reaches gx.
template <class T>
void causal_mask_fill_backward(const T* gy, T* gx, index_t matrices, index_t queries, index_t keys, index_t offset, grad_write mode) {
  for_each_query_row(matrices, queries, keys, offset, [&](index_t row, index_t visible) {
    if (mode == grad_write::store) {
      std::copy(gy + row, gy + row + visible, gx + row);
      std::fill(gx + row + visible, gx + row + keys, T(0));
    } else {
      for (index_t j = 0; j < visible; ++j) gx[row + j] += gy[row + j];
    }
  });
}

}  // namespace ranklens::cpu
