// Reductions over one axis of a contiguous 3-D view x: (outer, n, inner), reducing n:
//   sum_axis, max_axis (with the index of the maximum), their backward kernels; and sum_all and
//   sum_of_squares over every element (sum_of_squares_many: over a list of arrays).
// Any axis of a contiguous tensor is such a view: outer = product of the extents before it,
// inner = product of those after. The two common cases have their own paths:
//   inner == 1: the last axis (row sums, one row at a time with vector accumulators);
//   outer == 1: the leading axis (column sums, e.g. bias gradients), rows added in blocks.
//
// Accuracy: sums accumulate in T within blocks (at most 1024 elements along a row, or 64 rows
// down a column) and in double across blocks, so float sums of millions of elements keep about
// 1e-6 relative accuracy. Results are deterministic: they depend on the shape, not on the
// number of threads.
#pragma once
#include <span>
#include <string>

#include "ranklens/cpu/array_range.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

namespace detail {

inline void require_axis_view(const char* kernel, index_t outer, index_t n, index_t inner) {
  if (outer < 0 || n < 0 || inner < 0)
    throw shape_error(std::string(kernel) + ": negative extent in (outer, n, inner) = (" +
                      std::to_string(outer) + ", " + std::to_string(n) + ", " +
                      std::to_string(inner) + ")");
}

// acc[0..count) += row[0..count).
template <Real T>
RANKLENS_ALWAYS_INLINE void add_row(const T* row, T* acc, index_t count) {
  simd_for<T>(count, [&](index_t k, auto step) {
    store(acc + k, load(acc + k, step) + load(row + k, step), step);
  });
}

// acc[0..cols) += Σ_{j < count} x[j * stride + 0..cols). Walks down the rows one strip of
// four vectors at a time, so the running sums stay in registers instead of going through
// memory once per row.
template <Real T>
void add_rows(const T* x, index_t count, index_t stride, T* acc, index_t cols) {
  constexpr index_t width = simd_width<T>;
  index_t k = 0;
  for (; k + 4 * width <= cols; k += 4 * width) {
    const full_step<T> step;
    simd<T> a0 = load(acc + k, step), a1 = load(acc + k + width, step),
            a2 = load(acc + k + 2 * width, step), a3 = load(acc + k + 3 * width, step);
    for (index_t j = 0; j < count; ++j) {
      const T* row = x + j * stride + k;
      a0 += load(row, step);
      a1 += load(row + width, step);
      a2 += load(row + 2 * width, step);
      a3 += load(row + 3 * width, step);
    }
    store(acc + k, a0, step);
    store(acc + k + width, a1, step);
    store(acc + k + 2 * width, a2, step);
    store(acc + k + 3 * width, a3, step);
  }
  simd_for<T>(cols - k, [&](index_t i, auto step) {
    simd<T> a = load(acc + k + i, step);
    for (index_t j = 0; j < count; ++j) a += load(x + j * stride + k + i, step);
    store(acc + k + i, a, step);
  });
}

// Column sums of one (n, inner) slab into y, blocked like sum_over_row_blocks
// (rows summed in T in blocks of 64, blocks in double).
template <Real T>
void column_sums_sequential(const T* x, T* y, index_t n, index_t inner) {
  // Per-thread scratch: each worker calls this for its own slabs.
  const std::span<T> block = thread_scratch<T>(scratch_slot::block, std::size_t(inner));
  const std::span<double> totals = thread_scratch<double>(scratch_slot::totals, std::size_t(inner));
  std::fill(totals.begin(), totals.end(), 0.0);
  for (index_t first = 0; first < n; first += 64) {
    std::fill(block.begin(), block.end(), T(0));
    const index_t last = std::min(n, first + 64);
    add_rows(x + first * inner, last - first, inner, block.data(), inner);
    for (index_t k = 0; k < inner; ++k) totals[std::size_t(k)] += double(block[std::size_t(k)]);
  }
  for (index_t k = 0; k < inner; ++k) y[k] = T(totals[std::size_t(k)]);
}

// Index of the maximum of x[0..n) (n >= 1), NaN counting as the largest value; the first index
// among ties.
template <Real T>
index_t argmax_of_row(const T* x, index_t n) {
  simd<T> best(x[0]);
  auto saw_nan = simd<T>(T(0)) != simd<T>(T(0));  // all false
  simd_for<T>(n, [&](index_t i, auto step) {
    // A partial step pads with zeros; repeat x[0] instead so that padding cannot win.
    simd<T> v = load(x + i, step);
    if constexpr (std::is_same_v<decltype(step), partial_step>) {
      v = xsimd::select(keep_valid<T>(simd<T>(T(1)), step) != simd<T>(T(0)), v, simd<T>(x[0]));
    }
    saw_nan = saw_nan || xsimd::isnan(v);
    best = xsimd::max(best, v);
  });
  if (xsimd::any(saw_nan)) {
    for (index_t i = 0; i < n; ++i)
      if (x[i] != x[i]) return i;
  }
  const T top = reduce_max<T>(best);
  for (index_t i = 0; i < n; ++i)
    if (x[i] == top) return i;
  return 0;
}

}  // namespace detail

// y[o, k] = Σ_j x[o, j, k].  x: (outer, n, inner); y: (outer, inner)
template <Real T>
void sum_axis(const T* x, T* y, index_t outer, index_t n, index_t inner) {
  detail::require_axis_view("sum_axis", outer, n, inner);
  if (outer == 0 || inner == 0) return;
  const index_t grain = parallel_grain(1);
  if (inner == 1) {
    if (outer == 1) {
      y[0] = T(blocked_sum(n, 16 * sum_block, grain, [&](index_t begin, index_t end) {
        return sum_of(x + begin, end - begin);
      }));
      return;
    }
    parallel_for(outer, std::max<index_t>(grain / std::max<index_t>(n, 1), 1),
                 [&](index_t first, index_t last) {
                   for (index_t o = first; o < last; ++o) y[o] = T(sum_of(x + o * n, n));
                 });
    return;
  }
  if (outer == 1) {
    sum_over_row_blocks<T>(
        n, inner, std::max<index_t>(grain / inner, 1),
        [&](index_t first, index_t last, T* partial) {
          detail::add_rows(x + first * inner, last - first, inner, partial, inner);
        },
        [&](index_t k, double total) { y[k] = T(total); });
    return;
  }
  parallel_for(outer, std::max<index_t>(grain / std::max<index_t>(n * inner, 1), 1),
               [&](index_t first, index_t last) {
                 for (index_t o = first; o < last; ++o)
                   detail::column_sums_sequential(x + o * n * inner, y + o * inner, n, inner);
               });
}

// gx[o, j, k] += gy[o, k].  gy: (outer, inner); gx: (outer, n, inner)
template <Real T>
void sum_axis_backward(const T* gy, T* gx, index_t outer, index_t n, index_t inner) {
  detail::require_axis_view("sum_axis_backward", outer, n, inner);
  if (inner == 0 || n == 0) return;
  const index_t rows = outer * n;
  parallel_for(rows, std::max<index_t>(parallel_grain(1) / inner, 1),
               [&](index_t first, index_t last) {
                 for (index_t r = first; r < last; ++r) {
                   const index_t o = r / n;
                   T* g = gx + r * inner;
                   if (inner == 1) {
                     g[0] += gy[o];
                   } else {
                     detail::add_row(gy + o * inner, g, inner);
                   }
                 }
               });
}

// y[o, k] = max_j x[o, j, k] and argmax[o, k] = the first j attaining it; NaN counts as the
// largest value (it propagates, as in PyTorch). argmax may be nullptr.
// x: (outer, n, inner); y, argmax: (outer, inner); n must be at least 1.
template <Real T>
void max_axis(const T* x, T* y, optional_out<index_t> argmax, index_t outer, index_t n,
              index_t inner) {
  detail::require_axis_view("max_axis", outer, n, inner);
  if (outer == 0 || inner == 0) return;
  if (n == 0) throw shape_error("max_axis: cannot take the maximum over an empty axis (n = 0)");
  const index_t grain = parallel_grain(1);
  if (inner == 1) {
    parallel_for(outer, std::max<index_t>(grain / n, 1), [&](index_t first, index_t last) {
      for (index_t o = first; o < last; ++o) {
        const index_t j = detail::argmax_of_row(x + o * n, n);
        y[o] = x[o * n + j];
        if (argmax != nullptr) argmax[o] = j;
      }
    });
    return;
  }
  parallel_for(outer * inner, std::max<index_t>(grain / n, 1), [&](index_t first, index_t last) {
    // Walk down the n rows for a run of consecutive columns of one slab at a time.
    for (index_t start = first; start < last;) {
      const index_t o = start / inner;
      const index_t k0 = start % inner;
      const index_t k1 = std::min(inner, k0 + (last - start));
      const T* slab = x + o * n * inner;
      T* best = y + o * inner;
      for (index_t k = k0; k < k1; ++k) best[k] = slab[k];
      const std::span<index_t> where_best = thread_scratch<index_t>(scratch_slot::partial_sums, std::size_t(k1 - k0));
      std::fill(where_best.begin(), where_best.end(), index_t(0));
      for (index_t j = 1; j < n; ++j) {
        const T* row = slab + j * inner;
        for (index_t k = k0; k < k1; ++k) {
          const T v = row[k];
          const bool nan_first = v != v && best[k] == best[k];
          if (v > best[k] || nan_first) {
            best[k] = v;
            where_best[std::size_t(k - k0)] = j;
          }
        }
      }
      if (argmax != nullptr)
        for (index_t k = k0; k < k1; ++k) argmax[o * inner + k] = where_best[std::size_t(k - k0)];
      start += k1 - k0;
    }
  });
}

// gx[o, argmax[o, k], k] += gy[o, k].  argmax, gy: (outer, inner); gx: (outer, n, inner)
template <Real T>
void max_axis_backward(const index_t* argmax, const T* gy, T* gx, index_t outer, index_t n,
                       index_t inner) {
  detail::require_axis_view("max_axis_backward", outer, n, inner);
  for (index_t o = 0; o < outer; ++o) {
    for (index_t k = 0; k < inner; ++k) {
      const index_t j = argmax[o * inner + k];
      if (j < 0 || j >= n)
        throw value_error("max_axis_backward: argmax[" + std::to_string(o * inner + k) + "] = " +
                          std::to_string(j) + " is outside [0, " + std::to_string(n) + ")");
      gx[(o * n + j) * inner + k] += gy[o * inner + k];
    }
  }
}

// Σ x[0..n), accumulated in double across blocks.
template <Real T>
T sum_all(const T* x, index_t n) {
  return T(blocked_sum(n, 16 * sum_block, parallel_grain(1),
                       [&](index_t begin, index_t end) { return sum_of(x + begin, end - begin); }));
}

// *total = Σ x[0..n): the sum written to memory, as a device kernel leaves it (cuda/reduce.cuh).
template <Real T>
void sum_all(const T* x, index_t n, T* total) {
  *total = sum_all(x, n);
}

// Σ x[i]² over [0, n), in one pass (squaring into memory first and summing that would be two,
// plus a scratch array), blocked and accumulated as sum_all: gradient clipping's norm.
template <Real T>
double sum_of_squares(const T* x, index_t n) {
  return blocked_sum(n, 16 * sum_block, parallel_grain(1), [&](index_t begin, index_t end) {
    return simd_sum<T>(end - begin, [&](index_t i, auto step) {
      const simd<T> v = load(x + begin + i, step);
      return v * v;
    });
  });
}

// *total = Σ x[i]², written to memory, as the device twin leaves it (cuda/reduce.cuh).
template <Real T>
void sum_of_squares(const T* x, index_t n, T* total) {
  *total = T(sum_of_squares(x, n));
}

// Sums of squares of a list of arrays, as partials whose sum is the total (gradient clipping's
// norm over every parameter): here one per array, in turn; the device twin writes one per chunk
// in a launch or a few. sum_of_squares_partials says how many a list gets.
template <Real T>
index_t sum_of_squares_partials(std::span<const array_range<const T>> arrays) {
  return index_t(arrays.size());
}
template <Real T>
void sum_of_squares_many(std::span<const array_range<const T>> arrays, float* partials) {
  for (std::size_t i = 0; i < arrays.size(); ++i) partials[i] = float(sum_of_squares(arrays[i].data, arrays[i].n));
}

// gx[i] += gy[0] for i < n: the backward of sum_all (gy is read from memory, like the total).
template <Real T>
void sum_all_backward(const T* gy, T* gx, index_t n) {
  const T g = *gy;
  for (index_t i = 0; i < n; ++i) gx[i] += g;
}

}  // namespace ranklens::cpu
