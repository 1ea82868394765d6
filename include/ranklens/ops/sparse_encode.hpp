// sparse_encode(x, centre, W, b, selectors): the encoder of a sparse autoencoder.
//
//   pre = (x − centre) · W + b          x: (rows, n), centre: (n), W: (n, m), b: (m)
//
// computed densely (every pre-activation is needed to choose), then for each selector the chosen
// entries through a ReLU, as SparseActivations (ops/sparse_activations.hpp):
//
//   top_k_per_token     the k largest pre-activations of each token, then ReLU (Gao et al. 2024;
//                       SAELens' TopK); optionally among given latents only (AuxK's dead ones)
//   top_k_over_batch    the k·rows largest positive pre-activations of the whole batch
//                       (BatchTopK, Bussmann et al. 2024; SAELens' BatchTopK)
//   above_threshold     pre > max(θ_j, 0) (JumpReLU inference, as SAELens' JumpReLUSAE)
//
// Several selectors share the one dense product (the main code and AuxK's code of a training
// step). Each result is its own tape entry; its backward reads only its entries (k·n work per
// token, cpu/sparse_encode.hpp): the gradient of W, b, the centre and x. The choice itself is
// piecewise constant and has no gradient, as in torch.topk.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/backend/blas.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/sparse.hpp"
#include "ranklens/ops/sparse_activations.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

template <Real T>
struct LatentSelector {
  enum class rule { top_k_per_token, top_k_over_batch, above_threshold };
  rule kind = rule::top_k_per_token;
  index_t k = 0;                          // top_k_*: latents per token (over a batch: on average)
  std::span<const std::int32_t> among{};  // top_k_per_token: the latents that may be chosen, ascending; empty: all
  std::span<const T> thresholds{};        // above_threshold: θ_j, one per latent

  static LatentSelector top_k(index_t k, std::span<const std::int32_t> among = {}) { return {rule::top_k_per_token, k, among, {}}; }
  static LatentSelector batch_top_k(index_t k) { return {rule::top_k_over_batch, k, {}, {}}; }
  static LatentSelector jump_relu(std::span<const T> thresholds) { return {rule::above_threshold, 0, {}, thresholds}; }
};

namespace detail {

template <ShapeType SX, ShapeType SC, ShapeType SW, ShapeType SB>
constexpr bool sparse_encode_widths_agree() {
  constexpr auto same = [](index_t a, index_t b) { return a == dyn || b == dyn || a == b; };
  return same(SX::static_extents[1], SC::static_extents[0]) && same(SX::static_extents[1], SW::static_extents[0]) &&
         same(SW::static_extents[1], SB::static_extents[0]);
}

// A host array in D's arena (the selectors' latent lists and thresholds are host data); the
// array itself on the CPU.
template <Device D, class E>
const E* on_device_arena(std::span<const E> host) {
  if constexpr (std::same_as<D, cpu_t>) {
    return host.data();
  } else {
    if (host.empty()) return nullptr;
    E* copy = Tape::current().arena<D>().template allocate_array<E>(host.size());
    device_memory<D>::copy_from_host(copy, host.data(), sizeof(E) * host.size());
    return copy;
  }
}

// row_offsets[r] = r·k for r in [0, rows] (TopK's pattern: k entries per row), in D's memory.
template <Device D>
void write_fixed_offsets(index_t* row_offsets, index_t rows, index_t k) {
  std::vector<index_t> offsets(static_cast<std::size_t>(rows + 1));
  for (index_t r = 0; r <= rows; ++r) offsets[std::size_t(r)] = r * k;
  if constexpr (std::same_as<D, cpu_t>)
    std::copy(offsets.begin(), offsets.end(), row_offsets);
  else
    device_memory<D>::copy_from_host(row_offsets, offsets.data(), sizeof(index_t) * offsets.size());
}

// The entries `select` chooses from pre (rows, m), their ReLU'd values in a new Var.
template <Real T, Device D>
SparseActivations<T, D> choose_latents(const T* pre, index_t rows, index_t m, const LatentSelector<T>& select, bool requires_grad) {
  using rule = typename LatentSelector<T>::rule;
  auto& arena = Tape::current().arena<D>();
  auto* row_offsets = arena.template allocate_array<index_t>(std::size_t(rows + 1));
  SparseActivations<T, D> code;
  code.pattern = {.rows = rows, .cols = m, .row_offsets = row_offsets, .columns = nullptr};
  std::int32_t* columns = nullptr;
  T* values = nullptr;
  auto allocate_entries = [&](index_t entries) {
    columns = arena.template allocate_array<std::int32_t>(std::size_t(std::max<index_t>(entries, 1)));
    code.pattern.columns = columns;
    code.values = new_var<T, Shape<dyn>, D>(Shape<dyn>{entries}, requires_grad);
    values = code.values.mutable_data();
  };
  switch (select.kind) {
    case rule::top_k_per_token: {
      const index_t candidates = select.among.empty() ? m : index_t(select.among.size());
      if (select.k < 0 || select.k > candidates)
        throw value_error("sparse_encode: top_k_per_token with k = " + std::to_string(select.k) + " of " + std::to_string(candidates) +
                          " candidate latents");
      write_fixed_offsets<D>(row_offsets, rows, select.k);
      allocate_entries(rows * select.k);
      if (select.k > 0 && rows > 0)
        backend::top_k_per_row(D{}, pre, rows, m, select.k, on_device_arena<D>(select.among), index_t(select.among.size()), columns, values);
      break;
    }
    case rule::top_k_over_batch: {
      if (select.k < 1 || select.k > m)
        throw value_error("sparse_encode: top_k_over_batch needs 1 <= k <= " + std::to_string(m) + ", got " + std::to_string(select.k));
      if (rows == 0) {
        write_fixed_offsets<D>(row_offsets, 0, 0);
        allocate_entries(0);
        break;
      }
      backend::batch_top_k(D{}, pre, rows, m, select.k * rows, row_offsets, [&](index_t entries) {
        allocate_entries(entries);
        return std::pair{columns, values};
      });
      break;
    }
    case rule::above_threshold: {
      if (index_t(select.thresholds.size()) != m)
        throw shape_error("sparse_encode: above_threshold needs one threshold per latent (" + std::to_string(m) + "), got " +
                          std::to_string(select.thresholds.size()));
      const T* thresholds = on_device_arena<D>(select.thresholds);
      allocate_entries(backend::count_above_threshold(D{}, pre, rows, m, thresholds, row_offsets));
      backend::gather_above_threshold(D{}, pre, rows, m, thresholds, row_offsets, columns, values);
      break;
    }
  }
  if (code.entries() > 0) backend::unary_forward<cpu::relu_op>(D{}, values, values, code.entries());
  if (requires_grad) code.by_column = group_by_latent<D>(code.pattern);
  return code;
}

}  // namespace detail

template <std::size_t Count, class T, ShapeType SX, ShapeType SC, ShapeType SW, ShapeType SB, Device D>
std::array<SparseActivations<T, D>, Count> sparse_encode(const Var<T, SX, D>& x, const Var<T, SC, D>& centre, const Var<T, SW, D>& weight,
                                                        const Var<T, SB, D>& bias, const std::array<LatentSelector<T>, Count>& selectors) {
  static_assert(SX::rank == 2 && SC::rank == 1 && SW::rank == 2 && SB::rank == 1,
                "sparse_encode: x must be (rows, n), the centre (n), W (n, m) and b (m).");
  static_assert(detail::sparse_encode_widths_agree<SX, SC, SW, SB>(),
                "sparse_encode: the widths of x, the centre, W and b do not agree (x (rows, n), centre (n), W (n, m), b (m)).");
  const index_t rows = x.extent(0), n = x.extent(1), m = weight.extent(1);
  if (centre.extent(0) != n || weight.extent(0) != n || bias.extent(0) != m)
    throw shape_error("sparse_encode: shapes x " + to_string(x.shape()) + ", centre " + to_string(centre.shape()) + ", W " +
                      to_string(weight.shape()) + ", b " + to_string(bias.shape()) + " do not fit (x (rows, n), centre (n), W (n, m), b (m))");
  const auto xc = contiguous(x);
  const auto c = contiguous(centre);
  const auto w = contiguous(weight);
  const auto b = contiguous(bias);
  auto& arena = Tape::current().arena<D>();

  // x̃ = x − centre, kept for the backward (gW reads it); pre = x̃ · W + b.
  T* centred = arena.template allocate_array<T>(std::size_t(std::max<index_t>(rows * n, 1)));
  if (rows > 0 && n > 0) backend::binary_forward_broadcast_row<cpu::sub_op, T>(D{}, xc.value().data(), c.value().data(), centred, rows, n);
  T* pre = arena.template allocate_array<T>(std::size_t(std::max<index_t>(rows * m, 1)));
  if (rows > 0 && m > 0) {
    if (n > 0)
      backend::gemm_plus_bias<T>(D{}, cpu::transpose::no, rows, m, n, centred, std::max<index_t>(n, 1), w.value().data(), std::max<index_t>(m, 1),
                                 b.value().data(), pre, m);
    else
      backend::fill_rows(D{}, b.value().data(), pre, rows, m);
  }

  const bool requires_grad = any_requires_grad(xc, c, w, b);
  std::array<SparseActivations<T, D>, Count> codes;
  for (std::size_t s = 0; s < Count; ++s) {
    codes[s] = detail::choose_latents<T, D>(pre, rows, m, selectors[s], requires_grad);
    const cpu::CompressedRows pattern = codes[s].pattern;
    const cpu::EntriesByColumn by_column = codes[s].by_column;
    const index_t entries = codes[s].entries();
    record(
        "sparse_encode", codes[s].values,
        [pattern, by_column, entries, centred, n](const auto& out, const auto& x, const auto& c, const auto& w, const auto& b) {
          // ∂loss/∂pre at each entry: the value's gradient where the ReLU passed it (the values are
          // ReLU'd, so value > 0 is where the pre-activation was).
          T* g = Tape::current().arena<D>().template allocate_array<T>(std::size_t(std::max<index_t>(entries, 1)));
          const T* v = out.value().data();
          if (entries > 0) backend::unary_backward<cpu::relu_op>(D{}, v, v, out.grad().data(), g, entries, grad_write::store);
          backend::sparse_encode_backward<T>(D{}, pattern, by_column, g, centred, w.value().data(), n,
                                             x.requires_grad() ? x.grad_accumulator().data() : nullptr,
                                             w.requires_grad() ? w.grad_accumulator().data() : nullptr,
                                             b.requires_grad() ? b.grad_accumulator().data() : nullptr,
                                             c.requires_grad() ? c.grad_accumulator().data() : nullptr);
        },
        xc, c, w, b);
  }
  return codes;
}

// One selector: the code alone.
template <class T, ShapeType SX, ShapeType SC, ShapeType SW, ShapeType SB, Device D>
SparseActivations<T, D> sparse_encode(const Var<T, SX, D>& x, const Var<T, SC, D>& centre, const Var<T, SW, D>& weight,
                                      const Var<T, SB, D>& bias, const LatentSelector<T>& selector) {
  return sparse_encode<1>(x, centre, weight, bias, std::array<LatentSelector<T>, 1>{selector})[0];
}

}  // namespace ranklens
