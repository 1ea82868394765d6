// TopK per row, the activation of a TopK sparse autoencoder (Gao et al. 2024): the k largest of
// each row of x: (rows, cols), with their column indices, largest first. Among equal values the
// smaller index comes first, and NaN counts as the largest value (torch.topk's order), so the
// selection is one total order and the result is unique. The backward scatters the values'
// gradients back to the columns they came from.
//
// One block of 512 threads per row, the row held in registers (column j·512 + t in thread t), each
// value turned into an unsigned key whose order is the selection's (NaN largest, −0 as +0):
//   1. A threshold from the threads' own maxima: the k-th largest of the 512 maxima (found bit by
//      bit with block-wide counts) is at most the row's k-th largest, since k distinct elements
//      reach it; without many ties, usually not many more than k elements do.
//   2. The elements at or above it go to a list in shared memory, each as (key, inverted index) in
//      64 bits, one strict order; each finds its rank by counting the list's larger entries, and
//      the first k are written in order.
//   3. When the list would overflow (many ties, or the largest elements all in one thread's
//      columns), the exact k-th largest key is found bit by bit over the whole row, then the index
//      that completes k among the elements equal to it, and exactly k elements enter the list.
// Rows of more than 32768 columns and k above 256 take a plain kernel (k rounds of a block-wide
// maximum). No CPU kernel of this name exists yet; the tests compare with a plain sort.
#pragma once
#include <cstdint>
#include <string>

#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

// ---- The selection kernel (see the top of this file) -------------------------------------------

inline constexpr int select_threads = 512;
inline constexpr int select_max_k = 256;
inline constexpr int select_list = 2048;  // entries of the candidate list

// An unsigned key in the selection's order: NaN above +∞, −0 equal to +0, absent columns (0) below −∞.
__device__ __forceinline__ std::uint32_t order_key(float x) {
  if (is_nan(x)) return 0xffffffffu;
  const std::uint32_t bits = std::uint32_t(__float_as_int(x == 0.0f ? 0.0f : x));
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}
// Larger entries come first: the key, then the smaller column.
__device__ __forceinline__ std::uint64_t list_entry(std::uint32_t key, int column) {
  return (std::uint64_t(key) << 32) | std::uint64_t(~std::uint32_t(column));
}
__device__ __forceinline__ int entry_column(std::uint64_t entry) { return int(~std::uint32_t(entry & 0xffffffffu)); }

// The largest v (built bit by bit from the top) with at_least(v) true, at_least falling in v.
template <class AtLeast>
__device__ __forceinline__ std::uint32_t largest_with(AtLeast at_least) {
  std::uint32_t v = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const std::uint32_t trial = v | (1u << bit);
    if (at_least(trial)) v = trial;
  }
  return v;
}

template <class T, int Items>
__global__ void __launch_bounds__(select_threads) topk_select_kernel(const T* x, T* values, std::int32_t* indices, index_t cols, int k) {
  __shared__ std::uint64_t list[select_list];
  __shared__ int list_size;
  const index_t r = blockIdx.x;
  const T* row = x + r * cols;
  const int t = int(threadIdx.x);

  std::uint32_t keys[Items];
#pragma unroll
  for (int j = 0; j < Items; ++j) {
    const index_t column = index_t(j) * select_threads + t;
    keys[j] = column < cols ? order_key(to_float(row[column])) : 0u;
  }
  if (t == 0) list_size = 0;
  std::uint32_t best = 0;
#pragma unroll
  for (int j = 0; j < Items; ++j) best = keys[j] > best ? keys[j] : best;

  // 1. The k-th largest of the threads' maxima.
  const std::uint32_t threshold = largest_with([&](std::uint32_t v) { return __syncthreads_count(best >= v) >= k; });
  // 2. Everything at or above it into the list.
#pragma unroll
  for (int j = 0; j < Items; ++j)
    if (keys[j] >= threshold && keys[j] != 0u) {
      const int slot = atomicAdd(&list_size, 1);
      if (slot < select_list) list[slot] = list_entry(keys[j], j * select_threads + t);
    }
  __syncthreads();
  if (list_size > select_list) {  // 3. Exactly k entries instead.
    __syncthreads();              // every thread has read list_size
    if (t == 0) list_size = 0;
    auto count_where = [&](auto predicate) {
      int mine = 0;
#pragma unroll
      for (int j = 0; j < Items; ++j) mine += predicate(keys[j], j * select_threads + t) ? 1 : 0;
      return int(group_sum<select_threads>(float(mine)));  // exact: at most 32768
    };
    const std::uint32_t kth = largest_with([&](std::uint32_t v) { return count_where([&](std::uint32_t key, int) { return key >= v; }) >= k; });
    const int above = count_where([&](std::uint32_t key, int) { return key > kth; });
    // The last column equal to kth that is taken: the (k − above)-th such column.
    const int wanted = k - above;
    const std::uint32_t last = largest_with([&](std::uint32_t v) {
      return count_where([&](std::uint32_t key, int column) { return key == kth && std::uint32_t(column) < v; }) < wanted;
    });
#pragma unroll
    for (int j = 0; j < Items; ++j) {
      const int column = j * select_threads + t;
      if (keys[j] > kth || (keys[j] == kth && std::uint32_t(column) <= last)) list[atomicAdd(&list_size, 1)] = list_entry(keys[j], column);
    }
    __syncthreads();
  }
  // Ranks by counting: the list is short (about k entries for rows without many ties).
  const int size = list_size < select_list ? list_size : select_list;
  for (int i = t; i < size; i += select_threads) {
    const std::uint64_t mine = list[i];
    int rank = 0;
    for (int j = 0; j < size; ++j) rank += list[j] > mine ? 1 : 0;
    if (rank < k) {
      const int column = entry_column(mine);
      values[r * k + rank] = row[column];
      indices[r * k + rank] = std::int32_t(column);
    }
  }
}

template <class T>
void launch_topk_select(const T* x, T* values, std::int32_t* indices, index_t rows, index_t cols, index_t k) {
  auto run = [&]<int Items>() {
    launch("cuda::topk_rows", topk_select_kernel<T, Items>, launch_shape{dim3(unsigned(rows)), dim3(select_threads)}, x, values, indices,
           cols, int(k));
  };
  const index_t items = (cols + select_threads - 1) / select_threads;
  if (items <= 4) return run.template operator()<4>();
  if (items <= 8) return run.template operator()<8>();
  if (items <= 16) return run.template operator()<16>();
  if (items <= 24) return run.template operator()<24>();
  if (items <= 36) return run.template operator()<36>();
  if (items <= 48) return run.template operator()<48>();
  return run.template operator()<64>();
}

// ---- The plain kernel, for very wide rows and large k -------------------------------------------

inline constexpr int topk_threads = 256;

template <class T>
__device__ value_and_index best_after(const T* row, index_t cols, int start, value_and_index after, bool any) {
  value_and_index best;
  for (index_t j = start; j < cols; j += topk_threads) {
    const value_and_index candidate{to_float(row[j]), int(j)};
    if ((!any || comes_first(after, candidate)) && comes_first(candidate, best)) best = candidate;
  }
  return best;
}

template <class T>
__global__ void __launch_bounds__(topk_threads) topk_kernel(const T* x, T* values, std::int32_t* indices, index_t cols, int k) {
  const index_t r = blockIdx.x;
  const T* row = x + r * cols;
  const int t = int(threadIdx.x);
  value_and_index mine = best_after(row, cols, t, value_and_index{}, false);
  for (int round = 0; round < k; ++round) {
    const value_and_index winner = group_first<topk_threads>(mine);
    if (t == 0) {
      values[r * k + round] = row[winner.index];
      indices[r * k + round] = std::int32_t(winner.index);
    }
    if (winner.index % topk_threads == t) mine = best_after(row, cols, t, winner, true);
  }
}

template <class T>
struct topk_scatter_map {
  const std::int32_t* indices;
  const T* gvalues;
  T* gx;
  index_t cols, k;
  __device__ float load(index_t i) const { return to_float(gvalues[i]); }
  __device__ void store(index_t i, float g) const {
    T& target = gx[(i / k) * cols + indices[i]];
    target = from_float<T>(to_float(target) + g);
  }
};

}  // namespace detail

// values[r, :] and indices[r, :]: the k largest of x[r, :], largest first.
// x: (rows, cols); values, indices: (rows, k); 1 ≤ k ≤ cols.
template <DeviceReal T>
void topk_rows(const T* x, T* values, std::int32_t* indices, index_t rows, index_t cols, index_t k) {
  detail::require_extents("cuda::topk_rows", rows, cols);
  if (k < 1 || k > cols || cols > INT32_MAX)
    throw shape_error("cuda::topk_rows: k = " + std::to_string(k) + " is outside [1, cols = " + std::to_string(cols) + "]");
  if (rows == 0) return;
  if (k <= detail::select_max_k && cols <= 64 * detail::select_threads) return detail::launch_topk_select(x, values, indices, rows, cols, k);
  launch("cuda::topk_rows", detail::topk_kernel<T>, launch_shape{dim3(unsigned(rows)), dim3(detail::topk_threads)}, x, values, indices, cols,
         int(k));
}

// gx[r, indices[r, j]] += gvalues[r, j]; with mode store, gx's other elements are zeroed first.
// indices, gvalues: (rows, k) from topk_rows (distinct within a row); gx: (rows, cols).
template <DeviceReal T>
void topk_backward(const std::int32_t* indices, const T* gvalues, T* gx, index_t rows, index_t cols, index_t k,
                   grad_write mode = grad_write::add) {
  detail::require_extents("cuda::topk_backward", rows, cols);
  if (mode == grad_write::store) fill(gx, T(0.0f), rows * cols);
  map("cuda::topk_backward", rows * k, detail::topk_scatter_map<T>{indices, gvalues, gx, cols, k});
}

}  // namespace ranklens::cuda
