// Choosing the active latents of a sparse autoencoder from its dense pre-activations x: (rows, cols),
// one row per token. Three rules, each a pass or a few over x:
//
//   top_k_per_row        the k largest entries of every row (Gao et al. 2024's TopK), unordered, optionally
//                        among a given list of columns only (AuxK's dead latents);
//   batch_top_k          BatchTopK (Bussmann et al. 2024): the count largest positive entries of
//                        the whole matrix, found in one pass without a sort, as compressed rows;
//   count_kept / gather_kept
//                        every entry a predicate keeps (x > θ_j for the JumpReLU inference
//                        mode), as compressed rows.
//
// Ties: top_k_per_row prefers the lower column among equal values; the threshold rules keep every
// entry equal to the threshold, so identical tokens always get identical codes (torch.topk, which
// SAELens uses, breaks such ties arbitrarily). NaN: top_k_per_row ranks it above every number, as
// torch.topk does and as the device's top_k_per_row does (cuda/topk.cuh), so a NaN pre-activation
// reaches the codes and the loss; the threshold rules never keep it (it is not above a threshold).
#pragma once
#include <algorithm>
#include <cmath>
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

// torch.topk's order: NaN above every number (NaNs among themselves by column), then larger
// values, then the lower column among equal ones.
template <Real T>
RANKLENS_ALWAYS_INLINE bool ranks_before(const ScoredColumn<T>& a, const ScoredColumn<T>& b) noexcept {
  const bool a_nan = std::isnan(a.value), b_nan = std::isnan(b.value);
  if (a_nan || b_nan) return a_nan && (!b_nan || a.column < b.column);
  return a.value > b.value || (a.value == b.value && a.column < b.column);
}

// The k best entries of one row, in no particular order, into out_columns / out_values. `buffer` holds
// `capacity` >= 2k candidates: once full, it is cut back to the k best, whose worst then becomes
// the bar a later entry must beat, so most of a long row is only compared, 16 at a time. Columns
// come in ascending order, so a later entry equal to the bar ranks after it.
template <Real T>
void top_k_of_row(const T* row, index_t cols, const std::int32_t* among, index_t among_count, index_t k, ScoredColumn<T>* buffer,
                  index_t capacity, std::int32_t* out_columns, T* out_values) {
  index_t held = 0;
  bool cut = false;  // before the first cut every entry is held (−∞ and NaN too)
  T bar = -std::numeric_limits<T>::infinity();
  auto offer = [&](T value, std::int32_t column) {
    if (cut && !(std::isnan(value) ? !std::isnan(bar) : value > bar)) return;
    buffer[held++] = {value, column};
    if (held == capacity) {
      std::nth_element(buffer, buffer + (k - 1), buffer + held, ranks_before<T>);
      held = k;
      bar = buffer[k - 1].value;
      cut = true;
    }
  };
  if (among == nullptr) {
    simd_for<T>(cols, [&](index_t j, auto step) {
      const simd<T> v = load(row + j, step);
      if (!cut || xsimd::any((v > simd<T>(bar)) | xsimd::isnan(v)))
        for (index_t l = 0; l < step.count; ++l) offer(row[j + l], std::int32_t(j + l));
    });
  } else {
    for (index_t a = 0; a < among_count; ++a) offer(row[among[a]], among[a]);
  }
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

// Entry `at` (a flat index into x) with its value.
template <Real T>
struct FlatEntry {
  T value;
  index_t at;
};

// Every entry of x[0, n) with value >= bound (and > 0), in index order, gathered by blocks in
// parallel. The filter runs 16 lanes at a time; only the few lanes that pass are looked at.
template <Real T>
std::vector<FlatEntry<T>> entries_at_least(const T* x, index_t n, T bound) {
  const index_t blocks = std::clamp<index_t>((n + (index_t(1) << 16) - 1) >> 16, 1, 64);
  std::vector<std::vector<FlatEntry<T>>> found(static_cast<std::size_t>(blocks));
  const T floor = std::max(bound, std::numeric_limits<T>::denorm_min());  // positive entries only
  parallel_for(blocks, 1, [&](index_t first, index_t last) {
    for (index_t b = first; b < last; ++b) {
      const index_t begin = n * b / blocks, end = n * (b + 1) / blocks;
      auto& out = found[std::size_t(b)];
      simd_for<T>(end - begin, [&](index_t i, auto step) {
        if (xsimd::any(load(x + begin + i, step) >= simd<T>(floor)))
          for (index_t l = 0; l < step.count; ++l)
            if (x[begin + i + l] >= floor) out.push_back({x[begin + i + l], begin + i + l});
      });
    }
  });
  std::size_t total = 0;
  for (const auto& part : found) total += part.size();
  std::vector<FlatEntry<T>> all;
  all.reserve(total);
  for (const auto& part : found) all.insert(all.end(), part.begin(), part.end());
  return all;
}

}  // namespace detail

// BatchTopK (Bussmann et al. 2024): the `count` largest positive entries of the whole matrix x
// (rows, cols), and every entry tied with the smallest of them; all positive entries when there
// are fewer. Writes compressed-row offsets into row_offsets (rows + 1), then calls
// allocate(entries), which returns {columns, values} with room for that many, and fills them row
// by row in column order. Returns the threshold: the smallest value kept (+infinity when none).
//
// One pass over x instead of a sort: a sample of the rows (every 64th) gives a value that lies
// below the threshold by a wide margin; the entries at least that large (about twice `count`)
// are gathered in one vectorised pass, and nth_element finds the threshold among them. If the
// sample misled (fewer than `count` gathered), every positive entry is gathered instead.
template <Real T, class Allocate>
T batch_top_k(const T* x, index_t rows, index_t cols, index_t count, index_t* row_offsets, Allocate&& allocate) {
  detail::require_extents("batch_top_k", rows, cols);
  if (count < 1) throw value_error("batch_top_k: count must be >= 1, got " + std::to_string(count));
  const index_t n = rows * cols;
  T bound = 0;
  {
    constexpr index_t row_stride = 64;
    std::vector<T> sample;
    index_t sampled = 0;
    for (index_t r = 0; r < rows; r += row_stride, sampled += cols)
      for (index_t j = 0; j < cols; ++j)
        if (x[r * cols + j] > T(0)) sample.push_back(x[r * cols + j]);
    // The threshold's expected rank in the sample, from the top, and a rank well below it.
    const double expected = double(count) * double(sampled) / double(std::max<index_t>(n, 1));
    const auto rank = std::size_t(2 * expected + 4 * std::sqrt(expected) + 16);
    if (rank < sample.size()) {
      std::nth_element(sample.begin(), sample.begin() + std::ptrdiff_t(rank), sample.end(), std::greater<T>());
      bound = sample[rank];
    }
  }
  std::vector<detail::FlatEntry<T>> candidates = detail::entries_at_least(x, n, bound);
  if (index_t(candidates.size()) < count && bound > T(0)) candidates = detail::entries_at_least(x, n, T(0));

  T threshold = std::numeric_limits<T>::infinity();
  if (!candidates.empty()) {
    std::vector<T> values(candidates.size());
    for (std::size_t i = 0; i < candidates.size(); ++i) values[i] = candidates[i].value;
    const std::size_t nth = std::size_t(std::min<index_t>(count, index_t(values.size())) - 1);
    std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(nth), values.end(), std::greater<T>());
    threshold = values[nth];
  }
  // The kept entries are the candidates >= threshold, already in row-major order.
  std::fill(row_offsets, row_offsets + rows + 1, index_t(0));
  index_t kept = 0;
  for (const auto& c : candidates)
    if (c.value >= threshold) ++row_offsets[c.at / cols + 1], ++kept;
  for (index_t r = 0; r < rows; ++r) row_offsets[r + 1] += row_offsets[r];
  const auto [columns, values] = allocate(kept);
  index_t e = 0;
  for (const auto& c : candidates)
    if (c.value >= threshold) {
      columns[e] = std::int32_t(c.at % cols);
      values[e] = c.value;
      ++e;
    }
  return threshold;
}

// Predicates for count_kept / gather_kept: any(v, j, step) says whether some lane of the vector
// at column j may be kept (a cheap filter), keeps(value, j) decides one entry.
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

// The two calls above for JumpReLU's rule, x > max(θ_j, 0) with one threshold per column
// (thresholds: (cols)): the forms the switch point offers (backend/sparse.hpp), so that an op
// passes plain arrays and the SIMD predicate stays in this layer.
template <Real T>
index_t count_above_threshold(const T* x, index_t rows, index_t cols, const T* thresholds, index_t* row_offsets) {
  return count_kept(x, rows, cols, KeepAboveColumnThreshold<T>{thresholds}, row_offsets);
}
template <Real T>
void gather_above_threshold(const T* x, index_t rows, index_t cols, const T* thresholds, const index_t* row_offsets,
                            std::int32_t* columns, T* values) {
  gather_kept(x, rows, cols, KeepAboveColumnThreshold<T>{thresholds}, row_offsets, columns, values);
}

}  // namespace ranklens::cpu
