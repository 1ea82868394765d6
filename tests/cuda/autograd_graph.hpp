// One small transformer-like graph written once for every device: the CUDA test runs it on
// cuda_t (test_autograd.cu, compiled by nvcc or the host emulation), cpu_reference.cpp on cpu_t
// (compiled by the host compiler with the CPU kernels), and the two must agree. It goes through
// the tape's arena on each device, record/backward, and most ops: embedding, layer and RMS norm,
// matmul (batched by a weight, and through a transposed view), rotary embedding, fused causal
// attention with grouped key/value heads, concat, dropout (the same mask on both devices),
// GELU, SwiGLU-free arithmetic with broadcasting and scalars, log-softmax, sum, mean and the
// cross-entropy mean. Every pointer is on device D.
#pragma once
#include <cstdint>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/concat.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/ops/dropout.hpp"
#include "ranklens/ops/embedding.hpp"
#include "ranklens/ops/fused_causal_attention.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/normalization.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/rope.hpp"
#include "ranklens/ops/softmax.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens::test::graph {

// Batch, positions, vocabulary; the width is 32 (2 query heads and 1 key/value head of 16, the
// smallest head the CUDA attention has a kernel for).
struct sizes {
  index_t batch = 2, positions = 9, vocabulary = 13;
};
inline constexpr index_t width = 32, head_dim = 16, hidden = 40;

// The parameters, in this order, with their element counts.
enum parameter { table, norm_weight, norm_bias, wq, wkv, wo, w1, b1, w2, rms_weight, parameter_count };
inline index_t parameter_size(parameter p, const sizes& s) {
  switch (p) {
    case table: return s.vocabulary * width;
    case norm_weight: case norm_bias: case rms_weight: return width;
    case wq: case wo: return width * width;
    case wkv: return width * 2 * head_dim;
    case w1: return width * hidden;
    case b1: return hidden;
    case w2: return hidden * width;
    default: return 0;
  }
}

// Runs the graph forward and backward on device D; writes each parameter's gradient into
// grads[p] (stored, not added) and returns the loss. ids, targets: (batch, positions).
template <Device D>
float loss_and_gradients(const sizes& s, const float* const* params, const std::int32_t* ids, const std::int32_t* targets,
                         float* const* grads) {
  auto step = tape();
  using Matrix = Shape<dyn, dyn>;
  auto leaf = [&](parameter p, index_t rows, index_t cols) {
    return variable(TensorView<const float, Matrix, D>(params[p], Matrix{rows, cols}));
  };
  const auto E = leaf(table, s.vocabulary, width);
  const auto g = leaf(norm_weight, 1, width), beta = leaf(norm_bias, 1, width), rms_g = leaf(rms_weight, 1, width);
  const auto Wq = leaf(wq, width, width), Wkv = leaf(wkv, width, 2 * head_dim), Wo = leaf(wo, width, width);
  const auto W1 = leaf(w1, width, hidden), B1 = leaf(b1, 1, hidden), W2 = leaf(w2, hidden, width);
  using Tokens = Shape<dyn, dyn>;
  const TensorView<const std::int32_t, Tokens, D> targets_view(targets, Tokens{s.batch, s.positions});

  // ids are read on the host by the embedding (it checks them), so they come as a host view.
  const TensorView<const std::int32_t, Tokens, cpu_t> ids_view(ids, Tokens{s.batch, s.positions});
  const auto x = embedding(E, ids_view);                                           // (B, T, 32)
  const auto h = layer_norm(x, reshape(g, Shape<dyn>{width}), reshape(beta, Shape<dyn>{width}));
  const auto q = rotary_embedding<1>(unflatten<-1, dyn, dyn>(matmul(h, Wq), {2, head_dim}), 10000.0);
  const auto kv = matmul(h, Wkv);                                                  // (B, T, 2·16): k | v
  const auto k = rotary_embedding<1>(unflatten<-1, dyn, dyn>(slice<2>(kv, 0, head_dim), {1, head_dim}), 10000.0);
  const auto v = unflatten<-1, dyn, dyn>(slice<2>(kv, head_dim, 2 * head_dim), {1, head_dim});
  const auto z = flatten<-2, -1>(fused_causal_attention(q, k, v, 0.35f));         // (B, T, 32)
  const auto r = x + matmul(z, transpose<0, 1>(Wo));
  CounterGenerator dropout_keys(7);
  const auto m = gelu(matmul(dropout(rms_norm(r, reshape(rms_g, Shape<dyn>{width})), 0.25, dropout_keys), W1) +
                      reshape(B1, Shape<dyn>{hidden}));
  const auto y = concat<2>(r, (matmul(m, W2) + 0.3f) * 0.5f);                              // (B, T, 64)
  const auto logits = slice<2>(y, 3, 3 + s.vocabulary);
  const auto loss = cross_entropy(logits, targets_view) + 0.01f * sum(square(m)) - 0.1f * mean(log_softmax(y));
  backward(loss);

  const auto copy_gradient = [&](parameter p, const auto& var) {
    device_memory<D>::copy(grads[p], var.grad().data(), sizeof(float) * std::size_t(parameter_size(p, s)));
  };
  copy_gradient(table, E), copy_gradient(norm_weight, g), copy_gradient(norm_bias, beta), copy_gradient(rms_weight, rms_g);
  copy_gradient(wq, Wq), copy_gradient(wkv, Wkv), copy_gradient(wo, Wo);
  copy_gradient(w1, W1), copy_gradient(b1, B1), copy_gradient(w2, W2);
  return loss.item();
}

// The same on cpu_t, compiled in cpu_reference.cpp (pointers in host memory).
float cpu_loss_and_gradients(const sizes& s, const float* const* params, const std::int32_t* ids, const std::int32_t* targets,
                             float* const* grads);

}  // namespace ranklens::test::graph
