// The CPU kernels behind tests/cuda/cpu_reference.hpp (compiled by the host compiler).
#include "cpu_reference.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd_graph.hpp"
#include "lora_training.hpp"
#include "module_training.hpp"
#include "op_cases.hpp"
#include "sae_training.hpp"
#include "transformer_training.hpp"

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
void dropout_forward(const float* x, float* y, std::uint8_t* keep, index_t n, std::uint64_t key, double p, float scale) {
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

namespace ranklens::test::graph {

float cpu_loss_and_gradients(const sizes& s, const float* const* params, const std::int32_t* ids, const std::int32_t* targets,
                             float* const* grads) {
  return loss_and_gradients<cpu_t>(s, params, ids, targets, grads);
}

}  // namespace ranklens::test::graph

namespace ranklens::test::modules {

training_result cpu_train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                          const std::vector<std::int32_t>& targets, double max_grad_norm, const std::optional<SGDOptions>& sgd) {
  return train<cpu_t>(seed, steps, batch, positions, ids, targets, max_grad_norm, sgd);
}

}  // namespace ranklens::test::modules

namespace ranklens::test::models {

training_result cpu_train(model_kind kind, std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                          const std::vector<std::int32_t>& targets) {
  if (kind == model_kind::qwen2) return train<qwen2, cpu_t>(seed, steps, batch, positions, ids, targets);
  return train<gpt2, cpu_t>(seed, steps, batch, positions, ids, targets);
}

std::vector<std::vector<std::int32_t>> cpu_generated(model_kind kind, std::uint64_t seed, const std::vector<std::int32_t>& prompts, index_t batch,
                                                     const GenerationOptions& options) {
  if (kind == model_kind::qwen2) return generated<qwen2, cpu_t>(seed, prompts, batch, options);
  return generated<gpt2, cpu_t>(seed, prompts, batch, options);
}

void cpu_save_drawn_qwen2(std::uint64_t seed, const std::filesystem::path& directory) { save_drawn_qwen2<cpu_t>(seed, directory); }

training_result cpu_loaded_qwen2(const std::filesystem::path& directory) { return loaded_qwen2<cpu_t>(directory); }

training_result cpu_train_saving(std::uint64_t seed, int steps, int save_after, const std::filesystem::path& path, const token_batch& tokens,
                                 bool sgd) {
  return train_saving<qwen2, cpu_t>(seed, steps, save_after, path, tokens, sgd);
}

training_result cpu_resume(std::uint64_t seed, const std::filesystem::path& path, int steps, const token_batch& tokens, bool sgd) {
  return resume<qwen2, cpu_t>(seed, path, steps, tokens, sgd);
}

std::pair<std::vector<float>, std::vector<float>> cpu_cached_and_full_logits(model_kind kind, std::uint64_t seed, index_t batch,
                                                                             index_t positions, index_t prompt, const std::vector<std::int32_t>& ids) {
  if (kind == model_kind::qwen2) return cached_and_full_logits<qwen2, cpu_t>(seed, batch, positions, prompt, ids);
  return cached_and_full_logits<gpt2, cpu_t>(seed, batch, positions, prompt, ids);
}

}  // namespace ranklens::test::models

namespace ranklens::test::lora {

lora_result cpu_train_case(lora_case which, std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                           const std::vector<std::int32_t>& targets) {
  return train_case<cpu_t>(which, seed, steps, batch, positions, ids, targets);
}

modules::training_result cpu_load_qwen2_rank4_peft(std::uint64_t seed, const std::filesystem::path& directory) {
  return load_qwen2_rank4_peft<cpu_t>(seed, directory);
}

}  // namespace ranklens::test::lora

namespace ranklens::test::sae {

ops_result cpu_run_ops(selection which, std::uint64_t seed) { return run_ops<cpu_t>(which, seed); }
training_result cpu_train(SaeActivation rule, std::uint64_t seed) { return train<cpu_t>(rule, seed); }
std::vector<std::vector<float>> cpu_load(const std::filesystem::path& directory) { return load<cpu_t>(directory); }

}  // namespace ranklens::test::sae

namespace ranklens::test::op_cases {

case_result cpu_run_case(std::size_t index, const std::vector<std::vector<float>>& values, bool timed) {
  return with_case(index, [&]<class Case>() {
    return run_case<Case, cpu_t>(values, [&](auto&& step) {
      if (!timed) return;
      for (int i = 0; i < 3; ++i) step();
      std::vector<double> us;
      for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        step();
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
      }
      std::nth_element(us.begin(), us.begin() + 10, us.end());
      std::printf("timing: %-60s %10.2f us\n", (std::string(Case::name) + " (cpu)").c_str(), us[10]);
    });
  });
}

GradcheckResult cpu_gradcheck_case(std::size_t index) {
  return with_case(index, []<class Case>() { return gradcheck_case<Case>(); });
}

}  // namespace ranklens::test::op_cases
