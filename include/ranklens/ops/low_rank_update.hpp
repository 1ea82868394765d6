// low_rank_update(base, x, a, b, scale): a LoRA adapter's contribution (Hu et al. 2021, "LoRA:
// Low-Rank Adaptation of Large Language Models") added to a frozen layer's output,
//
//   y = base + scale · (x·Aᵀ)·Bᵀ        x: (..., in), A: (rank, in), B: (out, rank), base, y: (..., out)
//
// together with the adapter's activation u = x·Aᵀ (rows, rank): for rank 1, the scalar per token
// that "Rank-1 LoRAs Encode Interpretable Reasoning Signals" (arXiv 2511.06739) reads like an
// MLP neuron. The work is the row kernels (dot products and axpys) of cpu/low_rank.hpp or
// cuda/low_rank.cuh.
//
// The result takes over base's storage when base is the whole of an op's result (the fresh
// output of the frozen layer): no second (rows, out) buffer, no copy, and no gradient to pass
// on, since the gradient of y IS the gradient of base (they are one node, so the frozen layer's
// backward reads it). base must then not be read again as the pre-update value. A base that is
// a leaf (a caller's tensor) or a view of larger storage is cloned first (ops/views.hpp).
//
// Backward: gx += scale·(gy·B)·A, gA += scale·(gy·B)ᵀ·x, gB += scale·gyᵀ·u, each only when
// that input requires a gradient: the frozen layer's weights are no input here at all.
#pragma once
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/low_rank.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

template <class T, ShapeType SY, index_t Rank, Device D>
struct LowRankUpdateResult {
  Var<T, SY, D> output;                    // base + scale·u·Bᵀ
  Var<T, Shape<dyn, Rank>, D> activation;  // u = x·Aᵀ per row (a constant: no gradient flows back through it)
};

namespace detail {

// Whether v is the whole of an op's result, contiguous: an op may then reuse its storage.
template <VarType V>
bool owns_whole_storage(const V& v) noexcept {
  return v.node()->is_result && v.offset() == 0 && v.numel() == v.node()->numel && v.is_contiguous();
}

}  // namespace detail

template <class T, ShapeType SY, ShapeType SX, index_t Rank, index_t In, index_t Out, Device D>
LowRankUpdateResult<T, SY, Rank, D> low_rank_update(const Var<T, SY, D>& base, const Var<T, SX, D>& input,
                                                    const Var<T, Shape<Rank, In>, D>& a, const Var<T, Shape<Out, Rank>, D>& b,
                                                    std::type_identity_t<T> scale) {
  static_assert(SY::rank == SX::rank && SX::rank >= 1, "low_rank_update: base and x must have the same rank.");
  static_assert(Rank > 0 && Rank <= backend::low_rank_max_rank<D>,
                "low_rank_update: the rank must be between 1 and backend::low_rank_max_rank<D> (64 on cpu_t, 16 on cuda_t); larger "
                "ranks are GEMMs.");
  static_assert(In == dyn || SX::static_extents[SX::rank - 1] == dyn || SX::static_extents[SX::rank - 1] == In,
                "low_rank_update: x's last extent must equal A's second (the layer's input width).");
  static_assert(Out == dyn || SY::static_extents[SY::rank - 1] == dyn || SY::static_extents[SY::rank - 1] == Out,
                "low_rank_update: base's last extent must equal B's first (the layer's output width).");
  constexpr std::size_t last = SX::rank - 1;
  const index_t in = a.extent(1), out_width = b.extent(0);  // In and Out, which may be dyn
  bool fits = input.extent(last) == in && base.extent(last) == out_width;
  for (std::size_t i = 0; i < last; ++i) fits = fits && input.extent(i) == base.extent(i);
  if (!fits)
    throw shape_error("low_rank_update: base " + to_string(base.shape()) + " and x " + to_string(input.shape()) +
                      " do not fit A (" + std::to_string(Rank) + ", " + std::to_string(in) + ") and B (" + std::to_string(out_width) +
                      ", " + std::to_string(Rank) + "): expected x (..., " + std::to_string(in) + ") and base (..., " +
                      std::to_string(out_width) + ") with the same leading extents");

  const auto x = contiguous(input);
  const index_t rows = in > 0 ? x.numel() / in : 0;
  Var<T, SY, D> out = detail::owns_whole_storage(base) ? base : clone(base);
  // The update writes into out's storage, which becomes the result: it requires a gradient when
  // A or B does, even if the frozen layer's output did not.
  out.node()->requires_grad = out.node()->requires_grad || any_requires_grad(x, a, b);
  auto u = new_var<T, Shape<dyn, Rank>, D>(Shape<dyn, Rank>{rows}, false);
  backend::low_rank_forward<T>(D{}, x.value().data(), a.value().data(), b.value().data(), u.mutable_data(), out.mutable_data(), rows, in,
                               out_width, Rank, scale);

  // out is listed as an input too: its gradient is the frozen layer's (or the clone's), which
  // the tape must not release when this entry is done.
  record(
      "low_rank_update", out,
      [rows, in, out_width, scale, u](const auto& out, const auto&, const auto& x, const auto& a, const auto& b) {
        const auto gx = x.requires_grad() ? x.grad_sink() : typename std::remove_cvref_t<decltype(x)>::GradientSink{};
        backend::low_rank_backward<T>(D{}, x.value().data(), a.value().data(), b.value().data(), u.value().data(), out.grad().data(),
                                      x.requires_grad() ? gx.data() : nullptr, gx.mode,
                                      a.requires_grad() ? a.grad_accumulator().data() : nullptr,
                                      b.requires_grad() ? b.grad_accumulator().data() : nullptr, rows, in, out_width, Rank, scale);
      },
      out, x, a, b);
  return {out, u};
}

}  // namespace ranklens
