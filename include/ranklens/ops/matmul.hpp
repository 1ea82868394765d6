// matmul(a, b): (..., M, K) x (K, N) -> (..., M, N), or batched (batch..., M, K) x (batch..., K, N).
// Operands may be transposed views (transpose(w) of a (N, K) weight): the layout goes to BLAS as
// a transpose flag instead of a copy. Backward: dA = dC·Bᵀ, dB = Aᵀ·dC, written straight into
// the gradient buffers (β = 1 accumulates) in whatever layout those buffers have.
#pragma once
#include <optional>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/core/broadcast_layout.hpp"
#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/cpu/blas.hpp"

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
template <class T>
void gemm_layouts(index_t m, index_t n, index_t k, T alpha, const T* a, BlasLayout la, const T* b, BlasLayout lb, T beta, T* c,
                  BlasLayout lc) {
  using cpu::transpose;
  auto flag = [](bool t) { return t ? transpose::yes : transpose::no; };
  if (!lc.transposed)
    cpu::gemm<T>(flag(la.transposed), flag(lb.transposed), m, n, k, alpha, a, la.ld, b, lb.ld, beta, c, lc.ld);
  else  // C stored transposed: compute Cᵀ = Bᵀ·Aᵀ into its memory
    cpu::gemm<T>(flag(!lb.transposed), flag(!la.transposed), n, m, k, alpha, b, lb.ld, a, la.ld, beta, c, lc.ld);
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
  static_assert(std::is_same_v<D, cpu_t>, "matmul has no CUDA kernel yet.");
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
      gather_contiguous<T>(v.value(), buf);
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
  for (index_t i = 0; i < batch; ++i)
    detail::gemm_layouts<T>(rows, n, k, T(1), pa + offsets[3 * i], la, pb + offsets[3 * i + 1], lb, T(0), pc + offsets[3 * i + 2], lc);

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
          for (index_t i = 0; i < batch; ++i)
            detail::gemm_layouts<T>(rows, k, n, T(1), gc + offsets[3 * i + 2], lc, pb + offsets[3 * i + 1], flip(lb), T(1),
                                    target + offsets[3 * i], lt);
          if (a_copied) scatter_add_from_contiguous<T>(target, ga);
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
          for (index_t i = 0; i < batch; ++i)
            detail::gemm_layouts<T>(k, n, rows, T(1), pa + offsets[3 * i], flip(la), gc + offsets[3 * i + 2], lc, T(1),
                                    target + offsets[3 * i + 1], lt);
          if (b_copied) scatter_add_from_contiguous<T>(target, gb);
        }
      },
      a, b);
  return out;
}

}  // namespace ranklens
