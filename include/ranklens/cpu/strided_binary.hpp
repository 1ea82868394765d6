// A binary function over operands in any strided (e.g. broadcast) layouts, forward and
// backward, as pointer-level kernels: the general case of add/sub/mul/div that
// ops/arithmetic.hpp ran inline, for layouts the vector kernels of elementwise.hpp do not cover
// (docs/architecture.md, "Ops on any device"). Op is a functor of binary_functions.hpp.
//   y[i·sy] = Op::forward(a[i·sa], b[i·sb])                      for every index i of dims
//   ga[i·sga] += Op::grad_a(a[i·sa], b[i·sb], gy[i·sy]), gb likewise (either may be null)
// A stride of 0 reads an operand broadcast along that axis; accumulating its gradient through
// the same stride 0 sums it over the broadcast axis, which is what broadcasting's backward needs.
#pragma once
#include <array>
#include <cstddef>

#include "ranklens/core/broadcast_layout.hpp"

namespace ranklens::cpu {

template <class Op, class T, std::size_t R>
void binary_forward_strided(const std::array<index_t, R>& dims, const T* a, const std::array<index_t, R>& a_strides, const T* b,
                            const std::array<index_t, R>& b_strides, T* y, const std::array<index_t, R>& y_strides) {
  for_each_offsets<R, 3>(dims, {y_strides, a_strides, b_strides},
                         [&](index_t oy, index_t oa, index_t ob) { y[oy] = Op::forward(a[oa], b[ob]); });
}

template <class Op, class T, std::size_t R>
void binary_backward_strided(const std::array<index_t, R>& dims, const T* a, const std::array<index_t, R>& a_strides, const T* b,
                             const std::array<index_t, R>& b_strides, const T* gy, const std::array<index_t, R>& gy_strides, T* ga,
                             const std::array<index_t, R>& ga_strides, T* gb, const std::array<index_t, R>& gb_strides) {
  if (ga)
    for_each_offsets<R, 4>(dims, {gy_strides, a_strides, b_strides, ga_strides}, [&](index_t oy, index_t oa, index_t ob, index_t og) {
      ga[og] += Op::grad_a(a[oa], b[ob], gy[oy]);
    });
  if (gb)
    for_each_offsets<R, 4>(dims, {gy_strides, a_strides, b_strides, gb_strides}, [&](index_t oy, index_t oa, index_t ob, index_t og) {
      gb[og] += Op::grad_b(a[oa], b[ob], gy[oy]);
    });
}

}  // namespace ranklens::cpu
