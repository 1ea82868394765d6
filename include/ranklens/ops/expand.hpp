// expand: an axis of extent 1 seen N times without a copy (torch.Tensor.expand). The result
// reads every one of the N positions from the same memory: its stride along that axis is 0.
//
// Why the gradient needs no op of its own: a view shares its StorageNode, so an op that
// accumulates into the view's gradient accumulates N times into the same elements, i.e. it
// sums over the expanded axis, which is exactly expand's backward. This holds because every
// op accumulates (+=) through the strides it is given, one element after another: matmul
// runs one GEMM per batch item with beta = 1, elementwise ops walk the strides, and ops that
// need dense input copy it with contiguous(), whose backward scatter-adds through the strides.
// Never write forward values into an expanded view.
#pragma once
#include <string>

#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {
template <std::size_t Ax, ShapeType R, StridedView X>
auto expanded_view(const X& x, index_t n) {
  if (x.shape().dims[Ax] != 1)
    throw shape_error("expand: axis " + std::to_string(Ax) + " of shape " + to_string(x.shape()) +
                      " must have extent 1 to be expanded to " + std::to_string(n));
  if (n < 0) throw shape_error("expand: the new extent must be >= 0, got " + std::to_string(n));
  auto dims = x.shape().dims;
  auto strides = x.strides();
  dims[Ax] = n;
  strides[Ax] = 0;
  return relayout(x, 0, shape_with_dims<R>(dims), strides);
}
}  // namespace detail

// expand<Axis, N>(x): axis `Axis` (extent 1) becomes N, statically. Grouped-query attention
// uses it to let each key/value head serve its group of query heads.
template <int Axis, index_t N, StridedView X>
auto expand(const X& x) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank>, "expand: the axis is out of range for the tensor's rank.");
  static_assert(N >= 0, "expand: the new extent must be zero or positive.");
  if constexpr (valid_axis<Axis, S::rank> && N >= 0) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    static_assert(S::static_extents[ax] == 1 || S::static_extents[ax] == dyn, "expand: only an axis of extent 1 can be expanded.");
    return detail::expanded_view<ax, set_axis_t<S, ax, N>>(x, N);
  }
}

// expand<Axis>(x, n): the same with a run-time extent (the result's axis is dyn), e.g. one
// position table shared by every sequence of a batch.
template <int Axis, StridedView X>
auto expand(const X& x, index_t n) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank>, "expand: the axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    static_assert(S::static_extents[ax] == 1 || S::static_extents[ax] == dyn, "expand: only an axis of extent 1 can be expanded.");
    return detail::expanded_view<ax, set_axis_t<S, ax, dyn>>(x, n);
  }
}

}  // namespace ranklens
