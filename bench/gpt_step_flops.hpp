// FLOPs of one training step (forward + backward) of the GPT-2 style decoder the step benchmarks
// train (bench/bench_gpt_step.cpp on the CPU, bench/bench_cuda_gpt_step.cu on a GPU), by the
// convention of PaLM's model FLOPs utilisation: every matrix product counts 2 FLOPs per
// multiply-add forward and twice that backward (one product for each operand's gradient), so
// parameters in matrix products cost 6 FLOPs per token; attention's two products (scores q·kᵀ
// and pattern·v, 2·T·d multiply-adds per token and layer) cost 3 × 4·T·d per token and layer.
// The causal mask is not subtracted (PyTorch's and PaLM's count do not either): a kernel that
// skips the masked half does half of that attention work. Norms, softmax, GELU, the loss and
// AdamW are not counted.
#pragma once
#include "ranklens/core/config.hpp"

namespace ranklens::bench {

struct StepFlops {
  double matmul_params;  // weights that take part in matrix products (lm_head tied to wte: counted once)
  double per_step;
};

inline StepFlops gpt_step_flops(index_t d_model, index_t layers, index_t vocab, index_t context, index_t batch) {
  const double d = double(d_model), tokens = double(batch * context);
  const double per_layer = d * 3 * d + d * d + d * 4 * d + 4 * d * d;  // c_attn, c_proj, c_fc, mlp c_proj
  const double params = double(layers) * per_layer + d * double(vocab);
  const double attention = double(layers) * 3 * 4 * double(context) * d * tokens;
  return {params, 6 * params * tokens + attention};
}

}  // namespace ranklens::bench
