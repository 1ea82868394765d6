// Reductions: sum, mean and max over one axis (dropped, or kept with extent 1), and sum and
// mean of every element. The axis is a template argument so the result's shape type is known
// at compile time; −1 is the last axis.
#pragma once
#include <limits>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/reduce.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

inline constexpr bool keep_dim = true;

namespace detail {

// (outer, n, inner) of a contiguous tensor around `axis`.
template <ShapeType S>
std::array<index_t, 3> split_around_axis(const S& s, std::size_t axis) {
  index_t outer = 1, inner = 1;
  for (std::size_t i = 0; i < axis; ++i) outer *= s.dims[i];
  for (std::size_t i = axis + 1; i < S::rank; ++i) inner *= s.dims[i];
  return {outer, s.dims[axis], inner};
}

template <ShapeType S, std::size_t Axis, bool Keep>
using reduced_shape_t = std::conditional_t<Keep, set_axis_t<S, Axis, 1>, remove_axis_t<S, Axis>>;

template <ShapeType R, ShapeType S>
R reduced_shape(const S& s, std::size_t axis, bool keep) {
  std::array<index_t, R::rank> dims{};
  for (std::size_t i = 0, j = 0; i < S::rank; ++i) {
    if (i == axis) {
      if (keep) dims[j++] = 1;
    } else {
      dims[j++] = s.dims[i];
    }
  }
  return R::from_dims(dims, "reduce");
}

// Σ over the axis.
template <int Axis, bool Keep, class T, ShapeType S, Device D>
auto sum_over_axis(const Var<T, S, D>& input) {
  static_assert(S::rank >= 1, "sum/mean over an axis: the tensor needs at least one axis.");
  static_assert(valid_axis<Axis, S::rank>, "sum/mean/max: the axis is out of range for this tensor's rank.");
  constexpr std::size_t axis = axis_index<Axis, S::rank>;
  using R = reduced_shape_t<S, axis, Keep>;
  const auto x = contiguous(input);
  const auto [outer, n, inner] = split_around_axis(x.shape(), axis);
  auto out = new_var<T, R, D>(reduced_shape<R>(x.shape(), axis, Keep), any_requires_grad(x));
  backend::sum_axis<T>(D{}, x.value().data(), out.mutable_data(), outer, n, inner);
  record(
      "sum", out,
      [outer, n, inner](const auto& out, const auto& x) {
        backend::sum_axis_backward<T>(D{}, out.grad().data(), x.grad_accumulator().data(), outer, n, inner);
      },
      x);
  return out;
}

}  // namespace detail

template <int Axis, bool Keep = false, VarType V>
auto sum(const V& x) {
  return detail::sum_over_axis<Axis, Keep>(x);
}
template <int Axis, bool Keep = false, VarType V>
auto mean(const V& x) {
  // The mean is the sum scaled by 1/n (an axis of extent 0 gives NaN, as PyTorch's mean).
  using T = typename V::value_type;
  constexpr std::size_t axis = axis_index<Axis, V::shape_type::rank>;
  return affine(detail::sum_over_axis<Axis, Keep>(x), T(1) / T(x.extent(axis)), T(0));
}

// Σ of every element: a Var of Shape<> (one element), e.g. a loss.
template <class T, ShapeType S, Device D>
Var<T, Shape<>, D> sum(const Var<T, S, D>& input) {
  const auto x = contiguous(input);
  auto out = new_var<T, Shape<>, D>(Shape<>{}, any_requires_grad(x));
  backend::sum_all<T>(D{}, x.value().data(), x.numel(), out.mutable_data());
  record(
      "sum_all", out,
      [](const auto& out, const auto& x) {
        backend::sum_all_backward<T>(D{}, out.grad().data(), x.grad_accumulator().data(), x.numel());
      },
      x);
  return out;
}

template <class T, ShapeType S, Device D>
Var<T, Shape<>, D> mean(const Var<T, S, D>& x) {
  const index_t n = x.numel();
  return affine(sum(x), T(1) / T(n), T(0));
}

// Maximum over an axis; the gradient goes to the first position of each maximum, as PyTorch's
// max(dim) does.
template <int Axis, bool Keep = false, class T, ShapeType S, Device D>
auto max(const Var<T, S, D>& input) {
  static_assert(S::rank >= 1, "max over an axis: the tensor needs at least one axis.");
  static_assert(valid_axis<Axis, S::rank>, "sum/mean/max: the axis is out of range for this tensor's rank.");
  constexpr std::size_t axis = axis_index<Axis, S::rank>;
  using R = detail::reduced_shape_t<S, axis, Keep>;
  const auto x = contiguous(input);
  const auto [outer, n, inner] = detail::split_around_axis(x.shape(), axis);
  if (n == 0) throw shape_error("max: cannot reduce an axis of extent 0, shape " + to_string(x.shape()));
  auto out = new_var<T, R, D>(detail::reduced_shape<R>(x.shape(), axis, Keep), any_requires_grad(x));
  index_t* argmax = Tape::current().arena<D>().template allocate_array<index_t>(std::size_t(out.numel()));
  backend::max_axis<T>(D{}, x.value().data(), out.mutable_data(), argmax, outer, n, inner);
  record(
      "max", out,
      [argmax, outer, n, inner](const auto& out, const auto& x) {
        backend::max_axis_backward<T>(D{}, argmax, out.grad().data(), x.grad_accumulator().data(), outer, n, inner);
      },
      x);
  return out;
}

}  // namespace ranklens
