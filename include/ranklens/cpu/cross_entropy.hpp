// Cross-entropy from logits, fused: the forward never materialises the (rows, vocab)
// probabilities, it keeps one log-sum-exp per row, from which the backward recomputes
// softmax(logits) = exp(logits - logsumexp) in the same pass that writes the gradient.
//
//   loss[r] = logsumexp(logits[r, :]) - logits[r, target[r]]
//   d loss[r] / d logits[r, :] = softmax(logits[r, :]) - onehot(target[r])
//
// Rows whose target equals ignore_index (PyTorch's default -100) have loss 0 and get no
// gradient; the forward returns how many rows were not ignored (the divisor of a mean).
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "ranklens/cpu/cross_entropy_args.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/softmax.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

namespace detail {

// Counts the rows to use, after checking every target names a column or is ignore_index.
inline index_t count_targets(const char* kernel, const std::int32_t* targets, index_t rows,
                             index_t vocab, std::int32_t ignore_index) {
  index_t used = 0;
  for (index_t r = 0; r < rows; ++r) {
    const std::int32_t target = targets[r];
    if (target == ignore_index) continue;
    if (target < 0 || target >= vocab)
      throw value_error(std::string(kernel) + ": target[" + std::to_string(r) + "] = " +
                        std::to_string(target) + " is outside [0, " + std::to_string(vocab) +
                        ") and is not ignore_index (" + std::to_string(ignore_index) + ")");
    ++used;
  }
  return used;
}

}  // namespace detail

// loss[r] = logsumexp(logits[r]) − logits[r, targets[r]] (0 for ignored rows), and
// logsumexp[r] saved for the backward (0 for ignored rows; may be nullptr when no backward
// follows). Returns the number of rows not ignored.
// logits: (rows, vocab); targets, loss, logsumexp: (rows)
template <Real T>
index_t cross_entropy_forward(const T* logits, const std::int32_t* targets, T* loss,
                              optional_out<T> logsumexp, index_t rows, index_t vocab,
                              std::int32_t ignore_index = default_ignore_index) {
  detail::require_extents("cross_entropy_forward", rows, vocab);
  const index_t used =
      detail::count_targets("cross_entropy_forward", targets, rows, vocab, ignore_index);
  parallel_for_rows(rows, vocab, detail::softmax_cost, [&](index_t r) {
    const std::int32_t target = targets[r];
    T lse = T(0);
    T row_loss = T(0);
    if (target != ignore_index) {
      const auto parts = detail::log_sum_exp_row(logits + r * vocab, vocab);
      lse = parts.max + parts.log_sum;
      row_loss = (parts.max - logits[r * vocab + target]) + parts.log_sum;
    }
    loss[r] = row_loss;
    if (logsumexp != nullptr) logsumexp[r] = lse;
  });
  return used;
}

// scale[0] = the factor of a reduced loss: 1 / (rows not ignored) for a mean (NaN when every row
// is ignored, as PyTorch's mean over nothing), 1 for a sum; NaN for either when a target is
// outside [0, vocab) and not ignore_index. Written to memory, as cuda::cross_entropy_scale writes
// it on the device (where a captured step cannot return a count to the host).
template <Real T>
void cross_entropy_scale(const std::int32_t* targets, index_t rows, index_t vocab,
                         std::int32_t ignore_index, bool mean, T* scale) {
  index_t used = 0;
  bool bad = false;
  for (index_t r = 0; r < rows; ++r) {
    const std::int32_t target = targets[r];
    if (target == ignore_index) continue;
    if (target < 0 || target >= vocab)
      bad = true;
    else
      ++used;
  }
  const T nan = std::numeric_limits<T>::quiet_NaN();
  *scale = bad ? nan : !mean ? T(1) : used > 0 ? T(1) / T(used) : nan;
}

// glogits[r, :] += scale * g[r] * (softmax(logits[r, :]) − onehot(targets[r])) for the rows not
// ignored, where g[r] = grad_loss[r], or 1 when grad_loss is nullptr (a reduced loss: pass
// scale = 1 / count for the mean, 1 for the sum).
// logits, glogits: (rows, vocab); targets, logsumexp, grad_loss: (rows)
template <Real T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* logsumexp,
                            optional_in<T> grad_loss, std::type_identity_t<T> scale, T* glogits,
                            index_t rows, index_t vocab,
                            std::int32_t ignore_index = default_ignore_index) {
  detail::require_extents("cross_entropy_backward", rows, vocab);
  detail::count_targets("cross_entropy_backward", targets, rows, vocab, ignore_index);
  parallel_for_rows(rows, vocab, detail::softmax_cost, [&](index_t r) {
    const std::int32_t target = targets[r];
    if (target == ignore_index) return;
    const T weight = scale * (grad_loss != nullptr ? grad_loss[r] : T(1));
    const T* xr = logits + r * vocab;
    T* gr = glogits + r * vocab;
    const simd<T> w(weight);
    const simd<T> lse(logsumexp[r]);
    simd_for<T>(vocab, [&](index_t i, auto step) {
      const simd<T> p = xsimd::exp(load(xr + i, step) - lse);
      store(gr + i, multiply_add(w, p, load(gr + i, step)), step);
    });
    gr[target] -= weight;
  });
}

// The backward of a reduced loss: as cross_entropy_backward with every row's g = grad_loss[0] ·
// scale[0] (the loss's gradient and the reduction's factor, both in memory): the twin of the
// device form, which saves the launches of that product and its broadcast.
// logits, glogits: (rows, vocab); targets, logsumexp: (rows); grad_loss, scale: (1)
template <Real T>
void cross_entropy_backward_reduced(const T* logits, const std::int32_t* targets, const T* logsumexp, const T* grad_loss, const T* scale,
                                    T* glogits, index_t rows, index_t vocab, std::int32_t ignore_index = default_ignore_index) {
  const T weight = *grad_loss * *scale;
  cross_entropy_backward(logits, targets, logsumexp, nullptr, weight, glogits, rows, vocab, ignore_index);
}

}  // namespace ranklens::cpu
