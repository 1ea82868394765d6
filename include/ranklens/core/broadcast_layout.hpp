// Strided iteration for broadcasting: an operand of lower rank, or with extent 1 where the
// result has more, is read with stride 0 along that axis. Accumulating a gradient through the
// same stride-0 layout sums it over the broadcast axes, which is exactly the reduction
// broadcasting's backward needs.
#pragma once
#include <array>
#include <tuple>

#include "ranklens/core/shape.hpp"

namespace ranklens {

// Strides that read an operand of shape `s` (with `strides`) at every index of `result_dims`.
template <std::size_t R, ShapeType S>
std::array<index_t, R> broadcast_strides(const S& s, const std::array<index_t, S::rank>& strides,
                                         const std::array<index_t, R>& result_dims) {
  static_assert(S::rank <= R);
  std::array<index_t, R> out{};
  for (std::size_t i = 0; i < R; ++i) {
    if (i + S::rank < R) continue;
    const std::size_t k = i - (R - S::rank);
    out[i] = (s.dims[k] == 1 && result_dims[i] != 1) ? 0 : strides[k];
  }
  return out;
}

// f(offset_0, offset_1, ..., offset_{N-1}) for every index of `dims` in row-major order,
// where offset_j follows strides[j].
template <std::size_t R, std::size_t N, class F>
void for_each_offsets(const std::array<index_t, R>& dims, const std::array<std::array<index_t, R>, N>& strides, F&& f) {
  std::array<index_t, N> off{};
  if constexpr (R == 0) {
    std::apply(f, off);
  } else {
    for (auto d : dims)
      if (d == 0) return;
    std::array<index_t, R> idx{};
    const index_t inner = dims[R - 1];
    while (true) {
      std::array<index_t, N> o = off;
      for (index_t j = 0; j < inner; ++j) {
        std::apply(f, o);
        for (std::size_t n = 0; n < N; ++n) o[n] += strides[n][R - 1];
      }
      std::size_t k = R - 1;
      while (true) {
        if (k == 0) return;
        --k;
        for (std::size_t n = 0; n < N; ++n) off[n] += strides[n][k];
        if (++idx[k] < dims[k]) break;
        for (std::size_t n = 0; n < N; ++n) off[n] -= strides[n][k] * dims[k];
        idx[k] = 0;
      }
    }
  }
}

}  // namespace ranklens
