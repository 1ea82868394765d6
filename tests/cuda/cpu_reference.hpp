// The CPU side of the CUDA parity tests: each function runs the cpu:: kernel of the same name on
// float arrays. They are compiled by the host compiler in cpu_reference/kernels.cpp (with the
// xsimd and OpenBLAS of the CPU backend, which nvcc does not compile), and declared here with
// plain types only, so that the nvcc-compiled tests can call them. The rest of cpu_reference/
// runs the tests' models, adapters and SAEs on cpu_t the same way.
#pragma once
#include <array>
#include <cstdint>

#include "ranklens/core/counter_generator.hpp"
#include "ranklens/cpu/adamw_coefficients.hpp"
#include "ranklens/cpu/attention_extents.hpp"
#include "ranklens/cpu/gemm_args.hpp"
#include "ranklens/cpu/kernel_args.hpp"

namespace ranklens::test::reference {

using ranklens::grad_write;
using cpu::transpose;

// The functions of cpu/unary_functions.hpp and cpu/binary_functions.hpp, by name.
enum class unary { neg, square, abs, reciprocal, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, silu, softplus, gelu_tanh, gelu_exact, erf };
enum class binary { add, sub, rsub, mul, div, rdiv, swiglu };
const char* name_of(unary f);
const char* name_of(binary f);

void unary_forward(unary f, const float* x, float* y, index_t n);
void unary_backward(unary f, const float* x, const float* y, const float* gy, float* gx, index_t n, grad_write mode);
void binary_forward(binary f, const float* a, const float* b, float* y, index_t n);
void binary_forward_scalar(binary f, const float* a, float b, float* y, index_t n);
void binary_forward_broadcast_row(binary f, const float* a, const float* b, float* y, index_t rows, index_t cols);
void binary_forward_broadcast_column(binary f, const float* a, const float* b, float* y, index_t rows, index_t cols);
void binary_backward(binary f, const float* a, const float* b, const float* gy, float* ga, float* gb, index_t n, grad_write write_a,
                     grad_write write_b);
void binary_backward_scalar(binary f, const float* a, float b, const float* gy, float* ga, float* gb, index_t n);
void binary_backward_broadcast_row(binary f, const float* a, const float* b, const float* gy, float* ga, float* gb, index_t rows,
                                   index_t cols);
void binary_backward_broadcast_column(binary f, const float* a, const float* b, const float* gy, float* ga, float* gb, index_t rows,
                                      index_t cols);
void fill(float* y, float value, index_t n);
void copy(const float* x, float* y, index_t n);
void scale(const float* x, float alpha, float* y, index_t n);
void axpy(float alpha, const float* x, float* y, index_t n);
void add_inplace(const float* x, float* y, index_t n);

void sum_axis(const float* x, float* y, index_t outer, index_t n, index_t inner);
void sum_axis_backward(const float* gy, float* gx, index_t outer, index_t n, index_t inner);
void max_axis(const float* x, float* y, index_t* argmax, index_t outer, index_t n, index_t inner);
void max_axis_backward(const index_t* argmax, const float* gy, float* gx, index_t outer, index_t n, index_t inner);
float sum_all(const float* x, index_t n);
float sum_of_squares(const float* x, index_t n);
void add_column_sums(const float* dy, float* gb, index_t rows, index_t cols);

void gemm(transpose ta, transpose tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda, const float* b,
          index_t ldb, float beta, float* c, index_t ldc);
void gemm_strided_batched(transpose ta, transpose tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                          const float* b, index_t ldb, float beta, float* c, index_t ldc, index_t batch, index_t stride_a,
                          index_t stride_b, index_t stride_c);
void gemm_plus_bias(transpose tb, index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb,
                    const float* bias, float* c, index_t ldc);
void fill_rows(const float* b, float* y, index_t rows, index_t cols, index_t ldy);

void softmax_forward(const float* x, float* y, index_t rows, index_t cols);
void softmax_backward(const float* y, const float* gy, float* gx, index_t rows, index_t cols);
void log_softmax_forward(const float* x, float* y, index_t rows, index_t cols);
void log_softmax_backward(const float* y, const float* gy, float* gx, index_t rows, index_t cols);
void causal_softmax_forward(const float* x, float* y, index_t matrices, index_t t, float scale);
void causal_softmax_backward(const float* y, const float* gy, float* gx, index_t matrices, index_t t, float scale);

void layernorm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd, index_t rows,
                       index_t cols, float eps);
void layernorm_backward(const float* x, const float* weight, const float* mean, const float* rstd, const float* gy, float* gx,
                        float* gweight, float* gbias, index_t rows, index_t cols, grad_write write_x);
void rmsnorm_forward(const float* x, const float* weight, float* y, float* rstd, index_t rows, index_t cols, float eps);
void rmsnorm_backward(const float* x, const float* weight, const float* rstd, const float* gy, float* gx, float* gweight, index_t rows,
                      index_t cols, grad_write write_x);

index_t cross_entropy_forward(const float* logits, const std::int32_t* targets, float* loss, float* logsumexp, index_t rows, index_t vocab,
                              std::int32_t ignore_index);
void cross_entropy_backward(const float* logits, const std::int32_t* targets, const float* logsumexp, const float* grad_loss, float scale,
                            float* glogits, index_t rows, index_t vocab, std::int32_t ignore_index);

void embedding_forward(const float* weight, const std::int32_t* ids, float* y, index_t count, index_t vocab, index_t width);
void embedding_backward(const std::int32_t* ids, const float* gy, float* gweight, index_t count, index_t width);
void rope_tables(index_t positions, index_t width, double theta, index_t position_offset, float* cos, float* sin);
void rope_forward(const float* x, const float* cos, const float* sin, float* y, index_t rows, index_t width, index_t positions,
                  index_t rows_per_position);
void rope_backward(const float* gy, const float* cos, const float* sin, float* gx, index_t rows, index_t width, index_t positions,
                   index_t rows_per_position, grad_write mode);

void adamw_update(float* value, const float* grad, float* m, float* v, index_t n, const cpu::adamw_coefficients<float>& c);

void causal_attention_forward(const cpu::attention_extents& e, const float* q, cpu::attention_strides qs, const float* k,
                              cpu::attention_strides ks, const float* v, cpu::attention_strides vs, float* z, float* lse, float scale);
void causal_attention_backward(const cpu::attention_extents& e, const float* q, cpu::attention_strides qs, const float* k,
                               cpu::attention_strides ks, const float* v, cpu::attention_strides vs, const float* z, const float* lse,
                               const float* dz, float* dq, float* dk, float* dv, float scale);

void sum_all_backward(const float* gy, float* gx, index_t n);
void dropout_forward(const float* x, float* y, std::uint8_t* keep, index_t n, CounterKey key, double p, float scale);
void dropout_backward(const std::uint8_t* keep, const float* gy, float* gx, index_t n, float scale, grad_write mode);
void causal_mask_fill_forward(const float* x, float* y, index_t matrices, index_t queries, index_t keys, index_t offset, float value);
void causal_mask_fill_backward(const float* gy, float* gx, index_t matrices, index_t queries, index_t keys, index_t offset,
                               grad_write mode);
void binary_forward_strided(binary f, const std::array<index_t, 3>& dims, const float* a, const std::array<index_t, 3>& a_strides,
                            const float* b, const std::array<index_t, 3>& b_strides, float* y, const std::array<index_t, 3>& y_strides);
void binary_backward_strided(binary f, const std::array<index_t, 3>& dims, const float* a, const std::array<index_t, 3>& a_strides,
                             const float* b, const std::array<index_t, 3>& b_strides, const float* gy,
                             const std::array<index_t, 3>& gy_strides, float* ga, const std::array<index_t, 3>& ga_strides, float* gb,
                             const std::array<index_t, 3>& gb_strides);
void copy_strided(const std::array<index_t, 3>& dims, const float* src, const std::array<index_t, 3>& src_strides, float* dst,
                  const std::array<index_t, 3>& dst_strides, grad_write mode);

}  // namespace ranklens::test::reference
