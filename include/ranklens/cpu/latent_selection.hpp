// Choosing the active latents of a sparse autoencoder from its dense pre-activations x: (rows, cols),
// one row per token. Three rules, each a pass or a few over x:
//
//   top_k_per_row        the k largest entries of every row (Gao et al. 2024's TopK), unordered, optionally
//                        among a given list of columns only (AuxK's dead latents);
//   kth_largest_positive the threshold of BatchTopK (Bussmann et al. 2024): the count-th largest
//                        positive entry of the whole matrix, found by a radix histogram of the
//                        float bits instead of a sort;
//   count_kept / gather_kept
//                        every entry a predicate keeps (x >= tau for BatchTopK, x > θ_j for the
//                        JumpReLU inference mode), as compressed rows.
//
// Ties: top_k_per_row prefers the lower column among equal values; the threshold rules keep every
// entry equal to the threshold, so identical tokens always get identical codes (torch.topk, which
// SAELens uses, breaks such ties arbitrarily). NaN entries are never chosen.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

template <Real T>
struct ScoredColumn {
  T value;
  std::int32_t column;
};

namespace detail {

template <Real T>
RANKLENS_ALWAYS_INLINE bool ranks_before(const ScoredColumn<T>& a, const ScoredColumn<T>& b) noexcept {
  return a.value > b.value || (a.value == b.value && a.column < b.column);
}

// The k best entries of one row, in no particular order, into out_columns / out_values. `buffer` holds
// `capacity` >= 2k candidates: once full, it is cut back to the k best, whose worst value then
// becomes the bar a later entry must beat, so most of a long row is only compared, 16 at a time.
template <Real T>
void top_k_of_row(const T* row, index_t cols, const std::int32_t* among, index_t among_count, index_t k, ScoredColumn<T>* buffer,
                  index_t capacity, std::int32_t* out_columns, T* out_values) {
  index_t held = 0;
  T bar = -std::numeric_limits<T>::infinity();
  auto offer = [&](T value, std::int32_t column) {
    if (!(value > bar)) return;  // also refuses NaN
    buffer[held++] = {value, column};
    if (held == capacity) {
      std::nth_element(buffer, buffer + (k - 1), buffer + held, ranks_before<T>);
      held = k;
      bar = buffer[k - 1].value;
    }
  };
  if (among == nullptr) {
    simd_for<T>(cols, [&](index_t j, auto step) {
      if (xsimd::any(load(row + j, step) > simd<T>(bar)))
        for (index_t l = 0; l < step.count; ++l) offer(row[j + l], std::int32_t(j + l));
    });
  } else {
    for (index_t a = 0; a < among_count; ++a) offer(row[among[a]], among[a]);
  }
  if (held < k)
    throw value_error("top_k_per_row: a row has only " + std::to_string(held) + " comparable values for k = " + std::to_string(k) +
                      " (NaN pre-activations?)");
  // Not sorted: nothing downstream needs the order, and AuxK's k_aux of a few hundred would
  // spend more time sorting than choosing.
  if (held > k) std::nth_element(buffer, buffer + (k - 1), buffer + held, ranks_before<T>);
  for (index_t i = 0; i < k; ++i) {
    out_columns[i] = buffer[i].column;
    out_values[i] = buffer[i].value;
  }
}

}  // namespace detail

// x: (rows, cols). For each row r, its k largest entries, in no particular order, go to
// out_columns / out_values (rows, k). With `among` (among_count column indices, ascending), only
// those columns compete; k <= among_count (or cols) is required.
template <Real T>
void top_k_per_row(const T* x, index_t rows, index_t cols, index_t k, const std::int32_t* among, index_t among_count,
                   std::int32_t* out_columns, T* out_values) {
  detail::require_extents("top_k_per_row", rows, cols);
  const index_t candidates = among != nullptr ? among_count : cols;
  if (k < 1 || k > candidates)
    throw value_error("top_k_per_row: k = " + std::to_string(k) + " must be in [1, " + std::to_string(candidates) + "]");
  const index_t capacity = std::max<index_t>(2 * k, k + 64);
  parallel_for_rows(rows, among != nullptr ? among_count : cols, 2, [&](index_t r) {
    const std::span<ScoredColumn<T>> buffer = thread_scratch<ScoredColumn<T>>(scratch_slot::block, std::size_t(capacity));
    detail::top_k_of_row(x + r * cols, cols, among, among_count, k, buffer.data(), capacity, out_columns + r * k, out_values + r * k);
  });
}

namespace detail {

// Positive floats order like their bit patterns read as unsigned integers; the 16 bits below
// the sign bit (exponent and the top mantissa bits) sort them into 65536 buckets, each 2^-7
// (float) wide in relative terms.
template <Real T>
using float_bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
inline constexpr index_t radix_buckets = index_t(1) << 16;

template <Real T>
RANKLENS_ALWAYS_INLINE std::uint32_t radix_bucket(T positive) noexcept {
  return std::uint32_t(std::bit_cast<float_bits<T>>(positive) >> (8 * sizeof(T) - 17));
}

}  // namespace detail

// The count-th largest of the positive entries of x[0, n) (count >= 1): BatchTopK keeps the
// entries >= this value. With fewer than `count` positive entries, the smallest positive one
// (every positive entry is kept); with none, +infinity (nothing is kept).
//
// Two passes: a histogram of radix buckets (per block of the input, added up), which names the
// bucket that holds the threshold, then a pass collecting that bucket's values, among which
// nth_element finds it exactly.
template <Real T>
T kth_largest_positive(const T* x, index_t n, index_t count) {
  if (n < 0 || count < 1)
    throw value_error("kth_largest_positive: need n >= 0 and count >= 1, got n = " + std::to_string(n) + ", count = " + std::to_string(count));
  constexpr index_t buckets = detail::radix_buckets;
  const index_t blocks = std::clamp<index_t>((n + (index_t(1) << 18) - 1) >> 18, 1, 16);
  const std::span<std::uint32_t> histograms = thread_scratch<std::uint32_t>(scratch_slot::partial_sums, std::size_t(blocks * buckets));
  auto block_begin = [&](index_t b) { return n * b / blocks; };
  parallel_for(blocks, 1, [&](index_t first, index_t last) {
    for (index_t b = first; b < last; ++b) {
      std::uint32_t* h = histograms.data() + b * buckets;
      std::fill(h, h + buckets, 0u);
      const T* p = x + block_begin(b);
      const index_t len = block_begin(b + 1) - block_begin(b);
      simd_for<T>(len, [&](index_t i, auto step) {
        if (xsimd::any(load(p + i, step) > simd<T>(T(0))))
          for (index_t l = 0; l < step.count; ++l)
            if (p[i + l] > T(0)) ++h[detail::radix_bucket(p[i + l])];
      });
    }
  });
  // The bucket holding the threshold, scanning from the largest values down.
  index_t above = 0, chosen = -1, lowest = -1;
  for (index_t key = buckets - 1; key >= 0; --key) {
    index_t in_bucket = 0;
    for (index_t b = 0; b < blocks; ++b) in_bucket += histograms[std::size_t(b * buckets + key)];
    if (in_bucket == 0) continue;
    lowest = key;
    if (above + in_bucket >= count) {
      chosen = key;
      break;
    }
    above += in_bucket;
  }
  if (lowest < 0) return std::numeric_limits<T>::infinity();
  if (chosen < 0) {  // fewer positive entries than count: all of them
    chosen = lowest;
  }
  std::vector<index_t> offsets(static_cast<std::size_t>(blocks + 1), 0);
  for (index_t b = 0; b < blocks; ++b)
    offsets[std::size_t(b + 1)] = offsets[std::size_t(b)] + histograms[std::size_t(b * buckets + chosen)];
  const index_t in_chosen = offsets[std::size_t(blocks)];
  const index_t need = std::min(count - above, in_chosen);
  std::vector<T> candidates(static_cast<std::size_t>(in_chosen));
  parallel_for(blocks, 1, [&](index_t first, index_t last) {
    for (index_t b = first; b < last; ++b) {
      T* out = candidates.data() + offsets[std::size_t(b)];
      const T* p = x + block_begin(b);
      const index_t len = block_begin(b + 1) - block_begin(b);
      for (index_t i = 0; i < len; ++i)
        if (p[i] > T(0) && detail::radix_bucket(p[i]) == std::uint32_t(chosen)) *out++ = p[i];
    }
  });
  std::nth_element(candidates.begin(), candidates.begin() + (need - 1), candidates.end(), std::greater<T>());
  return candidates[std::size_t(need - 1)];
}

// Predicates for count_kept / gather_kept: any(v, j, step) says whether some lane of the vector
// at column j may be kept (a cheap filter), keeps(value, j) decides one entry.
template <Real T>
struct KeepAtLeast {  // x >= tau, with tau > 0 (BatchTopK)
  T tau;
  RANKLENS_ALWAYS_INLINE bool any(const simd<T>& v, index_t, auto) const { return xsimd::any(v >= simd<T>(tau)); }
  RANKLENS_ALWAYS_INLINE bool keeps(T value, index_t) const { return value >= tau && value > T(0); }
};
template <Real T>
struct KeepAboveColumnThreshold {  // x > max(θ_j, 0) (JumpReLU: SAELens keeps relu(x) where x > θ_j)
  const T* threshold;
  RANKLENS_ALWAYS_INLINE bool any(const simd<T>& v, index_t j, auto step) const {
    return xsimd::any(v > xsimd::max(load(threshold + j, step), simd<T>(T(0))));
  }
  RANKLENS_ALWAYS_INLINE bool keeps(T value, index_t j) const { return value > threshold[j] && value > T(0); }
};

namespace detail {

template <Real T, class Keep, class Visit>
RANKLENS_ALWAYS_INLINE void for_each_kept(const T* row, index_t cols, const Keep& keep, Visit&& visit) {
  simd_for<T>(cols, [&](index_t j, auto step) {
    if (keep.any(load(row + j, step), j, step))
      for (index_t l = 0; l < step.count; ++l)
        if (keep.keeps(row[j + l], j + l)) visit(j + l, row[j + l]);
  });
}

}  // namespace detail

// x: (rows, cols). Counts the kept entries of each row into row_offsets as compressed-row
// offsets (row_offsets[0] = 0, row_offsets[r + 1] − row_offsets[r] = kept in row r; rows + 1
// entries) and returns the total.
template <Real T, class Keep>
index_t count_kept(const T* x, index_t rows, index_t cols, const Keep& keep, index_t* row_offsets) {
  detail::require_extents("count_kept", rows, cols);
  row_offsets[0] = 0;
  parallel_for_rows(rows, cols, 1, [&](index_t r) {
    index_t kept = 0;
    detail::for_each_kept(x + r * cols, cols, keep, [&](index_t, T) { ++kept; });
    row_offsets[r + 1] = kept;
  });
  for (index_t r = 0; r < rows; ++r) row_offsets[r + 1] += row_offsets[r];
  return row_offsets[rows];
}

// Writes the entries count_kept counted, row by row in column order, as columns and values.
template <Real T, class Keep>
void gather_kept(const T* x, index_t rows, index_t cols, const Keep& keep, const index_t* row_offsets, std::int32_t* columns,
                 T* values) {
  detail::require_extents("gather_kept", rows, cols);
  parallel_for_rows(rows, cols, 1, [&](index_t r) {
    index_t e = row_offsets[r];
    detail::for_each_kept(x + r * cols, cols, keep, [&](index_t j, T value) {
      columns[e] = std::int32_t(j);
      values[e] = value;
      ++e;
    });
  });
}

}  // namespace ranklens::cpu
