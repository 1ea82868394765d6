// fused_causal_attention(q, k, v, scale): softmax(scale · Q·Kᵀ, causally masked) · V in one op,
// for q (B, Tq, Hq, D) and k, v (B, Tk, Hkv, D) in the natural (batch, position, head, head_dim)
// layout, giving z (B, Tq, Hq, D). Query i sees keys j <= i + (Tk − Tq); query head h reads
// key/value head h / (Hq / Hkv). Neither the scores nor the pattern are kept: the tape holds one
// log-sum-exp per query row and the backward recomputes the rest (cpu/causal_attention.hpp).
// Strided views (slices of a fused qkv projection, of a KV cache) are read in place.
#pragma once
#include <algorithm>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/causal_attention.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {

template <ShapeType SQ, ShapeType SK>
inline constexpr bool attention_heads_match = [] {
  constexpr auto q = SQ::static_extents, k = SK::static_extents;
  const bool head_dim_ok = q[3] == dyn || k[3] == dyn || q[3] == k[3];
  const bool groups_ok = q[2] == dyn || k[2] == dyn || (k[2] > 0 && q[2] % k[2] == 0);
  return head_dim_ok && groups_ok;
}();

// Whether the kernel can read x in place: contiguous head_dim, rows that BLAS can step over,
// and no axis broadcast with stride 0 (the backward's threads would add into the same rows).
template <class V>
bool kernel_readable(const V& x) {
  const auto& s = x.strides();
  for (std::size_t axis = 0; axis < 3; ++axis)
    if (s[axis] <= 0 && x.extent(axis) > 1) return false;
  return (s[3] == 1 || x.extent(3) <= 1) && (s[1] >= x.extent(3) || x.extent(1) <= 1);
}
template <class V>
V kernel_layout(const V& x) {
  return kernel_readable(x) ? x : contiguous(x);
}
// An axis of extent 1 may have any stride (nothing steps along it); BLAS still wants a leading
// dimension of at least a row, so a single position gets head_dim.
template <class V>
cpu::attention_strides attention_strides_of(const V& x) {
  const auto& s = x.strides();
  return {s[0], x.extent(1) <= 1 ? std::max<index_t>(x.extent(3), 1) : s[1], s[2]};
}

}  // namespace detail

template <class T, ShapeType SQ, ShapeType SK, Device D>
Var<T, SQ, D> fused_causal_attention(const Var<T, SQ, D>& query, const Var<T, SK, D>& key, const Var<T, SK, D>& value,
                                     std::type_identity_t<T> scale) {
  static_assert(SQ::rank == 4 && SK::rank == 4,
                "fused_causal_attention: queries, keys and values are (batch, position, head, head_dim).");
  static_assert(detail::attention_heads_match<SQ, SK>,
                "fused_causal_attention: keys need the queries' head_dim, and a number of heads that divides theirs.");
  auto fail = [&](const char* what) {
    std::string message("fused_causal_attention: ");
    message += what;
    message += ": queries " + to_string(query.shape()) + ", keys " + to_string(key.shape()) + ", values " + to_string(value.shape());
    throw shape_error(message);
  };
  if (key.shape().dims != value.shape().dims) fail("keys and values differ in shape");
  if (key.extent(0) != query.extent(0)) fail("batch sizes differ");
  if (key.extent(3) != query.extent(3)) fail("head_dim differs");
  if (key.extent(1) < query.extent(1)) fail("fewer key positions than query positions");
  if (key.extent(2) == 0 ? query.extent(2) != 0 : query.extent(2) % key.extent(2) != 0)
    fail("the number of query heads is not a multiple of the key/value heads");

  const auto q = detail::kernel_layout(query);
  const auto k = detail::kernel_layout(key);
  const auto v = detail::kernel_layout(value);
  const cpu::attention_extents extents{q.extent(0), q.extent(1), k.extent(1), q.extent(2), k.extent(2), q.extent(3)};
  // (B, Hq, Tq): all the backward needs besides the inputs and z.
  T* lse = Tape::current().arena<D>().template allocate_array<T>(std::size_t(extents.batch * extents.query_heads * extents.queries));
  auto out = new_var<T, SQ, D>(q.shape(), any_requires_grad(q, k, v));
  backend::causal_attention_forward<T>(D{}, extents, q.value().data(), detail::attention_strides_of(q), k.value().data(),
                                       detail::attention_strides_of(k), v.value().data(), detail::attention_strides_of(v),
                                       out.mutable_data(), lse, scale);
  record(
      "fused_causal_attention", out,
      [extents, lse, scale](const auto& out, const auto& q, const auto& k, const auto& v) {
        auto gradient = [](const auto& x) { return x.requires_grad() ? x.grad_accumulator().data() : nullptr; };
        backend::causal_attention_backward<T>(D{}, extents, q.value().data(), detail::attention_strides_of(q), k.value().data(),
                                              detail::attention_strides_of(k), v.value().data(), detail::attention_strides_of(v),
                                              out.value().data(), lse, out.grad().data(), gradient(q), gradient(k), gradient(v), scale);
      },
      q, k, v);
  return out;
}

}  // namespace ranklens
