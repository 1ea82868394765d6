// Whole models on any device, written once: a Qwen2-like model (RMSNorm, rotary positions,
// grouped-query attention with q/k/v biases, SwiGLU, an untied lm_head) and a GPT-2-like one
// (LayerNorm, learned positions, fused c_attn, GELU MLP, tied embeddings), each trained by
// AdamW for a few steps (and saved to and resumed from a checkpoint with AdamW's or SGD's state), saved and loaded as Hugging
// Face directories, read through a KvCache, and continued by generate(). test_transformer.cu runs them on cuda_t,
// cpu_reference.cpp on cpu_t, and the two must agree.
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <utility>
#include <vector>

#include "module_training.hpp"
#include "ranklens/io/checkpoint.hpp"
#include "ranklens/io/hf_model.hpp"
#include "ranklens/nn/generate.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens::test::models {

using modules::training_result;

// Heads of 16 (the smallest the CUDA attention has a kernel for); the Qwen2-like model shares
// one key/value head between its two query heads.
using qwen2 = Qwen2Like<32, 2, 2, 1, 13, 48, /*TiedEmbeddings=*/false>;
using gpt2 = Gpt2Like<32, 2, 2, 13, /*MaxPositions=*/16>;
enum class model_kind { qwen2, gpt2 };
inline constexpr index_t vocabulary = 13;

// Random (batch, positions) token ids and targets, every sixth target ignored (-100).
struct token_batch {
  index_t batch, positions;
  std::vector<std::int32_t> ids, targets;
  token_batch(index_t batch_, index_t positions_, std::uint64_t seed) : batch(batch_), positions(positions_) {
    std::mt19937_64 gen(seed);
    for (index_t i = 0; i < batch * positions; ++i) {
      ids.push_back(std::int32_t(gen() % std::uint64_t(vocabulary)));
      targets.push_back(i % 6 == 5 ? std::int32_t(-100) : std::int32_t(gen() % std::uint64_t(vocabulary)));
    }
  }
};

template <class Config, Device D>
training_result train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                      const std::vector<std::int32_t>& targets) {
  Rng rng(seed);
  Transformer<Config, float, D> model(rng);
  const ParameterList params = parameters(model);
  // ε 1e-3, not 1e-8: some gradients are zero up to rounding (a key bias shifts every score of
  // a query alike, and softmax ignores that without rotary positions), and with a tiny ε AdamW
  // turns that rounding noise, different on each device, into steps of ±lr.
  AdamW<D> optimizer(params, AdamWOptions{.lr = 1e-2, .eps = 1e-3, .weight_decay = 0.1});
  const auto device_targets = modules::targets_on<D>(batch, positions, targets);
  const TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> tokens(ids.data(), Shape<dyn, dyn>{batch, positions});
  return modules::run_steps(model, optimizer, params, steps, /*max_grad_norm=*/0.0,
                            [&] { return cross_entropy(model(tokens), device_targets.view()); });
}

// The logits of positions [prompt, positions) of a freshly drawn model, twice, as host copies:
// from one forward over the whole sequence, and from a KvCache filled by the prompt and then
// fed one token at a time. Under no_grad, as generation runs.
template <class Config, Device D>
std::pair<std::vector<float>, std::vector<float>> cached_and_full_logits(std::uint64_t seed, index_t batch, index_t positions, index_t prompt,
                                                                         const std::vector<std::int32_t>& ids) {
  using Tokens = Shape<dyn, dyn>;
  Rng rng(seed);
  const Transformer<Config, float, D> model(rng);
  auto guard = no_grad();
  auto scope = tape();
  const TensorView<const std::int32_t, Tokens, cpu_t> tokens(ids.data(), Tokens{batch, positions});
  const auto host_copy = [](const auto& logits) {
    const auto dense = contiguous(logits);
    std::vector<float> host(std::size_t(dense.numel()));
    device_memory<D>::copy_to_host(host.data(), dense.value().data(), sizeof(float) * host.size());
    return host;
  };
  // Row-major (batch, position, vocabulary) for positions [prompt, positions).
  const auto full = host_copy(slice<1>(model(tokens), prompt, positions));

  KvCache<Config, float, D> cache(model.dims(), batch, positions);
  (void)model(slice<1>(tokens, 0, prompt), cache);
  std::vector<float> cached(full.size());
  const index_t rest = positions - prompt;
  for (index_t t = prompt; t < positions; ++t) {
    const auto step = host_copy(model(slice<1>(tokens, t, t + 1), cache));  // (batch, 1, vocabulary)
    for (index_t b = 0; b < batch; ++b)
      std::copy_n(step.begin() + b * vocabulary, vocabulary, cached.begin() + (b * rest + (t - prompt)) * vocabulary);
  }
  return {full, cached};
}

// The tokens generate() continues `prompts` (batch, length; host memory) with, from a model
// drawn from `seed`.
template <class Config, Device D>
std::vector<std::vector<std::int32_t>> generated(std::uint64_t seed, const std::vector<std::int32_t>& prompts, index_t batch,
                                                 const GenerationOptions& options) {
  Rng rng(seed);
  const Transformer<Config, float, D> model(rng);
  const TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> view(prompts.data(), Shape<dyn, dyn>{batch, index_t(prompts.size()) / batch});
  return generate(model, view, options);
}

// Hugging Face directories through the host: the Qwen2-like model drawn from `seed` on D,
// written by save_pretrained.
template <Device D>
void save_drawn_qwen2(std::uint64_t seed, const std::filesystem::path& directory) {
  Rng rng(seed);
  const Transformer<qwen2, float, D> model(rng);
  io::save_pretrained(model, directory);
}

// A Qwen2-like model read by from_pretrained onto D: every parameter as host copies.
template <Device D>
training_result loaded_qwen2(const std::filesystem::path& directory) {
  training_result loaded;
  modules::add_host_parameters(io::from_pretrained<qwen2, float, D>(directory), loaded);
  return loaded;
}

// The optimizer of the checkpoint tests: AdamW, or SGD with momentum (buffers to save) when
// `sgd`, each on D, calling use(optimizer).
template <Device D, class Use>
training_result with_optimizer(const ParameterList& params, bool sgd, Use&& use) {
  if (sgd) {
    SGD<D> optimizer(params, SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-3, .nesterov = false});
    return use(optimizer);
  }
  AdamW<D> optimizer(params, AdamWOptions{.lr = 1e-2, .eps = 1e-3, .weight_decay = 0.1});
  return use(optimizer);
}

// Checkpoints through the host: `steps` AdamW (or SGD) steps of a model drawn from `seed`, saving
// the model, the optimizer and the step count to `path` after `save_after` of them. The result
// holds every step's loss and the parameters at the end.
template <class Config, Device D>
training_result train_saving(std::uint64_t seed, int steps, int save_after, const std::filesystem::path& path, const token_batch& tokens,
                             bool sgd = false) {
  Rng rng(seed);
  Transformer<Config, float, D> model(rng);
  const ParameterList params = parameters(model);
  return with_optimizer<D>(params, sgd, [&](auto& optimizer) {
    const auto device_targets = modules::targets_on<D>(tokens.batch, tokens.positions, tokens.targets);
    const TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> ids(tokens.ids.data(), Shape<dyn, dyn>{tokens.batch, tokens.positions});
    const auto loss = [&] { return cross_entropy(model(ids), device_targets.view()); };
    auto first = modules::run_steps(model, optimizer, params, save_after, 0.0, loss);
    io::training_state state;
    state.add_model(model).add_optimizer(optimizer);
    state.step = save_after;
    io::save_checkpoint(path, state);
    auto rest = modules::run_steps(model, optimizer, params, steps - save_after, 0.0, loss);
    rest.losses.insert(rest.losses.begin(), first.losses.begin(), first.losses.end());
    return rest;
  });
}

// A model drawn from another seed and a fresh AdamW (or SGD), loaded from `path`'s checkpoint,
// then `steps` steps: the losses of those steps and the parameters at the end.
template <class Config, Device D>
training_result resume(std::uint64_t seed, const std::filesystem::path& path, int steps, const token_batch& tokens, bool sgd = false) {
  Rng rng(seed);
  Transformer<Config, float, D> model(rng);
  const ParameterList params = parameters(model);
  return with_optimizer<D>(params, sgd, [&](auto& optimizer) {
    io::training_state state;
    state.add_model(model).add_optimizer(optimizer);
    io::load_checkpoint(path, state);
    const auto device_targets = modules::targets_on<D>(tokens.batch, tokens.positions, tokens.targets);
    const TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> ids(tokens.ids.data(), Shape<dyn, dyn>{tokens.batch, tokens.positions});
    return modules::run_steps(model, optimizer, params, steps, 0.0, [&] { return cross_entropy(model(ids), device_targets.view()); });
  });
}

// The same on cpu_t, compiled in cpu_reference.cpp.
std::vector<std::vector<std::int32_t>> cpu_generated(model_kind kind, std::uint64_t seed, const std::vector<std::int32_t>& prompts, index_t batch,
                                                     const GenerationOptions& options);
void cpu_save_drawn_qwen2(std::uint64_t seed, const std::filesystem::path& directory);
training_result cpu_loaded_qwen2(const std::filesystem::path& directory);
training_result cpu_train_saving(std::uint64_t seed, int steps, int save_after, const std::filesystem::path& path, const token_batch& tokens,
                                 bool sgd = false);
training_result cpu_resume(std::uint64_t seed, const std::filesystem::path& path, int steps, const token_batch& tokens, bool sgd = false);
training_result cpu_train(model_kind kind, std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                          const std::vector<std::int32_t>& targets);
std::pair<std::vector<float>, std::vector<float>> cpu_cached_and_full_logits(model_kind kind, std::uint64_t seed, index_t batch,
                                                                             index_t positions, index_t prompt, const std::vector<std::int32_t>& ids);

}  // namespace ranklens::test::models
