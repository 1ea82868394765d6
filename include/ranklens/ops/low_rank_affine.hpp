// low_rank_affine(x, w, bias, a, b, scale): an affine layer and its LoRA adapter as one op,
//
//   y = x·w (+ bias) + scale · (x·Aᵀ)·Bᵀ     x: (rows, K), w: (K, N), A: (rank, K), B: (N, rank)
//
// with the adapter's activation u = x·Aᵀ (rows, rank). The same values as the layer's
// matmul_bias (or matmul) followed by low_rank_update, bit for bit in the forward, in fewer
// passes: the adapter's term is added as the product is stored (cpu/low_rank_gemm.hpp), forward
// into y and backward into dx. LowRankAdapter takes this path when it can (no dropout, no
// spliced activations); the two-op path stays for the rest.
//
// Backward: v = scale·gy·B per row, in the one pass over gy and x that also gives
// gA += vᵀ·x and gB += scale·gyᵀ·u; then dx (+)= gy·wᵀ + v·A in one product; dw += xᵀ·gy and
// db += Σ gy only when w and the bias take gradients (a frozen layer's do not).
#pragma once
#include <optional>
#include <string>

#include "ranklens/backend/low_rank.hpp"
#include "ranklens/ops/low_rank_update.hpp"
#include "ranklens/ops/matmul.hpp"

namespace ranklens {

template <class T, index_t K, index_t N, index_t Rank, index_t AK, index_t BN>
LowRankUpdateResult<T, Shape<dyn, N>, Rank, cpu_t> low_rank_affine(const Var<T, Shape<dyn, K>>& input, const Var<T, Shape<K, N>>& weight,
                                                                   const std::type_identity_t<std::optional<Var<T, Shape<N>>>>& bias,
                                                                   const Var<T, Shape<Rank, AK>>& a, const Var<T, Shape<BN, Rank>>& b,
                                                                   std::type_identity_t<T> scale) {
  static_assert(Rank > 0 && Rank <= cpu::low_rank_max_rank, "low_rank_affine: the rank must be between 1 and 64 (larger ranks are GEMMs).");
  static_assert(K == dyn || AK == dyn || K == AK, "low_rank_affine: A's second extent must equal w's first (the layer's input width).");
  static_assert(N == dyn || BN == dyn || N == BN, "low_rank_affine: B's first extent must equal w's second (the layer's output width).");
  const index_t rows = input.extent(0), k = weight.extent(0), n = weight.extent(1);
  if (input.extent(1) != k || a.extent(1) != k || b.extent(0) != n || (bias && bias->extent(0) != n))
    throw shape_error("low_rank_affine: x " + to_string(input.shape()) + ", w " + to_string(weight.shape()) +
                      (bias ? ", bias " + to_string(bias->shape()) : std::string()) + ", A " + to_string(a.shape()) + " and B " +
                      to_string(b.shape()) + " do not fit: expected x (rows, K), w (K, N), bias (N), A (rank, K), B (N, rank)");

  const auto x = contiguous(input);
  const auto w = detail::blas_layout(k, n, weight.strides()[0], weight.strides()[1]) ? weight : contiguous(weight);
  const detail::BlasLayout lw = *detail::blas_layout(k, n, w.strides()[0], w.strides()[1]);
  const auto a_values = contiguous(a);
  const auto b_values = contiguous(b);

  auto& arena = Tape::current().arena<cpu_t>();
  auto u = new_var<T, Shape<dyn, Rank>, cpu_t>(Shape<dyn, Rank>{rows}, false);
  backend::low_rank_activations<T>(cpu_t{}, x.value().data(), a_values.value().data(), u.mutable_data(), rows, k, Rank);
  // The term's factors: scale·u (rows, rank) and Bᵀ (rank, N), B itself for rank 1. In the
  // arena, not in cpu::detail::transposed_b's scratch slot, which the thin GEMM packs B into.
  T* scaled_u = arena.template allocate_array<T>(std::size_t(rows * Rank));
  for (index_t i = 0; i < rows * Rank; ++i) scaled_u[i] = scale * u.value().data()[i];
  const T* bt = b_values.value().data();
  if constexpr (Rank > 1) {
    T* t = arena.template allocate_array<T>(std::size_t(n * Rank));
    for (index_t o = 0; o < n; ++o)
      for (index_t j = 0; j < Rank; ++j) t[j * n + o] = bt[o * Rank + j];
    bt = t;
  }

  const bool needs_grad = bias ? any_requires_grad(x, w, a_values, b_values, *bias) : any_requires_grad(x, w, a_values, b_values);
  auto y = new_var<T, Shape<dyn, N>, cpu_t>(Shape<dyn, N>::from_dims(std::array<index_t, 2>{rows, n}, "low_rank_affine"), needs_grad);
  const auto tw = lw.transposed ? cpu::transpose::yes : cpu::transpose::no;
  backend::gemm_plus_low_rank<T>(cpu_t{}, tw, rows, n, k, x.value().data(), std::max<index_t>(k, 1), w.value().data(), lw.ld, T(0),
                                 bias ? bias->value().data() : nullptr, scaled_u, bt, Rank, y.mutable_data(), std::max<index_t>(n, 1));

  const auto backward = [rows, k, n, lw, scale, u](const auto& out, const auto& x, const auto& w, const auto& a, const auto& b,
                                                   const auto* bias) {
    const T* gy = out.grad().data();
    T* scaled_v = nullptr;  // scale·gy·B, the coefficients of dx's term
    if (x.requires_grad()) scaled_v = Tape::current().arena<cpu_t>().template allocate_array<T>(std::size_t(rows * Rank));
    if (scaled_v != nullptr || a.requires_grad() || b.requires_grad())
      backend::low_rank_backward<T>(cpu_t{}, x.value().data(), a.value().data(), b.value().data(), u.value().data(), gy, nullptr, grad_write::add,
                                    a.requires_grad() ? a.grad_accumulator().data() : nullptr,
                                    b.requires_grad() ? b.grad_accumulator().data() : nullptr, rows, k, n, Rank, scale, scaled_v);
    if (x.requires_grad()) {  // dx (rows×K) (+)= dy (rows×N) · wᵀ (N×K) + v·A
      const auto gx = x.grad_sink();
      const auto back = lw.transposed ? cpu::transpose::no : cpu::transpose::yes;
      backend::gemm_plus_low_rank<T>(cpu_t{}, back, rows, k, n, gy, std::max<index_t>(n, 1), w.value().data(), lw.ld,
                                     T(gx.mode == grad_write::store ? 0 : 1), nullptr, scaled_v, a.value().data(), Rank, gx.data(),
                                     std::max<index_t>(k, 1));
    }
    if (rows > 0 && w.requires_grad()) {  // dw (K×N) += xᵀ (K×rows) · dy (rows×N)
      auto gw = w.grad_accumulator();
      detail::gemm_layouts<T>(cpu_t{}, k, n, rows, T(1), x.value().data(), {std::max<index_t>(k, 1), true}, gy, {std::max<index_t>(n, 1), false},
                              T(1), gw.data(), *detail::blas_layout(k, n, gw.strides()[0], gw.strides()[1]));
    }
    if (bias != nullptr && bias->requires_grad()) backend::add_column_sums(cpu_t{}, gy, bias->grad_accumulator().data(), rows, n);
  };
  if (bias) {
    record(
        "low_rank_affine", y,
        [backward](const auto& out, const auto& x, const auto& w, const auto& a, const auto& b, const auto& bias) {
          backward(out, x, w, a, b, &bias);
        },
        x, w, a_values, b_values, *bias);
  } else {
    record(
        "low_rank_affine", y,
        [backward](const auto& out, const auto& x, const auto& w, const auto& a, const auto& b) {
          backward(out, x, w, a, b, static_cast<const std::remove_cvref_t<decltype(x)>*>(nullptr));
        },
        x, w, a_values, b_values);
  }
  return {y, u};
}

}  // namespace ranklens
