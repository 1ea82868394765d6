// sparse_decode(code, W, b) = code · W + b: the decoder of a sparse autoencoder, reading only the
// rows of W (m, n) that the code's entries name. code: SparseActivations over (rows, m) (from
// sparse_encode), on W's device; the result is a dense (rows, n) Var. Forward and backward cost k·n per token
// (cpu/sparse_decode.hpp), where the dense product costs m·n.
//
// Backward: the code's values get gy[r] · W[j] per entry, W's rows in use get Σ value · gy[r],
// b gets the column sums of gy. sparse_decode(code, W) leaves the bias out (AuxK decodes its
// dead latents' code that way).
#pragma once
#include <string>

#include "ranklens/backend/sparse.hpp"
#include "ranklens/ops/sparse_activations.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {

// The result's shape, (rows, n), after checking that code, W and the bias (when bias_width >= 0) fit.
template <class T, ShapeType SW, Device D>
Shape<dyn, SW::static_extents[1]> sparse_decode_shape(const SparseActivations<T, D>& code, const Var<T, SW, D>& weight, index_t bias_width) {
  static_assert(SW::rank == 2, "sparse_decode: W must be (latents, n).");
  if (weight.extent(0) != code.latents() || (bias_width >= 0 && bias_width != weight.extent(1)))
    throw shape_error("sparse_decode: a code over " + std::to_string(code.latents()) + " latents cannot be decoded by W " +
                      to_string(weight.shape()) + (bias_width >= 0 ? " with a bias of width " + std::to_string(bias_width) : std::string()) +
                      " (W (latents, n), bias (n))");
  if (code.values.extent(0) != code.entries())
    throw shape_error("sparse_decode: the code has " + std::to_string(code.entries()) + " entries but " +
                      std::to_string(code.values.extent(0)) + " values");
  using R = Shape<dyn, SW::static_extents[1]>;
  return R::from_dims(std::array<index_t, 2>{code.rows(), weight.extent(1)}, "sparse_decode");
}

}  // namespace detail

template <class T, ShapeType SW, ShapeType SB, Device D>
auto sparse_decode(const SparseActivations<T, D>& code, const Var<T, SW, D>& weight, const Var<T, SB, D>& bias) {
  static_assert(SB::rank == 1, "sparse_decode: the bias must be (n).");
  static_assert(SB::static_extents[0] == dyn || SW::static_extents[1] == dyn || SB::static_extents[0] == SW::static_extents[1],
                "sparse_decode: the bias must have one value per column of W.");
  const auto w = contiguous(weight);
  const auto b = contiguous(bias);
  const auto shape = detail::sparse_decode_shape(code, w, b.extent(0));
  auto out = new_var<T, std::remove_const_t<decltype(shape)>, D>(shape, any_requires_grad(code.values, w, b));
  const index_t n = w.extent(1);
  backend::sparse_decode_forward<T>(D{}, code.pattern, code.values.value().data(), w.value().data(), n, b.value().data(), out.mutable_data());
  const cpu::CompressedRows pattern = code.pattern;
  const cpu::EntriesByColumn by_column =
      w.requires_grad() && grad_mode_enabled() && !code.has_by_column() ? detail::group_by_latent<D>(pattern) : code.by_column;
  record(
      "sparse_decode", out,
      [pattern, by_column, n](const auto& out, const auto& values, const auto& w, const auto& b) {
        backend::sparse_decode_backward<T>(D{}, pattern, by_column, values.value().data(), w.value().data(), n, out.grad().data(),
                                           values.requires_grad() ? values.grad_accumulator().data() : nullptr,
                                           w.requires_grad() ? w.grad_accumulator().data() : nullptr,
                                           b.requires_grad() ? b.grad_accumulator().data() : nullptr);
      },
      code.values, w, b);
  return out;
}

template <class T, ShapeType SW, Device D>
auto sparse_decode(const SparseActivations<T, D>& code, const Var<T, SW, D>& weight) {
  const auto w = contiguous(weight);
  const auto shape = detail::sparse_decode_shape(code, w, -1);
  auto out = new_var<T, std::remove_const_t<decltype(shape)>, D>(shape, any_requires_grad(code.values, w));
  const index_t n = w.extent(1);
  backend::sparse_decode_forward<T>(D{}, code.pattern, code.values.value().data(), w.value().data(), n, nullptr, out.mutable_data());
  const cpu::CompressedRows pattern = code.pattern;
  const cpu::EntriesByColumn by_column =
      w.requires_grad() && grad_mode_enabled() && !code.has_by_column() ? detail::group_by_latent<D>(pattern) : code.by_column;
  record(
      "sparse_decode", out,
      [pattern, by_column, n](const auto& out, const auto& values, const auto& w) {
        backend::sparse_decode_backward<T>(D{}, pattern, by_column, values.value().data(), w.value().data(), n, out.grad().data(),
                                           values.requires_grad() ? values.grad_accumulator().data() : nullptr,
                                           w.requires_grad() ? w.grad_accumulator().data() : nullptr, nullptr);
      },
      code.values, w);
  return out;
}

}  // namespace ranklens
