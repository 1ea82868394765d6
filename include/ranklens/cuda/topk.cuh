// TopK per row, the activation of a TopK sparse autoencoder (Gao et al. 2024): the k largest of
// each row of x: (rows, cols), with their column indices, largest first. Among equal values the
// smaller index comes first, and NaN counts as the largest value (torch.topk's order), so the
// selection is one total order and the result is unique. The backward scatters the values'
// gradients back to the columns they came from.
//
// One block per row: each thread keeps the best of its own columns; k rounds each take the
// block's best (numeric.cuh's group_first) and let only the thread that owned it rescan its
// columns for the next one after it in the order. No CPU kernel of this name exists yet; the
// tests compare with a plain sort.
#pragma once
#include <cstdint>
#include <string>

#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

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
