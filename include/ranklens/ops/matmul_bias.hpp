// matmul_bias(x, w, b) = x·w + b over the last axis: (..., K) x (K, N) + (N) -> (..., N), the
// affine map of Linear and Conv1D as one op. The bias is added as the product is stored
// (cpu::gemm_plus_bias), so it costs no broadcast-add pass and no second result and gradient
// buffer of the output's size (matmul then add kept both until the step ended).
// Backward: dx += dy·wᵀ and dw += xᵀ·dy (BLAS accumulates), db += the column sums of dy.
// w may be a transposed view (Linear's Wᵀ): it goes to BLAS as a transpose flag, not a copy.
#pragma once
#include <string>

#include "ranklens/backend/blas.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

template <class T, ShapeType SX, ShapeType SW, ShapeType SB, Device D>
auto matmul_bias(const Var<T, SX, D>& input, const Var<T, SW, D>& weight, const Var<T, SB, D>& bias) {
  static_assert(SX::rank >= 2 && SW::rank == 2 && SB::rank == 1,
                "matmul_bias: x needs rank >= 2, w rank 2 (K, N) and the bias rank 1 (N).");
  static_assert(matmul_inner_ok<SX, SW>, "matmul_bias: x's last extent must equal w's first.");
  static_assert(SB::static_extents[0] == dyn || SW::static_extents[1] == dyn || SB::static_extents[0] == SW::static_extents[1],
                "matmul_bias: the bias must have one value per column of w.");
  using R = matmul_shape_t<SX, SW>;
  constexpr std::size_t rank = SX::rank;
  const index_t k = input.extent(rank - 1), n = weight.extent(1);
  if (weight.extent(0) != k || bias.extent(0) != n)
    throw shape_error("matmul_bias: shapes " + to_string(input.shape()) + " x " + to_string(weight.shape()) + " + " +
                      to_string(bias.shape()) + " do not fit (x (..., K), w (K, N), bias (N))");

  // x as one (rows, K) row-major matrix; a w that BLAS cannot read as it is gets copied.
  const auto x = contiguous(input);
  const auto w = detail::blas_layout(k, n, weight.strides()[0], weight.strides()[1]) ? weight : contiguous(weight);
  const auto b = contiguous(bias);
  const detail::BlasLayout lw = *detail::blas_layout(k, n, w.strides()[0], w.strides()[1]);
  std::array<index_t, rank> out_dims{};
  for (std::size_t i = 0; i < rank; ++i) out_dims[i] = x.extent(i);
  out_dims[rank - 1] = n;
  const R out_shape = R::from_dims(out_dims, "matmul_bias");
  const index_t rows = n > 0 ? out_shape.numel() / n : 0;
  auto out = new_var<T, R, D>(out_shape, any_requires_grad(x, w, b));

  T* y = out.mutable_data();
  const detail::BlasLayout row_major_x{std::max<index_t>(k, 1), false}, row_major_y{std::max<index_t>(n, 1), false};
  const bool any_product = rows > 0 && n > 0 && k > 0;
  if (any_product)
    backend::gemm_plus_bias<T>(D{}, lw.transposed ? cpu::transpose::yes : cpu::transpose::no, rows, n, k, x.value().data(), row_major_x.ld,
                               w.value().data(), lw.ld, b.value().data(), y, n);
  else
    backend::fill_rows(D{}, b.value().data(), y, rows, n);

  record(
      "matmul_bias", out,
      [rows, k, n, lw, row_major_x, row_major_y, any_product](const auto& out, const auto& x, const auto& w, const auto& b) {
        const T* gy = out.grad().data();
        if (x.requires_grad()) {  // dx (rows×K) += dy (rows×N) · wᵀ (N×K); a fresh dx is overwritten (β = 0)
          const auto gx = x.grad_sink();
          const bool store = gx.mode == grad_write::store;
          if (any_product)
            detail::gemm_layouts<T>(D{}, rows, k, n, T(1), gy, row_major_y, w.value().data(), {lw.ld, !lw.transposed}, T(store ? 0 : 1),
                                    gx.data(), row_major_x);
          else if (store)
            backend::fill<T>(D{}, gx.data(), T(0), x.numel());
        }
        if (any_product && w.requires_grad()) {  // dw (K×N) += xᵀ (K×rows) · dy (rows×N)
          auto gw = w.grad_accumulator();
          detail::gemm_layouts<T>(D{}, k, n, rows, T(1), x.value().data(), {row_major_x.ld, true}, gy, row_major_y, T(1), gw.data(),
                                  *detail::blas_layout(k, n, gw.strides()[0], gw.strides()[1]));
        }
        if (b.requires_grad()) backend::add_column_sums(D{}, gy, b.grad_accumulator().data(), rows, n);
      },
      x, w, b);
  return out;
}

}  // namespace ranklens
