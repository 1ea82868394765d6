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
// The forward reads x once (u, low_rank_activations) and then y once (low_rank_apply); where
// the layer's GEMM can add the term itself, only the first runs (cpu/low_rank_gemm.hpp). The
// backward reads x and gy once and computes gx, gA and gB together. gA and gB are column sums over the
// rows, reduced by sum_over_row_blocks, so the result does not depend on the thread count.
#pragma once
#include <array>
#include <string>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/low_rank_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

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

// The row kernels work on blocks of R <= 4 rows, so that each element of a factor (a row of A,
// a column of B) is loaded once per block rather than once per row.
inline constexpr index_t low_rank_row_block = 4;

// dots[r] = Σ_i rows[r·ld + i] · v[i] for the R rows.
template <int R, Real T>
RANKLENS_ALWAYS_INLINE void dot_rows(const T* rows, index_t ld, const T* v, index_t n, T* dots) {
  simd<T> acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = simd<T>(T(0));
  simd_for<T>(n, [&](index_t i, auto step) {
    const simd<T> vv = load(v + i, step);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r] = multiply_add(load(rows + r * ld + i, step), vv, acc[r]);
  });
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) dots[r] = reduce_add<T>(acc[r]);
}

// rows[r·ld + i] (+)= c[r] · v[i] for the R rows: stored over with Store, else added.
template <int R, bool Store, Real T>
RANKLENS_ALWAYS_INLINE void axpy_rows(const T* c, const T* v, T* rows, index_t ld, index_t n) {
  simd_for<T>(n, [&](index_t i, auto step) {
    const simd<T> vv = load(v + i, step);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      T* at = rows + r * ld + i;
      store(at, Store ? simd<T>(c[r]) * vv : multiply_add(simd<T>(c[r]), vv, load(at, step)), step);
    }
  });
}

// acc[i] += Σ_r c[r] · rows[r·ld + i]: one pass over acc for the R rows.
template <int R, Real T>
RANKLENS_ALWAYS_INLINE void accumulate_rows(const T* c, const T* rows, index_t ld, T* acc, index_t n) {
  simd_for<T>(n, [&](index_t i, auto step) {
    simd<T> sum = load(acc + i, step);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) sum = multiply_add(simd<T>(c[r]), load(rows + r * ld + i, step), sum);
    store(acc + i, sum, step);
  });
}

// Calls body.template operator()<R>(first) for blocks of R = 4 rows covering [begin, end), the
// last one shorter.
template <class Body>
RANKLENS_ALWAYS_INLINE void for_row_blocks(index_t begin, index_t end, Body&& body) {
  index_t r = begin;
  for (; r + low_rank_row_block <= end; r += low_rank_row_block) body.template operator()<4>(r);
  switch (end - r) {
    case 3: body.template operator()<3>(r); break;
    case 2: body.template operator()<2>(r); break;
    case 1: body.template operator()<1>(r); break;
    default: break;
  }
}

}  // namespace detail

// y += scale·u·Bᵀ for activations u (rows, rank) given rather than computed: low_rank_forward's
// second half, so that the u low_rank_forward wrote gives the same y bit for bit
// (LoraAdapters::replace_state splices other activations in this way).
template <Real T>
void low_rank_apply(const T* u, const T* b, T* y, index_t rows, index_t out, index_t rank, std::type_identity_t<T> scale) {
  detail::check_low_rank("low_rank_apply", rows, 1, out, rank);
  if (rows == 0) return;
  const T* bt = detail::transposed_b(b, out, rank);
  const index_t blocks = (rows + detail::low_rank_row_block - 1) / detail::low_rank_row_block;
  const index_t grain = std::max<index_t>(1, parallel_grain(2 * int(rank)) / std::max<index_t>(detail::low_rank_row_block * out, 1));
  parallel_for(blocks, grain, [&](index_t first_block, index_t last_block) {
    detail::for_row_blocks(first_block * detail::low_rank_row_block, std::min(rows, last_block * detail::low_rank_row_block), [&]<int R>(index_t r0) {
      T scaled[R];
      for (index_t j = 0; j < rank; ++j) {
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) scaled[r] = scale * u[(r0 + r) * rank + j];
        detail::axpy_rows<R, false>(scaled, bt + j * out, y + r0 * out, out, out);
      }
    });
  });
}

// u = x·Aᵀ alone: low_rank_forward's first half.  x: (rows, in); a: (rank, in); u: (rows, rank)
template <Real T>
void low_rank_activations(const T* x, const T* a, T* u, index_t rows, index_t in, index_t rank) {
  detail::check_low_rank("low_rank_activations", rows, in, 1, rank);
  if (rows == 0) return;
  const index_t blocks = (rows + detail::low_rank_row_block - 1) / detail::low_rank_row_block;
  const index_t grain = std::max<index_t>(1, parallel_grain(int(rank)) / std::max<index_t>(detail::low_rank_row_block * in, 1));
  parallel_for(blocks, grain, [&](index_t first_block, index_t last_block) {
    detail::for_row_blocks(first_block * detail::low_rank_row_block, std::min(rows, last_block * detail::low_rank_row_block), [&]<int R>(index_t r0) {
      T dots[R];
      for (index_t j = 0; j < rank; ++j) {
        detail::dot_rows<R>(x + r0 * in, in, a + j * in, in, dots);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) u[(r0 + r) * rank + j] = dots[r];
      }
    });
  });
}

// u = x·Aᵀ and y += scale·u·Bᵀ.  x: (rows, in); a: (rank, in); b: (out, rank); u: (rows, rank);
// y: (rows, out). y holds the frozen layer's output on entry.
template <Real T>
void low_rank_forward(const T* x, const T* a, const T* b, T* u, T* y, index_t rows, index_t in, index_t out, index_t rank,
                      std::type_identity_t<T> scale) {
  detail::check_low_rank("low_rank_forward", rows, in, out, rank);
  low_rank_activations<T>(x, a, u, rows, in, rank);
  low_rank_apply<T>(u, b, y, rows, out, rank, scale);
}

// c += u·v, rank by rank, as the thin GEMM adds a low_rank_term when it stores C: the same
// bits.  u: (rows, rank); v: (rank, n), both dense; c: (rows, n), rows ldc ≥ n apart
template <Real T>
void add_low_rank_rows(const T* u, const T* v, T* c, index_t rows, index_t n, index_t rank, index_t ldc) {
  detail::check_low_rank("add_low_rank_rows", rows, n, 1, rank);
  detail::require(ldc >= n, "add_low_rank_rows", "ldc is smaller than a row");
  if (rows == 0 || n == 0) return;
  parallel_for(rows, std::max<index_t>(1, parallel_grain(2 * int(rank)) / n), [&](index_t first, index_t last) {
    for (index_t r = first; r < last; ++r)
      for (index_t j = 0; j < rank; ++j) detail::axpy_rows<1, false>(u + r * rank + j, v + j * n, c + r * ldc, ldc, n);
  });
}

// The backward of low_rank_forward: gx (+)= scale·(gy·B)·A, ga += scale·(gy·B)ᵀ·x and
// gb += scale·gyᵀ·u. gx, ga and gb may each be nullptr (not wanted); gx is stored over when
// gx_mode is grad_write::store. scaled_gy_b, when given, receives scale·(gy·B) (rows, rank): the
// coefficients of gx's term for a caller that adds it as its own product is stored.
// x: (rows, in); a: (rank, in); b: (out, rank); u: (rows, rank); gy: (rows, out).
template <Real T>
void low_rank_backward(const T* x, const T* a, const T* b, const T* u, const T* gy, optional_out<T> gx, grad_write gx_mode,
                       optional_out<T> ga, optional_out<T> gb, index_t rows, index_t in, index_t out, index_t rank,
                       std::type_identity_t<T> scale, optional_out<T> scaled_gy_b = nullptr) {
  detail::check_low_rank("low_rank_backward", rows, in, out, rank);
  const T* bt = detail::transposed_b(b, out, rank);

  // Rows [begin, end): v = gy·B per row, gx, and (into partial, unscaled) vᵀ·x for gA
  // (rank, in) and uᵀ·gy for gBᵀ (rank, out).
  const auto rows_pass = [&](index_t begin, index_t end, T* partial) {
    detail::for_row_blocks(begin, end, [&]<int R>(index_t r0) {
      T v[low_rank_max_rank][R], coefficient[R];
      for (index_t j = 0; j < rank; ++j) detail::dot_rows<R>(gy + r0 * out, out, bt + j * out, out, v[j]);
      if (scaled_gy_b != nullptr)
        for (index_t j = 0; j < rank; ++j)
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) scaled_gy_b[(r0 + r) * rank + j] = scale * v[j][r];
      if (gx != nullptr)
        for (index_t j = 0; j < rank; ++j) {
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) coefficient[r] = scale * v[j][r];
          if (j == 0 && gx_mode == grad_write::store)
            detail::axpy_rows<R, true>(coefficient, a, gx + r0 * in, in, in);
          else
            detail::axpy_rows<R, false>(coefficient, a + j * in, gx + r0 * in, in, in);
        }
      if (partial != nullptr)
        for (index_t j = 0; j < rank; ++j) {
          detail::accumulate_rows<R>(v[j], x + r0 * in, in, partial + j * in, in);
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) coefficient[r] = u[(r0 + r) * rank + j];
          detail::accumulate_rows<R>(coefficient, gy + r0 * out, out, partial + rank * in + j * out, out);
        }
    });
  };

  if (ga == nullptr && gb == nullptr) {
    if (gx != nullptr || scaled_gy_b != nullptr)
      parallel_for(rows, std::max<index_t>(1, parallel_grain(2 * int(rank)) / std::max<index_t>(in + out, 1)),
                   [&](index_t first, index_t last) { rows_pass(first, last, nullptr); });
    return;
  }
  sum_over_row_blocks<T>(
      rows, rank * (in + out), std::max<index_t>(parallel_grain(2 * int(rank)) / std::max<index_t>(in + out, 1), 1),
      [&](index_t first, index_t last, T* partial) { rows_pass(first, last, partial); },
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
