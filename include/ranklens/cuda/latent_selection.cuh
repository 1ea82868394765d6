// Choosing a sparse autoencoder's active latents on the GPU: the twins of cpu/latent_selection.hpp,
// with the same contracts except that every array (x, among, thresholds, row_offsets, columns,
// values) is in device memory. The compressed-row pattern they write stays on the device; only
// entry counts come back to the host (each such function waits for the stream once or a few times).
//
//   top_k_per_row           topk_rows (topk.cuh), after gathering the `among` columns when given;
//                           the k entries of a row come largest first (the CPU's in no order).
//   batch_top_k             the count largest positive entries of the whole matrix and every entry
//                           tied with the smallest: its value found by a radix select over the
//                           entries' bits (four passes of 256-bin histograms; a positive float's
//                           bits order as the float does), then counted and gathered per row.
//   count/gather_above_threshold
//                           x > max(θ_j, 0), counted per row, then gathered per row in column order.
//
// Row offsets are prefix sums of per-row counts, taken on the host (rows + 1 numbers each way):
// the host needs the total anyway, to size the entries. NaN is never kept by the threshold rules
// and BatchTopK, as on the CPU; top_k_per_row ranks NaN above every number (topk.cuh's order,
// torch.topk's), as the CPU does: a NaN pre-activation makes the loss NaN on either device.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ranklens/cuda/device_buffer.hpp"
#include "ranklens/cuda/topk.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int selection_threads = 256;

// A positive value's bits, which order as the value does; 0 for everything not positive (NaN too).
__device__ __forceinline__ std::uint32_t positive_key(float x) { return x > 0.0f ? std::uint32_t(__float_as_int(x)) : 0u; }

// Keeps x >= the value whose positive_key is `key` (key > 0).
struct keep_at_least_key {
  std::uint32_t key;
  __device__ bool operator()(float x, index_t) const { return positive_key(x) >= key; }
};

// Keeps x > max(θ_j, 0).
template <class T>
struct keep_above_threshold {
  const T* thresholds;
  __device__ bool operator()(float x, index_t j) const {
    const float theta = to_float(thresholds[j]);
    return x > (theta > 0.0f ? theta : 0.0f);
  }
};

// hist[b] += entries whose key has byte `shift / 8` equal to b and agrees with `prefix` on the
// bytes above it (the radix select's pass), over x[0, n).
template <class T>
__global__ void __launch_bounds__(selection_threads)
    key_histogram_kernel(const T* x, index_t n, std::uint32_t prefix, int shift, unsigned long long* hist) {
  __shared__ unsigned counts[256];
  for (int b = int(threadIdx.x); b < 256; b += selection_threads) counts[b] = 0;
  __syncthreads();
  const std::uint32_t above_mask = shift >= 24 ? 0u : ~0u << (shift + 8);
  for (index_t i = index_t(blockIdx.x) * selection_threads + threadIdx.x; i < n; i += index_t(gridDim.x) * selection_threads) {
    const std::uint32_t key = positive_key(to_float(x[i]));
    if (key != 0u && (key & above_mask) == (prefix & above_mask)) atomicAdd(&counts[(key >> shift) & 0xffu], 1u);
  }
  __syncthreads();
  for (int b = int(threadIdx.x); b < 256; b += selection_threads)
    if (counts[b] != 0u) atomicAdd(&hist[b], (unsigned long long)counts[b]);
}

// counts[r] = the entries of row r that keep() keeps; one block per row.
template <class T, class Keep>
__global__ void __launch_bounds__(selection_threads) count_kept_kernel(const T* x, index_t cols, Keep keep, index_t* counts) {
  const index_t r = blockIdx.x;
  int mine = 0;
  for (index_t j = threadIdx.x; j < cols; j += selection_threads) mine += keep(to_float(x[r * cols + j]), j) ? 1 : 0;
  const int total = int(group_sum<selection_threads>(float(mine)));  // exact: rows of fewer than 2^24 columns
  if (threadIdx.x == 0) counts[r] = total;
}

// The kept entries of row r at [row_offsets[r], row_offsets[r + 1]), in column order: each chunk
// of 256 columns is compacted by warp ballots and the warps' counts.
template <class T, class Keep>
__global__ void __launch_bounds__(selection_threads)
    gather_kept_kernel(const T* x, index_t cols, Keep keep, const index_t* row_offsets, std::int32_t* columns, T* values) {
  constexpr int warps = selection_threads / 32;
  __shared__ int warp_counts[warps];
  const index_t r = blockIdx.x;
  const int t = int(threadIdx.x), lane = t % 32, warp = t / 32;
  index_t base = row_offsets[r];
  for (index_t start = 0; start < cols; start += selection_threads) {
    const index_t j = start + t;
    const bool kept = j < cols && keep(to_float(x[r * cols + j]), j);
    const unsigned ballot = __ballot_sync(full_warp, kept);
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int before = __popc(ballot & ((1u << lane) - 1u)), chunk = 0;
    for (int w = 0; w < warps; ++w) {
      before += w < warp ? warp_counts[w] : 0;
      chunk += warp_counts[w];
    }
    if (kept) {
      columns[base + before] = std::int32_t(j);
      values[base + before] = x[r * cols + j];
    }
    base += chunk;
    __syncthreads();  // warp_counts is rewritten by the next chunk
  }
}

// columns[i] = among[columns[i]] (topk over the gathered candidates named their positions).
struct map_through_among {
  std::int32_t* columns;
  const std::int32_t* among;
  __device__ std::int32_t load(index_t i) const { return among[columns[i]]; }
  __device__ void store(index_t i, std::int32_t v) const { columns[i] = v; }
};

// out[r, c] = x[r, among[c]]: (rows, among_count).
template <class T>
struct gather_columns_map {
  const T* x;
  const std::int32_t* among;
  T* out;
  index_t cols, among_count;
  __device__ T load(index_t i) const { return x[(i / among_count) * cols + among[i % among_count]]; }
  __device__ void store(index_t i, T v) const { out[i] = v; }
};

// Per-row counts (device) to compressed-row offsets (device) through the host; returns the total.
inline index_t offsets_from_counts(const index_t* counts, index_t* row_offsets, index_t rows) {
  std::vector<index_t> offsets(static_cast<std::size_t>(rows + 1), 0);
  if (rows > 0) copy_to_host(offsets.data() + 1, counts, rows);
  for (index_t r = 0; r < rows; ++r) offsets[std::size_t(r + 1)] += offsets[std::size_t(r)];
  copy_to_device(row_offsets, offsets.data(), rows + 1);
  return offsets[std::size_t(rows)];
}

template <class T, class Keep>
index_t count_kept(const char* name, const T* x, index_t rows, index_t cols, const Keep& keep, index_t* row_offsets) {
  require_extents(name, rows, cols);
  require(cols < (index_t(1) << 24), name, "rows of 2^24 columns or more");
  device_buffer<index_t> counts(std::max<index_t>(rows, 1));
  launch(name, count_kept_kernel<T, Keep>, launch_shape{dim3(unsigned(rows)), dim3(selection_threads)}, x, cols, keep, counts.data());
  return offsets_from_counts(counts.data(), row_offsets, rows);
}

template <class T, class Keep>
void gather_kept(const char* name, const T* x, index_t rows, index_t cols, const Keep& keep, const index_t* row_offsets, std::int32_t* columns,
                 T* values) {
  launch(name, gather_kept_kernel<T, Keep>, launch_shape{dim3(unsigned(rows)), dim3(selection_threads)}, x, cols, keep, row_offsets, columns,
         values);
}

// The positive_key of the count-th largest positive entry of x[0, n), count >= 1; 0 when x has
// no positive entry; the smallest positive one's when it has fewer than count.
template <class T>
std::uint32_t kth_largest_positive_key(const T* x, index_t n, index_t count) {
  device_buffer<unsigned long long> hist(256);
  const unsigned blocks = unsigned(std::min<index_t>(std::max<index_t>((n + selection_threads - 1) / selection_threads, 1), 1024));
  std::uint32_t prefix = 0;
  index_t wanted = count;  // among the entries that agree with prefix so far
  std::vector<unsigned long long> counts(256);
  for (int shift = 24; shift >= 0; shift -= 8) {
    device_memory<cuda_t>::zero(hist.data(), sizeof(unsigned long long) * 256);
    launch("cuda::batch_top_k (histogram)", key_histogram_kernel<T>, launch_shape{dim3(blocks), dim3(selection_threads)}, x, n, prefix, shift,
           hist.data());
    copy_to_host(counts.data(), hist.data(), 256);
    if (shift == 24) {
      index_t positive = 0;
      for (const auto c : counts) positive += index_t(c);
      if (positive == 0) return 0u;
      wanted = std::min(wanted, positive);
    }
    // The byte b, from the top, at which the entries counted so far reach `wanted`.
    int b = 255;
    for (;; --b) {
      if (index_t(counts[std::size_t(b)]) >= wanted || b == 0) break;
      wanted -= index_t(counts[std::size_t(b)]);
    }
    prefix |= std::uint32_t(b) << shift;
  }
  return prefix;
}

}  // namespace detail

// The twin of cpu::top_k_per_row: out_columns / out_values (rows, k), each row's largest first.
// among: among_count ascending column indices in device memory, or nullptr for all columns.
template <DeviceReal T>
void top_k_per_row(const T* x, index_t rows, index_t cols, index_t k, const std::int32_t* among, index_t among_count, std::int32_t* out_columns,
                   T* out_values) {
  detail::require_extents("cuda::top_k_per_row", rows, cols);
  const index_t candidates = among != nullptr ? among_count : cols;
  if (k < 1 || k > candidates)
    throw value_error("cuda::top_k_per_row: k = " + std::to_string(k) + " must be in [1, " + std::to_string(candidates) + "]");
  if (rows == 0) return;
  if (among == nullptr) return topk_rows(x, out_values, out_columns, rows, cols, k);
  device_buffer<T> gathered(rows * among_count);
  map("cuda::top_k_per_row (gather)", rows * among_count, detail::gather_columns_map<T>{x, among, gathered.data(), cols, among_count});
  topk_rows(gathered.data(), out_values, out_columns, rows, among_count, k);
  map("cuda::top_k_per_row (columns)", rows * k, detail::map_through_among{out_columns, among});
}

// The twin of cpu::batch_top_k: row_offsets (rows + 1), then allocate(entries) -> {columns,
// values} (device arrays), filled row by row in column order. Returns the smallest value kept
// (+infinity when none).
template <DeviceReal T, class Allocate>
T batch_top_k(const T* x, index_t rows, index_t cols, index_t count, index_t* row_offsets, Allocate&& allocate) {
  detail::require_extents("cuda::batch_top_k", rows, cols);
  if (count < 1) throw value_error("cuda::batch_top_k: count must be >= 1, got " + std::to_string(count));
  const std::uint32_t key = rows * cols > 0 ? detail::kth_largest_positive_key(x, rows * cols, count) : 0u;
  if (key == 0u) {  // nothing positive: no entries
    std::vector<index_t> zeros(static_cast<std::size_t>(rows + 1), 0);
    copy_to_device(row_offsets, zeros.data(), rows + 1);
    allocate(index_t(0));
    return T(std::numeric_limits<float>::infinity());
  }
  const detail::keep_at_least_key keep{key};
  const index_t entries = detail::count_kept("cuda::batch_top_k (count)", x, rows, cols, keep, row_offsets);
  const auto [columns, values] = allocate(entries);
  detail::gather_kept("cuda::batch_top_k (gather)", x, rows, cols, keep, row_offsets, columns, values);
  return T(std::bit_cast<float>(key));
}

// The twins of cpu::count_above_threshold / gather_above_threshold: x > max(θ_j, 0), thresholds (cols).
template <DeviceReal T>
index_t count_above_threshold(const T* x, index_t rows, index_t cols, const T* thresholds, index_t* row_offsets) {
  return detail::count_kept("cuda::count_above_threshold", x, rows, cols, detail::keep_above_threshold<T>{thresholds}, row_offsets);
}
template <DeviceReal T>
void gather_above_threshold(const T* x, index_t rows, index_t cols, const T* thresholds, const index_t* row_offsets, std::int32_t* columns,
                            T* values) {
  detail::gather_kept("cuda::gather_above_threshold", x, rows, cols, detail::keep_above_threshold<T>{thresholds}, row_offsets, columns, values);
}

}  // namespace ranklens::cuda
