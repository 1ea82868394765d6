// Cross-entropy from logits, fused, the twin of cpu/cross_entropy.hpp: the forward keeps one
// log-sum-exp per row (found in one pass over the logits with an online max and sum, as in
// FlashAttention), the backward recomputes softmax(logits) = exp(logits − logsumexp) in the pass
// that writes the gradient.
//
//   loss[r] = logsumexp(logits[r, :]) − logits[r, target[r]]
//   d loss[r] / d logits[r, :] = softmax(logits[r, :]) − onehot(target[r])
//
// Rows whose target is ignore_index have loss 0 and no gradient. cross_entropy_forward checks the
// targets on the device and copies one count back, so that, as on the CPU, it can return the
// number of rows used and refuse a target outside [0, vocab) by name; that copy waits for the
// device, so while the stream is captured into a graph (graph.hpp) it is skipped (the count is
// then -1). cross_entropy_scale gives a reduced loss its factor without waiting: in device
// memory, NaN when a target is bad, so a captured step with such a target ends in a NaN loss
// instead of an error. The backward does not check again (a row with such a target gets no
// gradient).
#pragma once
#include <climits>
#include <cstdint>
#include <string>

#include "ranklens/cpu/cross_entropy_args.hpp"
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

using cpu::default_ignore_index;

namespace detail {

// status[0] = rows used, status[1] = the first row with a bad target (INT_MAX if none).
template <class Index>
__global__ void count_targets_kernel(const std::int32_t* targets, Index rows, Index vocab, std::int32_t ignore_index, int* status) {
  for (Index r = Index(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += Index(gridDim.x) * blockDim.x) {
    const std::int32_t target = targets[r];
    if (target == ignore_index) continue;
    if (target < 0 || target >= vocab)
      atomicMin(status + 1, int(r));
    else
      atomicAdd(status, 1);
  }
}

template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    cross_entropy_forward_kernel(const T* logits, const std::int32_t* targets, T* loss, float* logsumexp, index_t rows, index_t vocab,
                                 std::int32_t ignore_index) {
  const row_group<Threads> g(rows);
  const std::int32_t target = targets[g.row];
  const bool used = target != ignore_index && target >= 0 && target < vocab;
  const T* xr = logits + g.row * vocab;
  max_and_sum parts;
  if (used)  // uniform over the group: the whole group has one row
    for (index_t j = g.lane; j < vocab; j += Threads) parts = push(parts, to_float(xr[j]));
  parts = group_merge<Threads>(parts);
  if (!g.valid || g.lane != 0) return;
  const float log_sum = logf(parts.sum);
  loss[g.row] = from_float<T>(used ? (parts.max - to_float(xr[target])) + log_sum : 0.0f);
  if (logsumexp) logsumexp[g.row] = used ? parts.max + log_sum : 0.0f;
}

template <int Threads, class T>
__global__ void __launch_bounds__(row_group<Threads>::block_threads)
    cross_entropy_backward_kernel(const T* logits, const std::int32_t* targets, const float* logsumexp, const T* grad_loss, index_t grad_stride,
                                  const T* grad_factor, float scale, T* glogits, index_t rows, index_t vocab, std::int32_t ignore_index) {
  const row_group<Threads> g(rows);
  const std::int32_t target = targets[g.row];
  if (!g.valid || target == ignore_index || target < 0 || target >= vocab) return;
  float row_grad = grad_loss != nullptr ? to_float(grad_loss[g.row * grad_stride]) : 1.0f;
  if (grad_factor != nullptr) row_grad = to_float(from_float<T>(row_grad * to_float(*grad_factor)));  // rounded to T, as a product of Ts
  const float weight = scale * row_grad;
  const float lse = logsumexp[g.row];
  const T* xr = logits + g.row * vocab;
  T* gr = glogits + g.row * vocab;
  for (index_t j = g.lane; j < vocab; j += Threads) {
    float v = fmaf(weight, expf(to_float(xr[j]) - lse), to_float(gr[j]));
    if (j == target) v -= weight;
    gr[j] = from_float<T>(v);
  }
}

// One block counts the rows (a few thousand ints) and one thread writes the factor.
template <class T>
__global__ void cross_entropy_scale_kernel(const std::int32_t* targets, index_t rows, index_t vocab, std::int32_t ignore_index, bool mean,
                                           T* scale) {
  __shared__ int block_used, block_bad;
  if (threadIdx.x == 0) {
    block_used = 0;
    block_bad = 0;
  }
  __syncthreads();
  int used = 0, bad = 0;
  for (index_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const std::int32_t target = targets[r];
    if (target == ignore_index) continue;
    if (target < 0 || target >= vocab)
      ++bad;
    else
      ++used;
  }
  atomicAdd(&block_used, used);
  atomicAdd(&block_bad, bad);
  __syncthreads();
  if (threadIdx.x != 0) return;
  const float nan = __int_as_float(0x7fc00000);
  scale[0] = from_float<T>(block_bad > 0 ? nan : !mean ? 1.0f : block_used > 0 ? __fdiv_rn(1.0f, float(block_used)) : nan);
}

}  // namespace detail

// result[0] = the rows not ignored; throws value_error naming the first bad target. Waits for the
// device (a copy of two counts).
inline void check_targets(const std::int32_t* targets, index_t rows, index_t vocab, std::int32_t ignore_index, int* result) {
  device_buffer<int> status(2);
  const int initial[2] = {0, INT_MAX};
  copy_to_device(status.data(), initial, 2);
  launch("cuda::cross_entropy_forward (targets)", detail::count_targets_kernel<index_t>, launch_shape{dim3(std::min<unsigned>(blocks_for(rows, 256), 1024u)), dim3(256)},
         targets, rows, vocab, ignore_index, status.data());
  copy_to_host(result, status.data(), 2);
  if (result[1] != INT_MAX) {
    std::int32_t target = 0;
    copy_to_host(&target, targets + result[1], 1);
    throw value_error("cuda::cross_entropy_forward: target[" + std::to_string(result[1]) + "] = " + std::to_string(target) +
                      " is outside [0, " + std::to_string(vocab) + ") and is not ignore_index (" + std::to_string(ignore_index) + ")");
  }
}

// loss[r] = logsumexp(logits[r]) − logits[r, targets[r]] (0 for ignored rows), and logsumexp[r]
// saved for the backward (float; 0 for ignored rows; may be nullptr). Returns the number of rows
// not ignored; throws value_error naming the first target outside [0, vocab) that is not
// ignore_index. While the stream is captured, checks nothing and returns -1.
// logits: (rows, vocab); targets, loss, logsumexp: (rows)
template <DeviceReal T>
index_t cross_entropy_forward(const T* logits, const std::int32_t* targets, T* loss, optional_out<float> logsumexp, index_t rows,
                              index_t vocab, std::int32_t ignore_index = default_ignore_index) {
  detail::require_extents("cuda::cross_entropy_forward", rows, vocab);
  if (rows == 0) return 0;
  const bool capturing = runtime::is_capturing(current_stream());
  int result[2] = {-1, INT_MAX};
  if (!capturing) check_targets(targets, rows, vocab, ignore_index, result);
  if (vocab > 0)
    detail::with_row_threads(vocab, [&]<int Threads>() {
      launch("cuda::cross_entropy_forward", detail::cross_entropy_forward_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), logits,
             targets, loss, logsumexp, rows, vocab, ignore_index);
    });
  return index_t(result[0]);
}

// scale[0] = 1 / (rows not ignored) for a mean (NaN when none is), 1 for a sum, NaN for either
// when a target is outside [0, vocab) and not ignore_index (the twin of cpu::cross_entropy_scale).
// On the device, no waiting: usable while a graph captures. targets: (rows); scale: (1)
template <DeviceReal T>
void cross_entropy_scale(const std::int32_t* targets, index_t rows, index_t vocab, std::int32_t ignore_index, bool mean, T* scale) {
  detail::require_extents("cuda::cross_entropy_scale", rows, vocab);
  launch("cuda::cross_entropy_scale", detail::cross_entropy_scale_kernel<T>, launch_shape{dim3(1), dim3(1024)}, targets, rows, vocab,
         ignore_index, mean, scale);
}

// glogits[r, :] += scale · g[r] · (softmax(logits[r, :]) − onehot(targets[r])) for the rows not
// ignored, where g[r] = grad_loss[r], or 1 when grad_loss is nullptr (a reduced loss: scale =
// 1 / count for the mean). logits, glogits: (rows, vocab); targets, logsumexp, grad_loss: (rows)
template <DeviceReal T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const float* logsumexp, optional_in<T> grad_loss, float scale,
                            T* glogits, index_t rows, index_t vocab, std::int32_t ignore_index = default_ignore_index) {
  detail::require_extents("cuda::cross_entropy_backward", rows, vocab);
  if (rows == 0 || vocab == 0) return;
  detail::with_row_threads(vocab, [&]<int Threads>() {
    launch("cuda::cross_entropy_backward", detail::cross_entropy_backward_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), logits,
           targets, logsumexp, grad_loss, index_t(1), static_cast<const T*>(nullptr), scale, glogits, rows, vocab, ignore_index);
  });
}

// The backward of a reduced loss in one launch: as cross_entropy_backward with every row's g =
// grad_loss[0] · scale[0] (the loss's gradient and the reduction's factor, both in device memory,
// their product rounded to T), where a multiply, a fill and a broadcast would launch three more.
// logits, glogits: (rows, vocab); targets, logsumexp: (rows); grad_loss, scale: (1)
template <DeviceReal T>
void cross_entropy_backward_reduced(const T* logits, const std::int32_t* targets, const float* logsumexp, const T* grad_loss, const T* scale,
                                    T* glogits, index_t rows, index_t vocab, std::int32_t ignore_index = default_ignore_index) {
  detail::require_extents("cuda::cross_entropy_backward_reduced", rows, vocab);
  if (rows == 0 || vocab == 0) return;
  detail::with_row_threads(vocab, [&]<int Threads>() {
    launch("cuda::cross_entropy_backward", detail::cross_entropy_backward_kernel<Threads, T>, detail::row_group<Threads>::shape(rows), logits,
           targets, logsumexp, grad_loss, index_t(0), scale, 1.0f, glogits, rows, vocab, ignore_index);
  });
}

}  // namespace ranklens::cuda
