// The paired kernels of a low-rank adapter (LoRA, Hu et al. 2021) for small ranks, where the
// work is a few dot products and axpys per row rather than GEMMs with an inner dimension of
// 1..64, which BLAS runs far below its peak:
//
//   forward:  u = x·Aᵀ                      x: (rows, in), A: (rank, in)  → u: (rows, rank)
//             y += scale · u·Bᵀ             B: (out, rank)                  y: (rows, out)
//   backward: v = gy·B                      (rows, rank), per row, never stored
//             gx += scale · v·A             (rows, in)
//             gA += scale · vᵀ·x            (rank, in)
//             gB += scale · gyᵀ·u           (out, rank)
//
// One pass over the rows in each direction: the forward reads x once and y once, the backward
// reads x and gy once and computes gx, gA and gB together. gA and gB are column sums over the
// rows, reduced by sum_over_row_blocks, so the result does not depend on the thread count.
#pragma once
#include <array>
#include <string>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

// Ranks these kernels take; larger ones are GEMM-shaped and go to BLAS (adapt/).
inline constexpr index_t low_rank_max_rank = 64;

namespace detail {

inline void check_low_rank(const char* kernel, index_t rows, index_t in, index_t out, index_t rank) {
  require_extents(kernel, rows, in);
  require_extents(kernel, out, rank);
  if (rank < 1 || rank > low_rank_max_rank)
    throw value_error(std::string(kernel) + ": rank " + std::to_string(rank) + " is outside [1, " +
                      std::to_string(low_rank_max_rank) + "]");
}

// Bᵀ (rank, out) from B (out, rank), so that each rank's column is one contiguous row.
template <Real T>
const T* transposed_b(const T* b, index_t out, index_t rank) {
  if (rank == 1) return b;  // a column of B is already contiguous
  const std::span<T> bt = thread_scratch<T>(scratch_slot::packed_b, std::size_t(out * rank));
  for (index_t o = 0; o < out; ++o)
    for (index_t j = 0; j < rank; ++j) bt[std::size_t(j * out + o)] = b[o * rank + j];
  return bt.data();
}

// y[0..n) += Σ_j c[j] · rows[j·n + 0..n), one pass over y for all `rank` rows.
template <Real T>
RANKLENS_ALWAYS_INLINE void add_combination(const T* rows, const T* c, index_t rank, T* y, index_t n) {
  simd_for<T>(n, [&](index_t i, auto step) {
    simd<T> acc = load(y + i, step);
    for (index_t j = 0; j < rank; ++j) acc = multiply_add(simd<T>(c[j]), load(rows + j * n + i, step), acc);
    store(y + i, acc, step);
  });
}

}  // namespace detail

// u = x·Aᵀ and y += scale·u·Bᵀ.  x: (rows, in); a: (rank, in); b: (out, rank); u: (rows, rank);
// y: (rows, out). y holds the frozen layer's output on entry.
template <Real T>
void low_rank_forward(const T* x, const T* a, const T* b, T* u, T* y, index_t rows, index_t in, index_t out, index_t rank,
                      std::type_identity_t<T> scale) {
  detail::check_low_rank("low_rank_forward", rows, in, out, rank);
  if (rows == 0) return;
  const T* bt = detail::transposed_b(b, out, rank);
  parallel_for_rows(rows, in + out, 2 * int(rank), [&](index_t r) {
    const T* xr = x + r * in;
    T* ur = u + r * rank;
    std::array<T, low_rank_max_rank> scaled{};
    for (index_t j = 0; j < rank; ++j) {
      const T* aj = a + j * in;
      ur[j] = T(simd_sum<T>(in, [&](index_t i, auto step) { return load(xr + i, step) * load(aj + i, step); }));
      scaled[std::size_t(j)] = scale * ur[j];
    }
    detail::add_combination(bt, scaled.data(), rank, y + r * out, out);
  });
}

// The backward of low_rank_forward: gx (+)= scale·(gy·B)·A, ga += scale·(gy·B)ᵀ·x and
// gb += scale·gyᵀ·u. gx, ga and gb may each be nullptr (not wanted); gx is stored over when
// gx_mode is grad_write::store. x: (rows, in); a: (rank, in); b: (out, rank); u: (rows, rank);
// gy: (rows, out).
template <Real T>
void low_rank_backward(const T* x, const T* a, const T* b, const T* u, const T* gy, optional_out<T> gx, grad_write gx_mode,
                       optional_out<T> ga, optional_out<T> gb, index_t rows, index_t in, index_t out, index_t rank,
                       std::type_identity_t<T> scale) {
  detail::check_low_rank("low_rank_backward", rows, in, out, rank);
  const T* bt = detail::transposed_b(b, out, rank);

  // Row r's share: v = gy_r·B, then gx_r, and (into partial) v ⊗ x_r for gA and u_r ⊗ gy_r for gB.
  const auto row_pass = [&](index_t r, T* partial) {
    const T* gyr = gy + r * out;
    std::array<T, low_rank_max_rank> v{}, scaled_v{};
    for (index_t j = 0; j < rank; ++j) {
      const T* btj = bt + j * out;
      v[std::size_t(j)] = T(simd_sum<T>(out, [&](index_t o, auto step) { return load(gyr + o, step) * load(btj + o, step); }));
      scaled_v[std::size_t(j)] = scale * v[std::size_t(j)];
    }
    if (gx != nullptr) {
      T* gxr = gx + r * in;
      if (gx_mode == grad_write::store) simd_for<T>(in, [&](index_t i, auto step) { store(gxr + i, simd<T>(T(0)), step); });
      detail::add_combination(a, scaled_v.data(), rank, gxr, in);
    }
    if (partial != nullptr) {  // [gA (rank, in) | gBᵀ (rank, out)], unscaled
      T* gbt = partial + rank * in;
      for (index_t j = 0; j < rank; ++j) {
        detail::add_combination(x + r * in, &v[std::size_t(j)], 1, partial + j * in, in);
        detail::add_combination(gyr, u + r * rank + j, 1, gbt + j * out, out);
      }
    }
  };

  if (ga == nullptr && gb == nullptr) {
    if (gx != nullptr) parallel_for_rows(rows, in + out, 2 * int(rank), [&](index_t r) { row_pass(r, nullptr); });
    return;
  }
  sum_over_row_blocks<T>(
      rows, rank * (in + out), std::max<index_t>(parallel_grain(2 * int(rank)) / std::max<index_t>(in + out, 1), 1),
      [&](index_t first, index_t last, T* partial) {
        for (index_t r = first; r < last; ++r) row_pass(r, partial);
      },
      [&](index_t column, double total) {
        const T value = T(double(scale) * total);
        if (column < rank * in) {
          if (ga != nullptr) ga[column] += value;
        } else if (gb != nullptr) {
          const index_t k = column - rank * in, j = k / out, o = k % out;
          gb[o * rank + j] += value;
        }
      });
}

}  // namespace ranklens::cpu
