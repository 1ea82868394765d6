// concat<Axis>(a, b, ...) joins tensors along one axis into a new tensor; split<Axis> cuts one
// into views along an axis, so its gradient needs no op of its own (see views.hpp).
#pragma once
#include <array>
#include <string>

#include "ranklens/backend/strided_copy.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {
template <std::size_t Axis, ShapeType S0, ShapeType... Ss>
struct concat_all {
  using type = S0;
};
template <std::size_t Axis, ShapeType S0, ShapeType S1, ShapeType... Ss>
struct concat_all<Axis, S0, S1, Ss...> : concat_all<Axis, concat_shape_t<S0, S1, Axis>, Ss...> {};
}  // namespace detail

// The shape of concatenating tensors of shapes S... along axis Axis (non-negative).
template <std::size_t Axis, ShapeType... S>
using concat_all_shape_t = typename detail::concat_all<Axis, S...>::type;

// The tensors one after another along axis `Axis` (negative counts from the end); every
// other extent must agree. (B, T1, C) and (B, T2, C) along 1 give (B, T1 + T2, C).
template <int Axis, class T, ShapeType S0, ShapeType... Ss, Device D>
auto concat(const Var<T, S0, D>& first, const Var<T, Ss, D>&... rest) {
  static constexpr std::size_t rank = S0::rank;  // static: nvcc 13 fails on constexpr locals read in lambdas
  static_assert(sizeof...(Ss) >= 1, "concat: give at least two tensors.");
  static_assert(((Ss::rank == rank) && ...), "concat: all tensors must have the same rank.");
  static_assert(valid_axis<Axis, rank>, "concat: the axis is out of range for the tensors' rank.");
  if constexpr (sizeof...(Ss) >= 1 && ((Ss::rank == rank) && ...) && valid_axis<Axis, rank>) {
    static constexpr std::size_t ax = axis_index<Axis, rank>;
    static_assert((agree_except<S0, Ss, ax> && ...),
                  "concat: the tensors' static extents differ on an axis other than the one joined.");
    if constexpr ((agree_except<S0, Ss, ax> && ...)) {
      using R = concat_all_shape_t<ax, S0, Ss...>;

      std::array<index_t, rank> dims = first.shape().dims;
      auto join = [&](const auto& part) {
        for (std::size_t i = 0; i < rank; ++i)
          if (i != ax && part.shape().dims[i] != dims[i]) {
            std::string shapes = to_string(first.shape());
            ((shapes += ", " + to_string(rest.shape())), ...);
            throw shape_error("concat along axis " + std::to_string(ax) + ": shapes " + shapes +
                              " must agree on every other axis (they differ on axis " + std::to_string(i) + ")");
          }
        dims[ax] += part.shape().dims[ax];
      };
      (join(rest), ...);
      const R shape = detail::shape_with_dims<R>(dims);
      const auto out_strides = contiguous_strides(shape);

      auto out = new_var<T, R, D>(shape, any_requires_grad(first, rest...));
      T* y = out.mutable_data();
      index_t along = 0;  // where the current part starts on the joined axis
      auto copy_in = [&](const auto& part) {
        backend::copy_strided<T>(D{}, part.shape().dims, part.value().data(), part.strides(), y + along * out_strides[ax],
                                 out_strides, grad_write::store);
        along += part.shape().dims[ax];
      };
      copy_in(first);
      (copy_in(rest), ...);

      record(
          "concat", out,
          [out_strides](const auto& result, const auto&... parts) {
            const T* gy = result.grad().data();
            index_t start = 0;
            auto add_back = [&](const auto& part) {
              if (part.requires_grad()) {
                auto g = part.grad_accumulator();
                backend::copy_strided<T>(D{}, part.shape().dims, gy + start * out_strides[ax], out_strides, g.data(), g.strides(),
                                         grad_write::add);
              }
              start += part.shape().dims[ax];
            };
            (add_back(parts), ...);
          },
          first, rest...);
      return out;
    }
  }
}

// Views of consecutive pieces of axis `Axis` with the given sizes, which must add up to its
// extent: auto [q, k, v] = split<-1>(qkv, c, c, c).
template <int Axis, StridedView X, std::integral... I>
auto split(const X& x, I... sizes) {
  using S = typename X::shape_type;
  static_assert(sizeof...(I) >= 1, "split: give at least one size.");
  static_assert(valid_axis<Axis, S::rank>, "split: the axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    const std::array<index_t, sizeof...(I)> size{static_cast<index_t>(sizes)...};
    index_t total = 0;
    bool negative = false;
    for (index_t s : size) {
      total += s;
      negative = negative || s < 0;
    }
    if (negative || total != x.shape().dims[ax]) {
      std::string listed;
      for (index_t s : size) listed += (listed.empty() ? "" : " + ") + std::to_string(s);
      throw shape_error("split along axis " + std::to_string(ax) + ": sizes " + listed + " = " + std::to_string(total) +
                        " must be non-negative and add up to the extent of that axis in shape " + to_string(x.shape()));
    }
    using Piece = decltype(slice<Axis>(x, 0, 0));
    std::array<Piece, sizeof...(I)> pieces;
    index_t begin = 0;
    for (std::size_t k = 0; k < size.size(); ++k) {
      pieces[k] = slice<Axis>(x, begin, begin + size[k]);
      begin += size[k];
    }
    return pieces;
  }
}

// N equal views along axis `Axis`; a static extent stays static (E / N).
template <int Axis, std::size_t N, StridedView X>
auto split(const X& x) {
  using S = typename X::shape_type;
  static_assert(N >= 1, "split: the number of parts must be at least 1.");
  static_assert(valid_axis<Axis, S::rank>, "split: the axis is out of range for the tensor's rank.");
  if constexpr (N >= 1 && valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    constexpr index_t extent = S::static_extents[ax];
    static_assert(extent == dyn || extent % index_t(N) == 0,
                  "split: the axis's static extent is not divisible by the number of parts.");
    const index_t n = x.shape().dims[ax];
    if (n % index_t(N) != 0)
      throw shape_error("split along axis " + std::to_string(ax) + " into " + std::to_string(N) + " equal parts: extent " +
                        std::to_string(n) + " of shape " + to_string(x.shape()) + " is not divisible");
    using Piece = decltype(detail::relayout(x, 0, set_axis_t<S, ax, extent == dyn ? dyn : extent / index_t(N)>{},
                                            x.strides()));
    std::array<Piece, N> pieces;
    auto dims = x.shape().dims;
    dims[ax] = n / index_t(N);
    const auto piece_shape = detail::shape_with_dims<typename Piece::shape_type>(dims);
    for (std::size_t k = 0; k < N; ++k)
      pieces[k] = detail::relayout(x, index_t(k) * dims[ax] * x.strides()[ax], piece_shape, x.strides());
    return pieces;
  }
}

}  // namespace ranklens
