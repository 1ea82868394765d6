// matmul(a, b): (..., M, K) x (K, N) -> (..., M, N), or batched (batch..., M, K) x (batch..., K, N).
// Operands may be transposed views (transpose(w) of a (N, K) weight): the layout goes to BLAS as
// a transpose flag instead of a copy. Backward: dA = dC·Bᵀ, dB = Aᵀ·dC, written straight into
// the gradient buffers (β = 1 accumulates) in whatever layout those buffers have.
#pragma once
#include <optional>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/blas.hpp"
#include "ranklens/backend/strided_copy.hpp"
#include "ranklens/core/broadcast_layout.hpp"
#include "ranklens/core/shape_algebra.hpp"

namespace ranklens {

namespace detail {

// How one (rows × cols) matrix with strides (row_stride, col_stride) can be handed to BLAS.
struct BlasLayout {
  index_t ld;
  bool transposed;
};

inline std::optional<BlasLayout> blas_layout(index_t rows, index_t cols, index_t row_stride, index_t col_stride) {
  const index_t r = std::max<index_t>(rows, 1), c = std::max<index_t>(cols, 1);
  if ((col_stride == 1 || cols == 1) && (rows == 1 || row_stride >= c)) return BlasLayout{rows == 1 ? c : row_stride, false};
  if ((row_stride == 1 || rows == 1) && (cols == 1 || col_stride >= r)) return BlasLayout{cols == 1 ? r : col_stride, true};
  return std::nullopt;
}

template <class T>
struct Operand {
  T* data;  // first matrix
  BlasLayout layout;
};

// C (m×n) = alpha·A (m×k)·B (k×n) + beta·C, each possibly stored transposed.
template <class T, Device D>
void gemm_layouts(D, index_t m, index_t n, index_t k, T alpha, const T* a, BlasLayout la, const T* b, BlasLayout lb, T beta, T* c,
                  BlasLayout lc) {
  using cpu::transpose;
  auto flag = [](bool t) { return t ? transpose::yes : transpose::no; };
  if (!lc.transposed)
    backend::gemm<T>(D{}, flag(la.transposed), flag(lb.transposed), m, n, k, alpha, a, la.ld, b, lb.ld, beta, c, lc.ld);
  else  // C stored transposed: compute Cᵀ = Bᵀ·Aᵀ into its memory
    backend::gemm<T>(D{}, flag(!lb.transposed), flag(!la.transposed), n, m, k, alpha, b, lb.ld, a, la.ld, beta, c, lc.ld);
}

// The same product for `batch` matrices at the given element offsets (a, b, c triples). When
// the offsets advance by fixed strides and the results do not overlap, the batch goes to the
// batched GEMM, which spreads small products over the thread pool; otherwise one by one.
template <class T, Device D>
void gemm_layouts_batched(D, index_t batch, const index_t* offsets, index_t m, index_t n, index_t k, T alpha, const T* a, BlasLayout la,
                          const T* b, BlasLayout lb, T beta, T* c, BlasLayout lc) {
  bool uniform = batch > 1;
  const index_t sa = batch > 1 ? offsets[3] - offsets[0] : 0, sb = batch > 1 ? offsets[4] - offsets[1] : 0,
                sc = batch > 1 ? offsets[5] - offsets[2] : 0;
  for (index_t i = 1; uniform && i < batch; ++i)
    uniform = offsets[3 * i] - offsets[3 * i - 3] == sa && offsets[3 * i + 1] - offsets[3 * i - 2] == sb &&
              offsets[3 * i + 2] - offsets[3 * i - 1] == sc;
  const index_t c_elements = lc.transposed ? (n - 1) * lc.ld + m : (m - 1) * lc.ld + n;
  if (uniform && sc >= c_elements && m > 0 && n > 0) {
    using cpu::transpose;
    auto flag = [](bool t) { return t ? transpose::yes : transpose::no; };
    const T* a0 = a + offsets[0];
    const T* b0 = b + offsets[1];
    T* c0 = c + offsets[2];
    if (!lc.transposed)
      backend::gemm_strided_batched<T>(D{}, flag(la.transposed), flag(lb.transposed), m, n, k, alpha, a0, la.ld, b0, lb.ld, beta, c0, lc.ld,
                                       batch, sa, sb, sc);
    else
      backend::gemm_strided_batched<T>(D{}, flag(!lb.transposed), flag(!la.transposed), n, m, k, alpha, b0, lb.ld, a0, la.ld, beta, c0,
                                       lc.ld, batch, sb, sa, sc);
    return;
  }
  for (index_t i = 0; i < batch; ++i)
    gemm_layouts<T>(D{}, m, n, k, alpha, a + offsets[3 * i], la, b + offsets[3 * i + 1], lb, beta, c + offsets[3 * i + 2], lc);
}

// Offsets reordered so that operand `first` comes where gemm_layouts_batched expects a, etc.
inline void permute_offsets(index_t batch, const index_t* offsets, index_t* out, int first, int second, int third) {
  for (index_t i = 0; i < batch; ++i) {
    out[3 * i] = offsets[3 * i + first];
    out[3 * i + 1] = offsets[3 * i + second];
    out[3 * i + 2] = offsets[3 * i + third];
  }
}

template <std::size_t R>
std::array<index_t, R> batch_dims_of(const auto& dims) {
  std::array<index_t, R> out{};
  for (std::size_t i = 0; i < R; ++i) out[i] = dims[i];
  return out;
}

}  // namespace detail

template <class T, ShapeType SA, ShapeType SB, Device D>
auto matmul(const Var<T, SA, D>& a, const Var<T, SB, D>& b) {
  static_assert(matmul_ranks_ok<SA, SB>,
                "matmul: the left operand needs rank >= 2 and the right operand rank 2 or the same rank as the left.");
  static_assert(matmul_inner_ok<SA, SB>,
                "matmul: the inner dimensions differ (the left operand's last extent must equal the right operand's second-to-last).");
  using R = matmul_shape_t<SA, SB>;
  constexpr std::size_t rank = SA::rank;
  constexpr std::size_t batch_rank = rank - 2;

  const index_t m = a.extent(rank - 2), k = a.extent(rank - 1), n = b.extent(SB::rank - 1);
  if (b.extent(SB::rank - 2) != k)
    throw shape_error("matmul: inner dimensions differ: " + to_string(a.shape()) + " x " + to_string(b.shape()));
  std::array<index_t, rank> out_dims{};
  for (std::size_t i = 0; i < batch_rank; ++i) {
    out_dims[i] = a.extent(i);
    if constexpr (SB::rank == rank)
      if (b.extent(i) != a.extent(i))
        throw shape_error("matmul: batch dimensions differ: " + to_string(a.shape()) + " x " + to_string(b.shape()));
  }
  out_dims[rank - 2] = m;
  out_dims[rank - 1] = n;
  const R out_shape = R::from_dims(out_dims, "matmul");
  auto out = new_var<T, R, D>(out_shape, any_requires_grad(a, b));

  // Per-matrix layouts. An operand BLAS cannot read directly is gathered into a contiguous
  // copy; its gradient is then formed contiguously and scattered back.
  auto layout_of = [](const auto& v, std::size_t r) {
    return detail::blas_layout(v.extent(r - 2), v.extent(r - 1), v.strides()[r - 2], v.strides()[r - 1]);
  };
  auto& arena = Tape::current().arena<D>();
  auto prepare = [&](const auto& v, std::size_t r, std::array<index_t, rank>& batch_strides, const T*& base,
                     detail::BlasLayout& layout, bool& copied) {
    auto l = layout_of(v, r);
    copied = !l.has_value();
    if (copied) {
      T* buf = arena.template allocate_array<T>(std::size_t(v.numel()));
      backend::copy_strided<T>(D{}, v.shape().dims, v.value().data(), v.strides(), buf, contiguous_strides(v.shape()),
                               grad_write::store);
      base = buf;
      const auto cs = contiguous_strides(v.shape());
      for (std::size_t i = 0; i < batch_rank; ++i) batch_strides[i] = r == rank ? cs[i] : 0;
      layout = {v.extent(r - 1) > 0 ? v.extent(r - 1) : 1, false};
    } else {
      base = v.value().data();
      for (std::size_t i = 0; i < batch_rank; ++i) batch_strides[i] = r == rank ? v.strides()[i] : 0;
      layout = *l;
    }
  };
  std::array<index_t, rank> sa{}, sb{};
  const T *pa = nullptr, *pb = nullptr;
  detail::BlasLayout la{}, lb{};
  bool a_copied = false, b_copied = false;
  prepare(a, rank, sa, pa, la, a_copied);
  prepare(b, SB::rank, sb, pb, lb, b_copied);
  const auto sc = contiguous_strides(out_shape);
  const detail::BlasLayout lc{n > 0 ? n : 1, false};

  // Offsets of every matrix in the batch, computed once and reused by backward.
  index_t batch = 1;
  for (std::size_t i = 0; i < batch_rank; ++i) batch *= out_dims[i];
  index_t* offsets = arena.template allocate_array<index_t>(std::size_t(3 * batch));
  {
    index_t* o = offsets;
    const auto bd = detail::batch_dims_of<batch_rank>(out_dims);
    std::array<std::array<index_t, batch_rank>, 3> st{};
    for (std::size_t i = 0; i < batch_rank; ++i) st[0][i] = sa[i], st[1][i] = sb[i], st[2][i] = sc[i];
    for_each_offsets<batch_rank, 3>(bd, st, [&](index_t x, index_t y, index_t z) {
      *o++ = x;
      *o++ = y;
      *o++ = z;
    });
  }
  // (batch..., M, K) x (K, N) with rows stacked evenly in memory is one tall GEMM: far faster
  // than `batch` small ones (the Linear-layer case).
  index_t rows = m;
  if constexpr (SB::rank == 2 && batch_rank > 0) {
    bool stacked = !la.transposed && batch > 1;
    index_t expect = la.ld * m;
    for (std::size_t i = batch_rank; stacked && i-- > 0;) {
      stacked = out_dims[i] == 1 || sa[i] == expect;
      expect *= out_dims[i];
    }
    if (stacked) {
      rows = m * batch;
      batch = 1;
    }
  }
  T* pc = out.mutable_data();
  detail::gemm_layouts_batched<T>(D{}, batch, offsets, rows, n, k, T(1), pa, la, pb, lb, T(0), pc, lc);
  // Backward needs the offsets as (dC, B, dA) and (A, dC, dB) triples.
  index_t* offsets_for_da = arena.template allocate_array<index_t>(std::size_t(3 * batch));
  index_t* offsets_for_db = arena.template allocate_array<index_t>(std::size_t(3 * batch));
  detail::permute_offsets(batch, offsets, offsets_for_da, 2, 1, 0);
  detail::permute_offsets(batch, offsets, offsets_for_db, 0, 2, 1);

  record(
      "matmul", out,
      [=](const auto& out, const auto& a, const auto& b) {
        const T* gc = out.grad().data();
        auto flip = [](detail::BlasLayout l) { return detail::BlasLayout{l.ld, !l.transposed}; };
        auto& arena = Tape::current().arena<D>();
        if (a.requires_grad()) {  // dA (m×k) = dC (m×n) · Bᵀ (n×k)
          auto ga = a.grad_accumulator();
          T* target;
          detail::BlasLayout lt;
          if (a_copied) {
            target = arena.template allocate_array<T>(std::size_t(a.numel()));
            device_memory<D>::zero(target, sizeof(T) * std::size_t(a.numel()));
            lt = la;
          } else {
            target = ga.data();
            lt = *detail::blas_layout(m, k, ga.strides()[rank - 2], ga.strides()[rank - 1]);
          }
          detail::gemm_layouts_batched<T>(D{}, batch, offsets_for_da, rows, k, n, T(1), gc, lc, pb, flip(lb), T(1), target, lt);
          if (a_copied)
            backend::copy_strided<T>(D{}, a.shape().dims, target, contiguous_strides(a.shape()), ga.data(), ga.strides(), grad_write::add);
        }
        if (b.requires_grad()) {  // dB (k×n) = Aᵀ (k×m) · dC (m×n); summed over a broadcast batch
          auto gb = b.grad_accumulator();
          constexpr std::size_t rb = std::remove_cvref_t<decltype(b)>::rank;
          T* target;
          detail::BlasLayout lt;
          if (b_copied) {
            target = arena.template allocate_array<T>(std::size_t(b.numel()));
            device_memory<D>::zero(target, sizeof(T) * std::size_t(b.numel()));
            lt = lb;
          } else {
            target = gb.data();
            lt = *detail::blas_layout(k, n, gb.strides()[rb - 2], gb.strides()[rb - 1]);
          }
          // A broadcast B (stride 0 over the batch) makes the dB products overlap: then they run
          // one after another, each accumulating (β = 1).
          detail::gemm_layouts_batched<T>(D{}, batch, offsets_for_db, k, n, rows, T(1), pa, flip(la), gc, lc, T(1), target, lt);
          if (b_copied)
            backend::copy_strided<T>(D{}, b.shape().dims, target, contiguous_strides(b.shape()), gb.data(), gb.strides(), grad_write::add);
        }
      },
      a, b);
  return out;
}

}  // namespace ranklens
