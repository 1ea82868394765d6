// Views: transpose, permute, slice, select, reshape and its helpers (unsqueeze, squeeze,
// flatten, unflatten), and contiguous. A view is a new (offset, shape, strides) on the same
// storage: it copies nothing and records nothing, because a Var view shares its StorageNode
// and so its gradient is the same view of the base's gradient buffer. Ops that accumulate
// into a view's grad_accumulator() therefore land in the right elements of the base, and two
// views that overlap simply add up there. The same functions take a TensorView.
//
// Only reshape may copy: when no strides express the new shape over the old layout, it first
// makes the Var contiguous (a recorded op). contiguous() is that copy.
#pragma once
#include <array>
#include <string>
#include <type_traits>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/strided_copy.hpp"
#include "ranklens/core/shape_algebra.hpp"

namespace ranklens {

template <class X> struct is_tensor_view : std::false_type {};
template <class T, class S, class D> struct is_tensor_view<TensorView<T, S, D>> : std::true_type {};

// What a view op accepts: a Var (differentiable) or a TensorView (plain data).
template <class X>
concept StridedView = is_var<X>::value || is_tensor_view<X>::value;

// ---- shape types ----

namespace detail {
// S's static extents with the `Count` axes starting at `First` replaced by `Inserted`.
template <ShapeType S, std::size_t First, std::size_t Count, auto Inserted>
constexpr auto spliced_extents() {
  std::array<index_t, S::rank - Count + Inserted.size()> out{};
  std::size_t j = 0;
  for (std::size_t i = 0; i != First; ++i) out[j++] = S::static_extents[i];
  for (index_t e : Inserted) out[j++] = e;
  for (std::size_t i = First + Count; i < S::rank; ++i) out[j++] = S::static_extents[i];
  return out;
}

// Product of static extents, or dyn if any of them is dyn.
template <std::size_t N>
constexpr index_t static_product(const std::array<index_t, N>& extents, std::size_t first = 0, std::size_t count = N) {
  index_t p = 1;
  for (std::size_t i = first; i < first + count; ++i) {
    if (extents[i] == dyn) return dyn;
    p *= extents[i];
  }
  return p;
}
}  // namespace detail

// The shape with `Count` axes from `First` replaced by the extents in the array `Inserted`
// (Count = 0 inserts, an empty Inserted removes).
template <ShapeType S, std::size_t First, std::size_t Count, auto Inserted>
using splice_shape_t = shape_from_array_t<detail::spliced_extents<S, First, Count, Inserted>()>;

namespace detail {

// The same memory as `x` seen from `extra_offset` elements further with a new shape and strides.
template <class T, ShapeType S, Device D, ShapeType S2>
Var<T, S2, D> relayout(const Var<T, S, D>& x, index_t extra_offset, const S2& shape,
                       const std::array<index_t, S2::rank>& strides) {
  return x.with_layout(x.offset() + extra_offset, shape, strides);
}
template <class T, ShapeType S, Device D, ShapeType S2>
TensorView<T, S2, D> relayout(const TensorView<T, S, D>& x, index_t extra_offset, const S2& shape,
                              const std::array<index_t, S2::rank>& strides) {
  return {x.data() + extra_offset, shape, strides};
}

// The shape type R filled with run-time extents already known to fit its static ones.
template <ShapeType R>
R shape_with_dims(const std::array<index_t, R::rank>& dims) {
  R r;
  r.dims = dims;
  return r;
}

// Strides that show a tensor with `dims`/`strides` as `new_dims` (same numel) in the same
// row-major element order, if any exist. Axes whose strides chain (stride[k] equals
// stride[k+1]·dims[k+1]) form runs that step through memory evenly; each run can be re-cut
// into any extents whose product is the run's size, but a new axis cannot straddle two runs.
template <std::size_t R0, std::size_t R1>
bool reshaped_strides(const std::array<index_t, R0>& dims, const std::array<index_t, R0>& strides,
                      const std::array<index_t, R1>& new_dims, std::array<index_t, R1>& new_strides) {
  // Runs, innermost first: their element counts and the stride of their innermost axis.
  std::array<index_t, R0> run_size{}, run_stride{};
  std::size_t runs = 0;
  for (std::size_t k = R0; k-- > 0;) {
    if (dims[k] == 1) continue;  // an axis of extent 1 never steps, whatever its stride
    if (runs > 0 && strides[k] == run_stride[runs - 1] * run_size[runs - 1])
      run_size[runs - 1] *= dims[k];
    else {
      run_size[runs] = dims[k];
      run_stride[runs] = strides[k];
      ++runs;
    }
  }
  std::size_t run = 0;
  index_t covered = 1;  // elements of the current run spanned by the new axes placed so far
  for (std::size_t k = R1; k-- > 0;) {
    new_strides[k] = (run < runs ? run_stride[run] : 1) * covered;
    if (new_dims[k] == 1) continue;
    if (run == runs) return false;
    covered *= new_dims[k];
    if (covered > run_size[run]) return false;
    if (covered == run_size[run]) {
      ++run;
      covered = 1;
    }
  }
  return run == runs;
}

}  // namespace detail

// ---- clone and contiguous ----

// A dense copy of x in storage of its own (torch.clone), whose gradient is scattered back
// through x's strides: for ops that write into their input's storage.
template <class T, ShapeType S, Device D>
Var<T, S, D> clone(const Var<T, S, D>& x) {
  auto out = new_var<T, S, D>(x.shape(), any_requires_grad(x));
  const auto dense = contiguous_strides(x.shape());
  backend::copy_strided<T>(D{}, x.shape().dims, x.value().data(), x.strides(), out.mutable_data(), dense, grad_write::store);
  record(
      "contiguous", out,
      [dense](const auto& result, const auto& source) {
        auto g = source.grad_accumulator();
        backend::copy_strided<T>(D{}, source.shape().dims, result.grad().data(), dense, g.data(), g.strides(), grad_write::add);
      },
      x);
  return out;
}

// x itself when its elements are already dense in row-major order; otherwise a dense copy.
template <class T, ShapeType S, Device D>
Var<T, S, D> contiguous(const Var<T, S, D>& x) {
  if (x.is_contiguous()) return x;
  return clone(x);
}

// ---- permute and transpose ----

namespace detail {
template <auto Perm, StridedView X>
auto permute_by(const X& x) {
  using S = typename X::shape_type;
  using R = permute_shape_t<S, Perm>;
  std::array<index_t, S::rank> dims{}, strides{};
  for (std::size_t i = 0; i < S::rank; ++i) {
    dims[i] = x.shape().dims[Perm[i]];
    strides[i] = x.strides()[Perm[i]];
  }
  return relayout(x, 0, shape_with_dims<R>(dims), strides);
}
}  // namespace detail

// Axis i of the result is axis P_i of x (negative axes count from the end): permute<0, 2, 1, 3>
// turns (B, T, H, D) into (B, H, T, D).
template <int... P, StridedView X>
auto permute(const X& x) {
  constexpr std::size_t rank = X::shape_type::rank;
  static_assert(sizeof...(P) == rank, "permute: give exactly one axis for each dimension of the tensor.");
  static_assert((valid_axis<P, rank> && ...), "permute: an axis is out of range for the tensor's rank.");
  if constexpr (sizeof...(P) == rank && (valid_axis<P, rank> && ...)) {
    constexpr std::array<std::size_t, rank> perm{axis_index<P, rank>...};
    static_assert(is_permutation<rank, perm>, "permute: each axis of the tensor must appear exactly once.");
    if constexpr (is_permutation<rank, perm>) return detail::permute_by<perm>(x);
  }
}

// Swaps two axes; with no axes given, the last two (a matrix transpose of every batch item).
template <int A0 = -2, int A1 = -1, StridedView X>
auto transpose(const X& x) {
  constexpr std::size_t rank = X::shape_type::rank;
  static_assert(valid_axis<A0, rank> && valid_axis<A1, rank>, "transpose: an axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<A0, rank> && valid_axis<A1, rank>) {
    constexpr auto perm = [] {
      std::array<std::size_t, rank> p{};
      for (std::size_t i = 0; i < rank; ++i) p[i] = i;
      p[axis_index<A0, rank>] = axis_index<A1, rank>;
      p[axis_index<A1, rank>] = axis_index<A0, rank>;
      return p;
    }();
    return detail::permute_by<perm>(x);
  }
}

// ---- slice and select ----

// Elements [begin, end) of one axis; the extent becomes dyn. Throws shape_error unless
// 0 <= begin <= end <= extent.
template <int Axis, StridedView X>
auto slice(const X& x, index_t begin, index_t end) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank>, "slice: the axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    if (begin < 0 || begin > end || end > x.shape().dims[ax])
      throw shape_error("slice: range [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") does not fit axis " + std::to_string(ax) + " of shape " + to_string(x.shape()));
    auto dims = x.shape().dims;
    dims[ax] = end - begin;
    return detail::relayout(x, begin * x.strides()[ax], detail::shape_with_dims<set_axis_t<S, ax, dyn>>(dims),
                            x.strides());
  }
}

// Elements [Begin, End) of one axis, keeping the extent End − Begin static.
template <int Axis, index_t Begin, index_t End, StridedView X>
auto slice(const X& x) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank>, "slice: the axis is out of range for the tensor's rank.");
  static_assert(0 <= Begin && Begin <= End, "slice: the range must satisfy 0 <= Begin <= End.");
  if constexpr (valid_axis<Axis, S::rank> && 0 <= Begin && Begin <= End) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    constexpr index_t extent = S::static_extents[ax];
    static_assert(extent == dyn || End <= extent, "slice: the range ends past the axis's static extent.");
    if (End > x.shape().dims[ax])
      throw shape_error("slice: range [" + std::to_string(Begin) + ", " + std::to_string(End) +
                        ") does not fit axis " + std::to_string(ax) + " of shape " + to_string(x.shape()));
    auto dims = x.shape().dims;
    dims[ax] = End - Begin;
    return detail::relayout(x, Begin * x.strides()[ax], detail::shape_with_dims<set_axis_t<S, ax, End - Begin>>(dims),
                            x.strides());
  }
}

// Index `index` of one axis, with that axis removed: select<1>(x, t) of (B, T, C) is (B, C).
template <int Axis, StridedView X>
auto select(const X& x, index_t index) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank>, "select: the axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    if (index < 0 || index >= x.shape().dims[ax])
      throw shape_error("select: index " + std::to_string(index) + " is out of range for axis " + std::to_string(ax) +
                        " of shape " + to_string(x.shape()));
    using R = remove_axis_t<S, ax>;
    std::array<index_t, R::rank> dims{}, strides{};
    for (std::size_t i = 0, j = 0; i < S::rank; ++i)
      if (i != ax) {
        dims[j] = x.shape().dims[i];
        strides[j++] = x.strides()[i];
      }
    return detail::relayout(x, index * x.strides()[ax], detail::shape_with_dims<R>(dims), strides);
  }
}

// ---- reshape ----

// The same elements in row-major order under another shape. A view whenever the layout allows
// it (always for contiguous x, and for many slices and permutations); otherwise a Var is first
// copied by contiguous(), and a TensorView throws shape_error (it owns no memory to copy into).
template <StridedView X, ShapeType NS>
auto reshape(const X& x, const NS& new_shape) {
  using S = typename X::shape_type;
  static_assert(!(S::is_static && NS::is_static) || S{}.numel() == NS{}.numel(),
                "reshape: the new shape must have as many elements as the old one.");
  if (x.numel() != new_shape.numel())
    throw shape_error("reshape: shape " + to_string(x.shape()) + " has " + std::to_string(x.numel()) +
                      " elements, the new shape " + to_string(new_shape) + " has " + std::to_string(new_shape.numel()));
  std::array<index_t, NS::rank> strides = contiguous_strides(new_shape);
  if (x.numel() == 0 || detail::reshaped_strides(x.shape().dims, x.strides(), new_shape.dims, strides))
    return detail::relayout(x, 0, new_shape, strides);
  if constexpr (is_var<X>::value) {
    const auto dense = contiguous(x);
    return detail::relayout(dense, 0, new_shape, contiguous_strides(new_shape));
  } else {
    throw shape_error("reshape: a TensorView of shape " + to_string(x.shape()) + " cannot be viewed as " +
                      to_string(new_shape) + " without a copy; copy it with to_tensor first");
  }
}

// reshape<Shape<dyn, 4, 16>>(x, batch): the new shape type with its run-time extents in order.
template <ShapeType NS, StridedView X, std::integral... I>
auto reshape(const X& x, I... dynamic_sizes) {
  static_assert(sizeof...(I) == NS::dynamic_count, "reshape: give one run-time size for each dyn extent of the new shape.");
  if constexpr (sizeof...(I) == NS::dynamic_count) {
    if constexpr (sizeof...(I) == 0)
      return reshape(x, NS{});
    else
      return reshape(x, NS{dynamic_sizes...});
  }
}

// A new axis of extent 1 before axis `Axis` of the result (Axis = -1 appends one at the end).
template <int Axis, StridedView X>
auto unsqueeze(const X& x) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank + 1>, "unsqueeze: the axis is out of range for the result's rank.");
  if constexpr (valid_axis<Axis, S::rank + 1>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank + 1>;
    constexpr std::array<index_t, 1> inserted{1};  // named: nvcc 13 mistranslates a braced array as a template argument
    using R = splice_shape_t<S, ax, 0, inserted>;
    std::array<index_t, R::rank> dims{}, strides{};
    for (std::size_t i = 0, j = 0; i < R::rank; ++i) {
      if (i == ax) {
        dims[i] = 1;
        strides[i] = ax < S::rank ? x.strides()[ax] * x.shape().dims[ax] : 1;
      } else {
        dims[i] = x.shape().dims[j];
        strides[i] = x.strides()[j++];
      }
    }
    return detail::relayout(x, 0, detail::shape_with_dims<R>(dims), strides);
  }
}

// Removes axis `Axis`, which must have extent 1.
template <int Axis, StridedView X>
auto squeeze(const X& x) {
  using S = typename X::shape_type;
  static_assert(valid_axis<Axis, S::rank>, "squeeze: the axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    static_assert(S::static_extents[ax] == dyn || S::static_extents[ax] == 1, "squeeze: the axis must have extent 1.");
    if (x.shape().dims[ax] != 1)
      throw shape_error("squeeze: axis " + std::to_string(ax) + " of shape " + to_string(x.shape()) + " is not 1");
    return select<Axis>(x, 0);
  }
}

// Merges axes First..Last (inclusive) into one: flatten<-2, -1> of (B, H, T, D) is (B, H, T·D).
template <int First = 0, int Last = -1, StridedView X>
auto flatten(const X& x) {
  using S = typename X::shape_type;
  static_assert(valid_axis<First, S::rank> && valid_axis<Last, S::rank>,
                "flatten: an axis is out of range for the tensor's rank.");
  if constexpr (valid_axis<First, S::rank> && valid_axis<Last, S::rank>) {
    constexpr std::size_t first = axis_index<First, S::rank>, last = axis_index<Last, S::rank>;
    static_assert(first <= last, "flatten: the first axis must not come after the last.");
    if constexpr (first <= last) {
      constexpr std::size_t count = last - first + 1;
      constexpr std::array<index_t, 1> merged{detail::static_product(S::static_extents, first, count)};
      using R = splice_shape_t<S, first, count, merged>;
      std::array<index_t, R::rank> dims{};
      for (std::size_t i = 0; i < first; ++i) dims[i] = x.shape().dims[i];
      dims[first] = 1;
      for (std::size_t i = first; i <= last; ++i) dims[first] *= x.shape().dims[i];
      for (std::size_t i = last + 1; i < S::rank; ++i) dims[i - count + 1] = x.shape().dims[i];
      return reshape(x, detail::shape_with_dims<R>(dims));
    }
  }
}

namespace detail {
// "(dyn, 64)": extents as written in a shape type.
template <std::size_t N>
std::string extents_to_string(const std::array<index_t, N>& extents) {
  std::string out = "(";
  for (std::size_t i = 0; i < N; ++i)
    out += (i ? ", " : "") + (extents[i] == dyn ? std::string("dyn") : std::to_string(extents[i]));
  return out + ")";
}

// The extents unflatten puts in place of one axis: a single dyn among them is inferred from
// the axis's static extent when it has one.
template <index_t AxisExtent, index_t... E>
constexpr std::array<index_t, sizeof...(E)> unflattened_extents() {
  std::array<index_t, sizeof...(E)> out{E...};
  index_t known = 1;
  std::size_t unknown = 0;
  for (index_t e : out) {
    if (e == dyn)
      ++unknown;
    else
      known *= e;
  }
  if (AxisExtent != dyn && unknown == 1 && known > 0)
    for (index_t& e : out)
      if (e == dyn) e = AxisExtent / known;
  return out;
}
}  // namespace detail

// Splits axis `Axis` into the extents E...; at most one may be dyn, and is inferred.
// unflatten<-1, H, D> turns (B, T, H·D) into (B, T, H, D) (split_heads).
template <int Axis, index_t... E, StridedView X>
auto unflatten(const X& x) {
  using S = typename X::shape_type;
  static_assert(sizeof...(E) >= 1, "unflatten: give at least one extent.");
  static_assert(valid_axis<Axis, S::rank>, "unflatten: the axis is out of range for the tensor's rank.");
  static_assert((std::size_t{E == dyn} + ... + 0) <= 1, "unflatten: at most one of the new extents may be dyn.");
  if constexpr (sizeof...(E) >= 1 && valid_axis<Axis, S::rank> && (std::size_t{E == dyn} + ... + 0) <= 1) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    constexpr index_t axis_extent = S::static_extents[ax];
    constexpr auto inserted = detail::unflattened_extents<axis_extent, E...>();
    constexpr index_t inserted_product = detail::static_product(inserted);
    constexpr bool fits = axis_extent == dyn || inserted_product == dyn || inserted_product == axis_extent;
    static_assert(fits, "unflatten: the new extents must multiply to the axis's static extent.");
    if constexpr (fits) {
      using R = splice_shape_t<S, ax, 1, inserted>;
      const index_t n = x.shape().dims[ax];
      index_t known = 1;
      for (index_t e : inserted)
        if (e != dyn) known *= e;
      if ((known == 0 && n != 0) || (known != 0 && n % known != 0) ||
          (inserted_product != dyn && known != n))
        throw shape_error("unflatten: axis " + std::to_string(ax) + " of shape " + to_string(x.shape()) +
                          " cannot be split into " + detail::extents_to_string(std::array<index_t, sizeof...(E)>{E...}));
      std::array<index_t, R::rank> dims{};
      for (std::size_t i = 0; i < ax; ++i) dims[i] = x.shape().dims[i];
      for (std::size_t k = 0; k < inserted.size(); ++k)
        dims[ax + k] = inserted[k] == dyn ? (known == 0 ? 0 : n / known) : inserted[k];
      for (std::size_t i = ax + 1; i < S::rank; ++i) dims[i + inserted.size() - 1] = x.shape().dims[i];
      return reshape(x, detail::shape_with_dims<R>(dims));
    }
  }
}

// Splits axis `Axis` into the extents E... with run-time values `sizes`, for extents known only
// at run time: unflatten<-1, dyn, dyn>(x, {heads, head_dim}). A static E must equal its size,
// and the sizes must multiply to the axis's extent; shape_error otherwise.
template <int Axis, index_t... E, StridedView X>
auto unflatten(const X& x, const std::array<index_t, sizeof...(E)>& sizes) {
  using S = typename X::shape_type;
  static_assert(sizeof...(E) >= 1, "unflatten: give at least one extent.");
  static_assert(valid_axis<Axis, S::rank>, "unflatten: the axis is out of range for the tensor's rank.");
  if constexpr (sizeof...(E) >= 1 && valid_axis<Axis, S::rank>) {
    constexpr std::size_t ax = axis_index<Axis, S::rank>;
    constexpr std::array<index_t, sizeof...(E)> inserted{E...};
    using R = splice_shape_t<S, ax, 1, inserted>;
    index_t product = 1;
    bool fits = true;
    for (std::size_t k = 0; k < inserted.size(); ++k) {
      fits = fits && sizes[k] >= 0 && (inserted[k] == dyn || inserted[k] == sizes[k]);
      product *= sizes[k];
    }
    if (!fits || product != x.shape().dims[ax])
      throw shape_error("unflatten: axis " + std::to_string(ax) + " of shape " + to_string(x.shape()) + " cannot be split into " +
                        detail::extents_to_string(sizes) + " (as " + detail::extents_to_string(inserted) + ")");
    std::array<index_t, R::rank> dims{};
    for (std::size_t i = 0; i < ax; ++i) dims[i] = x.shape().dims[i];
    for (std::size_t k = 0; k < inserted.size(); ++k) dims[ax + k] = sizes[k];
    for (std::size_t i = ax + 1; i < S::rank; ++i) dims[i + inserted.size() - 1] = x.shape().dims[i];
    return reshape(x, detail::shape_with_dims<R>(dims));
  }
}

}  // namespace ranklens
