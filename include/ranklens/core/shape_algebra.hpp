// Compile-time shape arithmetic: the result shape type of broadcasting, matmul, reductions,
// permutations and concatenation, plus the matching run-time checks. Static mismatches are
// reported by the ops with one-sentence static_asserts that use the predicates below.
#pragma once
#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "ranklens/core/shape.hpp"

namespace ranklens {

namespace detail {
template <auto Extents, class Seq = std::make_index_sequence<Extents.size()>>
struct shape_from_array;
template <auto Extents, std::size_t... I>
struct shape_from_array<Extents, std::index_sequence<I...>> {
  using type = Shape<Extents[I]...>;
};
}  // namespace detail

// Shape<...> whose static extents are the elements of a constexpr std::array.
template <auto Extents>
using shape_from_array_t = typename detail::shape_from_array<Extents>::type;

// Normalises a possibly negative axis (-1 = last) for a tensor of rank R.
template <int Axis, std::size_t R>
inline constexpr std::size_t axis_index = Axis < 0 ? std::size_t(int(R) + Axis) : std::size_t(Axis);

template <int Axis, std::size_t R>
inline constexpr bool valid_axis = (Axis < 0 ? int(R) + Axis >= 0 : Axis < int(R));

// ---- broadcasting (NumPy rules, aligned from the right) ----

namespace detail {
constexpr bool extents_broadcast(index_t a, index_t b) { return a == dyn || b == dyn || a == b || a == 1 || b == 1; }
constexpr index_t broadcast_extent(index_t a, index_t b) {
  if (a == 1) return b;
  if (b == 1) return a;
  if (a == dyn) return b;  // a static b (other than 1) fixes the result
  return a;
}
template <class A, class B>
constexpr auto broadcast_extents() {
  constexpr std::size_t r = std::max(A::rank, B::rank);
  std::array<index_t, r> out{};
  for (std::size_t i = 0; i < r; ++i) {
    const index_t a = i + A::rank < r ? 1 : A::static_extents[i - (r - A::rank)];
    const index_t b = i + B::rank < r ? 1 : B::static_extents[i - (r - B::rank)];
    out[i] = extents_broadcast(a, b) ? broadcast_extent(a, b) : dyn;
  }
  return out;
}
template <class A, class B>
constexpr bool broadcastable() {
  constexpr std::size_t r = std::max(A::rank, B::rank);
  for (std::size_t i = 0; i < r; ++i) {
    const index_t a = i + A::rank < r ? 1 : A::static_extents[i - (r - A::rank)];
    const index_t b = i + B::rank < r ? 1 : B::static_extents[i - (r - B::rank)];
    if (!extents_broadcast(a, b)) return false;
  }
  return true;
}
}  // namespace detail

template <ShapeType A, ShapeType B>
inline constexpr bool statically_broadcastable = detail::broadcastable<A, B>();

template <ShapeType A, ShapeType B>
using broadcast_shape_t = shape_from_array_t<detail::broadcast_extents<A, B>()>;

// The broadcast result of two run-time shapes; throws shape_error naming `op` and both shapes.
template <ShapeType A, ShapeType B>
broadcast_shape_t<A, B> broadcast_shapes(const char* op, const A& a, const B& b) {
  using R = broadcast_shape_t<A, B>;
  std::array<index_t, R::rank> dims{};
  for (std::size_t i = 0; i < R::rank; ++i) {
    const index_t ea = i + A::rank < R::rank ? 1 : a.dims[i - (R::rank - A::rank)];
    const index_t eb = i + B::rank < R::rank ? 1 : b.dims[i - (R::rank - B::rank)];
    if (ea != eb && ea != 1 && eb != 1)
      throw shape_error(std::string(op) + ": shapes " + to_string(a) + " and " + to_string(b) +
                        " do not broadcast (axis " + std::to_string(i) + ")");
    dims[i] = ea == 1 ? eb : ea;
  }
  return R::from_dims(dims, op);
}

// ---- matmul: (..., M, K) x (K, N) or (batch..., M, K) x (batch..., K, N) ----

template <ShapeType A, ShapeType B>
inline constexpr bool matmul_ranks_ok = A::rank >= 2 && (B::rank == 2 || B::rank == A::rank);

template <ShapeType A, ShapeType B>
inline constexpr bool matmul_inner_ok = [] {
  if constexpr (!matmul_ranks_ok<A, B>) {
    return true;  // reported by the rank check instead
  } else {
    constexpr index_t ka = A::static_extents[A::rank - 1];
    constexpr index_t kb = B::static_extents[B::rank - 2];
    return ka == dyn || kb == dyn || ka == kb;
  }
}();

namespace detail {
template <class A, class B>
constexpr auto matmul_extents() {
  std::array<index_t, A::rank> out{};
  for (std::size_t i = 0; i + 2 < A::rank; ++i) {
    const index_t a = A::static_extents[i];
    const index_t b = B::rank == 2 ? a : B::static_extents[i];
    out[i] = a == dyn ? b : a;
  }
  out[A::rank - 2] = A::static_extents[A::rank - 2];
  out[A::rank - 1] = B::static_extents[B::rank - 1];
  return out;
}
}  // namespace detail

template <ShapeType A, ShapeType B>
  requires(matmul_ranks_ok<A, B>)
using matmul_shape_t = shape_from_array_t<detail::matmul_extents<A, B>()>;

// ---- removing, keeping, replacing and permuting axes ----

namespace detail {
template <class S, std::size_t Axis>
constexpr auto without_axis() {
  std::array<index_t, S::rank - 1> out{};
  for (std::size_t i = 0, j = 0; i < S::rank; ++i)
    if (i != Axis) out[j++] = S::static_extents[i];
  return out;
}
template <class S, std::size_t Axis, index_t E>
constexpr auto with_axis_set() {
  std::array<index_t, S::rank> out = S::static_extents;
  out[Axis] = E;
  return out;
}
template <class S, std::array<std::size_t, S::rank> Perm>
constexpr auto permuted() {
  std::array<index_t, S::rank> out{};
  for (std::size_t i = 0; i < S::rank; ++i) out[i] = S::static_extents[Perm[i]];
  return out;
}
}  // namespace detail

// The shape with axis `Axis` removed (a reduction without keepdim).
template <ShapeType S, std::size_t Axis>
using remove_axis_t = shape_from_array_t<detail::without_axis<S, Axis>()>;

// The shape with axis `Axis` set to extent E (E may be dyn).
template <ShapeType S, std::size_t Axis, index_t E>
using set_axis_t = shape_from_array_t<detail::with_axis_set<S, Axis, E>()>;

template <ShapeType S, index_t E>
using replace_last_t = set_axis_t<S, S::rank - 1, E>;

template <std::size_t R, std::array<std::size_t, R> Perm>
inline constexpr bool is_permutation = [] {
  std::array<bool, R> seen{};
  for (auto p : Perm) {
    if (p >= R || seen[p]) return false;
    seen[p] = true;
  }
  return true;
}();

template <ShapeType S, std::array<std::size_t, S::rank> Perm>
using permute_shape_t = shape_from_array_t<detail::permuted<S, Perm>()>;

// Extent of concatenating along an axis: static only if both are.
constexpr index_t concat_extent(index_t a, index_t b) { return a == dyn || b == dyn ? dyn : a + b; }

// Two shapes agree on every axis but `Axis` wherever both are static.
template <ShapeType A, ShapeType B, std::size_t Axis>
inline constexpr bool agree_except = [] {
  if (A::rank != B::rank) return false;
  for (std::size_t i = 0; i < A::rank; ++i) {
    const index_t a = A::static_extents[i], b = B::static_extents[i];
    if (i != Axis && a != dyn && b != dyn && a != b) return false;
  }
  return true;
}();

// Combines two extents known to be equal at run time: static wins.
constexpr index_t merge_extent(index_t a, index_t b) { return a == dyn ? b : a; }

namespace detail {
template <class A, class B, std::size_t Axis>
constexpr auto concat_extents() {
  std::array<index_t, A::rank> out{};
  for (std::size_t i = 0; i < A::rank; ++i)
    out[i] = i == Axis ? concat_extent(A::static_extents[i], B::static_extents[i])
                       : merge_extent(A::static_extents[i], B::static_extents[i]);
  return out;
}
template <class A, class B>
constexpr auto merged_extents() {
  std::array<index_t, A::rank> out{};
  for (std::size_t i = 0; i < A::rank; ++i) out[i] = merge_extent(A::static_extents[i], B::static_extents[i]);
  return out;
}
}  // namespace detail

template <ShapeType A, ShapeType B, std::size_t Axis>
using concat_shape_t = shape_from_array_t<detail::concat_extents<A, B, Axis>()>;

// Same-rank shapes known equal: keeps every extent that either side knows statically.
template <ShapeType A, ShapeType B>
using merged_shape_t = shape_from_array_t<detail::merged_extents<A, B>()>;

// Two shapes may be equal (every axis where both are static agrees).
template <ShapeType A, ShapeType B>
inline constexpr bool may_be_equal = A::rank == B::rank && agree_except<A, B, std::size_t(-1)>;

// Run-time check that two shapes are equal; throws shape_error naming `op` and both shapes.
template <ShapeType A, ShapeType B>
void require_same_shape(const char* op, const A& a, const B& b) {
  bool same = A::rank == B::rank;
  for (std::size_t i = 0; same && i < A::rank; ++i) same = a.dims[i] == b.dims[i];
  if (!same) throw shape_error(std::string(op) + ": shapes " + to_string(a) + " and " + to_string(b) + " must be equal");
}

}  // namespace ranklens
