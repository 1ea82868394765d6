// Seeing ranklens CPU tensors as xtensor expressions without a copy (xt::adapt over the same
// memory, strides included), and building tensors from xtensor containers. For user code and
// tests: hot loops call ranklens kernels, not xtensor views, which inline poorly.
#pragma once
#include <array>
#include <cstddef>
#include <type_traits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "ranklens/core/tensor.hpp"

namespace ranklens {

// An xtensor view on the view's memory: writes through it change the tensor.
template <class T, ShapeType S>
auto as_xtensor(TensorView<T, S, cpu_t> v) {
  std::array<std::size_t, S::rank> shape{};
  std::array<std::ptrdiff_t, S::rank> strides{};
  std::size_t span = 1;  // elements from the first to one past the last reachable element
  for (std::size_t i = 0; i < S::rank; ++i) {
    shape[i] = std::size_t(v.extent(i));
    strides[i] = v.stride(i);
    if (shape[i] == 0) span = 0;
  }
  if (span != 0)
    for (std::size_t i = 0; i < S::rank; ++i) span += std::size_t((shape[i] - 1) * std::size_t(strides[i]));
  return xt::adapt(v.data(), span, xt::no_ownership(), shape, strides);
}

template <class T, ShapeType S>
auto as_xtensor(Tensor<T, S, cpu_t>& t) {
  return as_xtensor(t.view());
}
template <class T, ShapeType S>
auto as_xtensor(const Tensor<T, S, cpu_t>& t) {
  return as_xtensor(t.view());
}

// A tensor of shape type S holding a copy of any xtensor expression's values; the extents are
// checked against S (static ones must match), with a shape_error naming both.
template <ShapeType S, class E>
auto from_xtensor(const xt::xexpression<E>& expression) {
  using T = typename E::value_type;
  const auto& e = expression.derived_cast();
  if (e.dimension() != S::rank)
    throw shape_error("from_xtensor: expected rank " + std::to_string(S::rank) + ", got rank " + std::to_string(e.dimension()));
  std::array<index_t, S::rank> dims{};
  for (std::size_t i = 0; i < S::rank; ++i) dims[i] = index_t(e.shape()[i]);
  Tensor<std::remove_cv_t<T>, S, cpu_t> t(S::from_dims(dims, "from_xtensor"));
  auto target = as_xtensor(t.view());
  target = e;
  return t;
}

}  // namespace ranklens
