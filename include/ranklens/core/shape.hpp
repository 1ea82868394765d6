// Shape<E...>: a tensor's extents, each either a compile-time constant or `dyn` (known at run
// time), mixed freely in one type, as CuTe mixes Int<N> and int. Model widths, adapter ranks
// and SAE sizes are static; batch and sequence are dynamic.
#pragma once
#include <array>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens {

template <index_t... Es>
struct Shape {
  static_assert(((Es == dyn || Es >= 0) && ...), "A static extent must be zero or positive (or dyn).");

  static constexpr std::size_t rank = sizeof...(Es);
  static constexpr std::array<index_t, rank> static_extents{Es...};
  static constexpr std::size_t dynamic_count = (std::size_t{Es == dyn} + ... + 0);
  static constexpr bool is_static = dynamic_count == 0;

  // Every extent, static ones included, so that kernels index one array.
  std::array<index_t, rank> dims{};

  constexpr Shape() noexcept {
    for (std::size_t i = 0; i != rank; ++i) dims[i] = static_extents[i] == dyn ? 0 : static_extents[i];
  }

  // Give the dynamic extents only, in order: Shape<dyn, 64, dyn>{batch, seq}.
  template <std::integral... D>
    requires(sizeof...(D) == dynamic_count && dynamic_count > 0)
  constexpr Shape(D... dynamic_sizes) : Shape() {
    const std::array<index_t, dynamic_count> given{static_cast<index_t>(dynamic_sizes)...};
    std::size_t next = 0;
    for (std::size_t i = 0; i < rank; ++i)
      if (static_extents[i] == dyn) {
        if (given[next] < 0) throw shape_error("Shape: a dynamic extent must be >= 0, got " + std::to_string(given[next]));
        dims[i] = given[next++];
      }
  }

  // From all extents, checking the static ones; `what` names the caller in the error.
  static Shape from_dims(std::span<const index_t> all, std::string_view what = "Shape") {
    if (all.size() != rank)
      throw shape_error(std::string(what) + ": expected rank " + std::to_string(rank) + ", got rank " +
                        std::to_string(all.size()));
    Shape s;
    for (std::size_t i = 0; i < rank; ++i) {
      if (all[i] < 0) throw shape_error(std::string(what) + ": negative extent " + std::to_string(all[i]));
      if (static_extents[i] != dyn && static_extents[i] != all[i])
        throw shape_error(std::string(what) + ": extent " + std::to_string(i) + " must be " +
                          std::to_string(static_extents[i]) + ", got " + std::to_string(all[i]));
      s.dims[i] = all[i];
    }
    return s;
  }

  constexpr index_t operator[](std::size_t i) const noexcept { return dims[i]; }
  constexpr index_t numel() const noexcept {
    index_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
  friend constexpr bool operator==(const Shape&, const Shape&) = default;
};

template <class S> struct is_shape : std::false_type {};
template <index_t... Es> struct is_shape<Shape<Es...>> : std::true_type {};

template <class S>
concept ShapeType = is_shape<S>::value;

// "(dyn=4, 128)": the format every shape error uses; dynamic extents are marked so that a user
// sees which sizes came from run time.
template <index_t... Es>
std::string to_string(const Shape<Es...>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i != s.rank; ++i) {
    if (i) out += ", ";
    if (Shape<Es...>::static_extents[i] == dyn) out += "dyn=";
    out += std::to_string(s.dims[i]);
  }
  return out + ")";
}

// Row-major strides for a contiguous tensor of this shape.
template <ShapeType S>
constexpr std::array<index_t, S::rank> contiguous_strides(const S& s) noexcept {
  std::array<index_t, S::rank> st{};
  index_t step = 1;
  for (std::size_t i = S::rank; i-- > 0;) {
    st[i] = step;
    step *= s.dims[i];
  }
  return st;
}

}  // namespace ranklens
