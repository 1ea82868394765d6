// The CPU kernels that tests/cuda/parity.hpp compares the CUDA kernels with (declared in
// cpu_reference.hpp; compiled by the host compiler, since nvcc does not compile xsimd).
#include <algorithm>

#include "../cpu_reference.hpp"
#include "ranklens/cpu/adamw.hpp"
#include "ranklens/cpu/bias.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/causal_attention.hpp"
#include "ranklens/cpu/causal_mask.hpp"
#include "ranklens/cpu/cross_entropy.hpp"
#include "ranklens/cpu/dropout.hpp"
#include "ranklens/cpu/elementwise.hpp"
#include "ranklens/cpu/embedding.hpp"
#include "ranklens/cpu/norm.hpp"
#include "ranklens/cpu/reduce.hpp"
#include "ranklens/cpu/rope.hpp"
#include "ranklens/cpu/softmax.hpp"
#include "ranklens/cpu/strided_binary.hpp"
#include "ranklens/cpu/strided_copy.hpp"

namespace ranklens::test::reference {

namespace {

template <class Body>
decltype(auto) with_unary(unary f, Body&& body) {
  switch (f) {
    case unary::neg: return body(cpu::neg_op{});
    case unary::square: return body(cpu::square_op{});
    case unary::abs: return body(cpu::abs_op{});
    case unary::reciprocal: return body(cpu::reciprocal_op{});
    case unary::exp: return body(cpu::exp_op{});
    case unary::log: return body(cpu::log_op{});
    case unary::sqrt: return body(cpu::sqrt_op{});
    case unary::rsqrt: return body(cpu::rsqrt_op{});
    case unary::tanh: return body(cpu::tanh_op{});
    case unary::sigmoid: return body(cpu::sigmoid_op{});
    case unary::relu: return body(cpu::relu_op{});
    case unary::silu: return body(cpu::silu_op{});
    case unary::softplus: return body(cpu::softplus_op{});
    case unary::gelu_tanh: return body(cpu::gelu_tanh_op{});
    case unary::gelu_exact: return body(cpu::gelu_exact_op{});
    case unary::erf: return body(cpu::erf_op{});
  }
  return body(cpu::neg_op{});
}

template <class Body>
decltype(auto) with_binary(binary f, Body&& body) {
  switch (f) {
    case binary::add: return body(cpu::add_op{});
    case binary::sub: return body(cpu::sub_op{});
    case binary::rsub: return body(cpu::rsub_op{});
    case binary::mul: return body(cpu::mul_op{});
    case binary::div: return body(cpu::div_op{});
    case binary::rdiv: return body(cpu::rdiv_op{});
    case binary::swiglu: return body(cpu::swiglu_op{});
  }
  return body(cpu::add_op{});
}

}  // namespace

const char* name_of(unary f) {
  static const char* names[] = {"neg",  "square",  "abs",  "reciprocal", "exp",       "log",       "sqrt",       "rsqrt",
                                "tanh", "sigmoid", "relu", "silu",       "softplus", "gelu_tanh", "gelu_exact", "erf"};
  return names[int(f)];
}
const char* name_of(binary f) {
  static const char* names[] = {"add", "sub", "rsub", "mul", "div", "rdiv", "swiglu"};
  return names[int(f)];
}

void unary_forward(unary f, const float* x, float* y, index_t n) {
  with_unary(f, [&](auto op) { cpu::unary_forward(x, y, n, op); });
}
void unary_backward(unary f, const float* x, const float* y, const float* gy, float* gx, index_t n, grad_write mode) {
  with_unary(f, [&](auto op) { cpu::unary_backward(x, y, gy, gx, n, op, mode); });
}
void binary_forward(binary f, const float* a, const float* b, float* y, index_t n) {
  with_binary(f, [&](auto op) { cpu::binary_forward(a, b, y, n, op); });
}
void binary_forward_scalar(binary f, const float* a, float b, float* y, index_t n) {
  with_binary(f, [&](auto op) { cpu::binary_forward_scalar(a, b, y, n, op); });
}
void binary_forward_broadcast_row(binary f, const float* a, const float* b, float* y, index_t rows, index_t cols) {
  with_binary(f, [&](auto op) { cpu::binary_forward_broadcast_row(a, b, y, rows, cols, op); });
}
void binary_forward_broadcast_column(binary f, const float* a, const float* b, float* y, index_t rows, index_t cols) {
  with_binary(f, [&](auto op) { cpu::binary_forward_broadcast_column(a, b, y, rows, cols, op); });
}
void binary_backward(binary f, const float* a, const float* b, const float* gy, float* ga, float* gb, index_t n, grad_write write_a,
                     grad_write write_b) {
  with_binary(f, [&](auto op) { cpu::binary_backward(a, b, gy, ga, gb, n, op, write_a, write_b); });
}
void binary_backward_scalar(binary f, const float* a, float b, const float* gy, float* ga, float* gb, index_t n) {
  with_binary(f, [&](auto op) { cpu::binary_backward_scalar(a, b, gy, ga, gb, n, op); });
}
void binary_backward_broadcast_row(binary f, const float* a, const float* b, const float* gy, float* ga, float* gb, index_t rows,
                                   index_t cols) {
  with_binary(f, [&](auto op) { cpu::binary_backward_broadcast_row(a, b, gy, ga, gb, rows, cols, op); });
}
void binary_backward_broadcast_column(binary f, const float* a, const float* b, const float* gy, float* ga, float* gb, index_t rows,
                                      index_t cols) {
  with_binary(f, [&](auto op) { cpu::binary_backward_broadcast_column(a, b, gy, ga, gb, rows, cols, op); });
}
void fill(float* y, float value, index_t n) { cpu::fill(y, value, n); }
void copy(const float* x, float* y, index_t n) { cpu::copy(x, y, n); }
void scale(const float* x, float alpha, float* y, index_t n) { cpu::scale(x, alpha, y, n); }
void axpy(float alpha, const float* x, float* y, index_t n) { cpu::axpy(alpha, x, y, n); }
void add_inplace(const float* x, float* y, index_t n) { cpu::add_inplace(x, y, n); }

void sum_axis(const float* x, float* y, index_t outer, index_t n, index_t inner) { cpu::sum_axis(x, y, outer, n, inner); }
void sum_axis_backward(const float* gy, float* gx, index_t outer, index_t n, index_t inner) {
  cpu::sum_axis_backward(gy, gx, outer, n, inner);
}
void max_axis(const float* x, float* y, index_t* argmax, index_t outer, index_t n, index_t inner) {
  cpu::max_axis(x, y, argmax, outer, n, inner);
}
void max_axis_backward(const index_t* argmax, const float* gy, float* gx, index_t outer, index_t n, index_t inner) {
  cpu::max_axis_backward(argmax, gy, gx, outer, n, inner);
}
float sum_all(const float* x, index_t n) { return cpu::sum_all(x, n); }
float sum_of_squares(const float* x, index_t n) {
  float total = 0;
  cpu::sum_of_squares(x, n, &total);
  return total;
}
void add_column_sums(const float* dy, float* gb, index_t rows, index_t cols) { cpu::add_column_sums(dy, gb, rows, cols); }

void gemm(transpose ta, transpose tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda, const float* b,
          index_t ldb, float beta, float* c, index_t ldc) {
  cpu::gemm<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_strided_batched(transpose ta, transpose tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                          const float* b, index_t ldb, float beta, float* c, index_t ldc, index_t batch, index_t stride_a,
                          index_t stride_b, index_t stride_c) {
  cpu::gemm_strided_batched<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, stride_a, stride_b, stride_c);
}
void gemm_plus_bias(transpose tb, index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb,
                    const float* bias, float* c, index_t ldc) {
  cpu::gemm_plus_bias(tb, m, n, k, a, lda, b, ldb, bias, c, ldc);
}
void fill_rows(const float* b, float* y, index_t rows, index_t cols, index_t ldy) { cpu::fill_rows(b, y, rows, cols, ldy); }

void softmax_forward(const float* x, float* y, index_t rows, index_t cols) { cpu::softmax_forward(x, y, rows, cols); }
void softmax_backward(const float* y, const float* gy, float* gx, index_t rows, index_t cols) {
  cpu::softmax_backward(y, gy, gx, rows, cols);
}
void log_softmax_forward(const float* x, float* y, index_t rows, index_t cols) { cpu::log_softmax_forward(x, y, rows, cols); }
void log_softmax_backward(const float* y, const float* gy, float* gx, index_t rows, index_t cols) {
  cpu::log_softmax_backward(y, gy, gx, rows, cols);
}
void causal_softmax_forward(const float* x, float* y, index_t matrices, index_t t, float scale) {
  cpu::causal_softmax_forward(x, y, matrices, t, scale);
}
void causal_softmax_backward(const float* y, const float* gy, float* gx, index_t matrices, index_t t, float scale) {
  cpu::causal_softmax_backward(y, gy, gx, matrices, t, scale);
}

void layernorm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd, index_t rows,
                       index_t cols, float eps) {
  cpu::layernorm_forward(x, weight, bias, y, mean, rstd, rows, cols, eps);
}
void layernorm_backward(const float* x, const float* weight, const float* mean, const float* rstd, const float* gy, float* gx,
                        float* gweight, float* gbias, index_t rows, index_t cols, grad_write write_x) {
  cpu::layernorm_backward(x, weight, mean, rstd, gy, gx, gweight, gbias, rows, cols, write_x);
}
void rmsnorm_forward(const float* x, const float* weight, float* y, float* rstd, index_t rows, index_t cols, float eps) {
  cpu::rmsnorm_forward(x, weight, y, rstd, rows, cols, eps);
}
void rmsnorm_backward(const float* x, const float* weight, const float* rstd, const float* gy, float* gx, float* gweight, index_t rows,
                      index_t cols, grad_write write_x) {
  cpu::rmsnorm_backward(x, weight, rstd, gy, gx, gweight, rows, cols, write_x);
}

index_t cross_entropy_forward(const float* logits, const std::int32_t* targets, float* loss, float* logsumexp, index_t rows, index_t vocab,
                              std::int32_t ignore_index) {
  return cpu::cross_entropy_forward(logits, targets, loss, logsumexp, rows, vocab, ignore_index);
}
void cross_entropy_backward(const float* logits, const std::int32_t* targets, const float* logsumexp, const float* grad_loss, float scale,
                            float* glogits, index_t rows, index_t vocab, std::int32_t ignore_index) {
  cpu::cross_entropy_backward(logits, targets, logsumexp, grad_loss, scale, glogits, rows, vocab, ignore_index);
}

void embedding_forward(const float* weight, const std::int32_t* ids, float* y, index_t count, index_t vocab, index_t width) {
  cpu::embedding_forward(weight, ids, y, count, vocab, width);
}
void embedding_backward(const std::int32_t* ids, const float* gy, float* gweight, index_t count, index_t width) {
  cpu::embedding_backward(ids, gy, gweight, count, width);
}
void rope_tables(index_t positions, index_t width, double theta, index_t position_offset, float* cos, float* sin) {
  cpu::rope_tables(positions, width, theta, position_offset, cos, sin);
}
void rope_forward(const float* x, const float* cos, const float* sin, float* y, index_t rows, index_t width, index_t positions,
                  index_t rows_per_position) {
  cpu::rope_forward(x, cos, sin, y, rows, width, positions, rows_per_position);
}
void rope_backward(const float* gy, const float* cos, const float* sin, float* gx, index_t rows, index_t width, index_t positions,
                   index_t rows_per_position, grad_write mode) {
  cpu::rope_backward(gy, cos, sin, gx, rows, width, positions, rows_per_position, mode);
}

void adamw_update(float* value, const float* grad, float* m, float* v, index_t n, const cpu::adamw_coefficients<float>& c) {
  cpu::adamw_update(value, grad, m, v, n, c);
}

void causal_attention_forward(const cpu::attention_extents& e, const float* q, cpu::attention_strides qs, const float* k,
                              cpu::attention_strides ks, const float* v, cpu::attention_strides vs, float* z, float* lse, float scale) {
  cpu::causal_attention_forward(e, q, qs, k, ks, v, vs, z, lse, scale);
}
void causal_attention_backward(const cpu::attention_extents& e, const float* q, cpu::attention_strides qs, const float* k,
                               cpu::attention_strides ks, const float* v, cpu::attention_strides vs, const float* z, const float* lse,
                               const float* dz, float* dq, float* dk, float* dv, float scale) {
  cpu::causal_attention_backward(e, q, qs, k, ks, v, vs, z, lse, dz, dq, dk, dv, scale);
}

void sum_all_backward(const float* gy, float* gx, index_t n) { cpu::sum_all_backward(gy, gx, n); }
void dropout_forward(const float* x, float* y, std::uint8_t* keep, index_t n, CounterKey key, double p, float scale) {
  cpu::dropout_forward(x, y, keep, n, key, p, scale);
}
void dropout_backward(const std::uint8_t* keep, const float* gy, float* gx, index_t n, float scale, grad_write mode) {
  cpu::dropout_backward(keep, gy, gx, n, scale, mode);
}
void causal_mask_fill_forward(const float* x, float* y, index_t matrices, index_t queries, index_t keys, index_t offset, float value) {
  cpu::causal_mask_fill_forward(x, y, matrices, queries, keys, offset, value);
}
void causal_mask_fill_backward(const float* gy, float* gx, index_t matrices, index_t queries, index_t keys, index_t offset,
                               grad_write mode) {
  cpu::causal_mask_fill_backward(gy, gx, matrices, queries, keys, offset, mode);
}
void copy_strided(const std::array<index_t, 3>& dims, const float* src, const std::array<index_t, 3>& src_strides, float* dst,
                  const std::array<index_t, 3>& dst_strides, grad_write mode) {
  cpu::copy_strided(dims, src, src_strides, dst, dst_strides, mode);
}
void binary_forward_strided(binary f, const std::array<index_t, 3>& dims, const float* a, const std::array<index_t, 3>& a_strides,
                            const float* b, const std::array<index_t, 3>& b_strides, float* y, const std::array<index_t, 3>& y_strides) {
  with_binary(f, [&]<class Op>(Op) { cpu::binary_forward_strided<Op>(dims, a, a_strides, b, b_strides, y, y_strides); });
}
void binary_backward_strided(binary f, const std::array<index_t, 3>& dims, const float* a, const std::array<index_t, 3>& a_strides,
                             const float* b, const std::array<index_t, 3>& b_strides, const float* gy,
                             const std::array<index_t, 3>& gy_strides, float* ga, const std::array<index_t, 3>& ga_strides, float* gb,
                             const std::array<index_t, 3>& gb_strides) {
  with_binary(f, [&]<class Op>(Op) {
    cpu::binary_backward_strided<Op>(dims, a, a_strides, b, b_strides, gy, gy_strides, ga, ga_strides, gb, gb_strides);
  });
}

}  // namespace ranklens::test::reference
