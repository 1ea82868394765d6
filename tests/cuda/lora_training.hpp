// LoRA adapters on a whole model, written once for every device: rank-r adapters on every
// projection of the Qwen2-like and GPT-2-like models of transformer_training.hpp, trained by
// AdamW with the base frozen, then read: the adapter state (capture_state), the adapted logits,
// the logits with the state spliced back in (replace_state), merged into the weights and
// unmerged again, and an ablation's KL; and saved as a PEFT adapter directory. test_lora.cu
// runs it on cuda_t, cpu_reference/ on cpu_t, and the two must agree.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "ranklens/adapt/adapter_ablation.hpp"
#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/io/peft.hpp"
#include "transformer_training.hpp"

namespace ranklens::test::lora {

using models::model_kind;

// The adapters a case puts on its model. Rank 32 is above CUDA's row kernels (16), so that
// case runs as two GEMMs on cuda_t and as row kernels on the CPU.
enum class lora_case { qwen2_rank1_dropout, qwen2_rank4, qwen2_rank32, gpt2_rank1 };

struct lora_result {
  modules::training_result training;  // losses; every lora_A and lora_B after the steps
  bool base_unchanged = false;        // every base weight as it was drawn
  std::vector<float> state;           // capture_state after training, (tokens, sites × rank)
  std::vector<float> logits;          // the adapted model's
  std::vector<float> replaced;        // with `state` spliced back in by replace_state
  std::vector<float> merged;          // with the adapters merged into the weights
  std::vector<float> unmerged;        // merged, then unmerged
  std::vector<float> ablation_kl;     // KL(adapted ‖ layer 0's adapters off) per token
};

template <class Model>
std::vector<std::vector<float>> base_weights(const Model& model) {
  std::vector<std::vector<float>> weights;
  for_each_parameter(model, [&](std::string_view, const auto& p) {
    const auto host = to_host(p.value().view());
    weights.emplace_back(host.data(), host.data() + host.numel());
  });
  return weights;
}

// The adapters are saved to `peft_directory` after training, unless it is empty.
template <class Config, index_t Rank, Device D>
lora_result train_lora(std::uint64_t seed, double dropout, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                       const std::vector<std::int32_t>& targets, const std::filesystem::path& peft_directory) {
  using Tokens = Shape<dyn, dyn>;
  Rng rng(seed);
  Transformer<Config, float, D> model(rng);
  const auto drawn = base_weights(model);
  LoraAdapters<Rank, Transformer<Config, float, D>> adapters(model, {.options = {.alpha = 16, .dropout = dropout}, .seed = seed + 1});
  const ParameterList params = adapters.parameters();
  AdamW<D> optimizer(params, AdamWOptions{.lr = 1e-2, .eps = 1e-3, .weight_decay = 0.1});  // ε: see transformer_training.hpp
  const auto device_targets = modules::targets_on<D>(batch, positions, targets);
  const TensorView<const std::int32_t, Tokens, cpu_t> tokens(ids.data(), Tokens{batch, positions});

  lora_result result;
  result.training = modules::run_steps(adapters, optimizer, params, steps, /*max_grad_norm=*/1.0,
                                       [&] { return cross_entropy(model(tokens), device_targets.view()); });
  result.base_unchanged = base_weights(model) == drawn;
  if (!peft_directory.empty()) io::save_peft_adapter(adapters, peft_directory);

  adapters.set_training(false);  // no dropout from here on
  const auto logits = [&] {
    auto guard = no_grad();
    auto scope = tape();
    const auto host = to_host(contiguous(model(tokens)).value());
    return std::vector<float>(host.data(), host.data() + host.numel());
  };
  result.logits = logits();
  const auto state = adapters.capture_state([&] { (void)logits(); });
  result.state.assign(state.data(), state.data() + state.numel());
  adapters.replace_state(state, [&] { result.replaced = logits(); });
  adapters.merge();
  result.merged = logits();
  adapters.unmerge();
  result.unmerged = logits();
  const auto kl = ablation_kl(adapters, [](const LoraSite& site) { return site.layer == 0; }, tokens);
  for (index_t i = 0; i < kl.numel(); ++i) result.ablation_kl.push_back(float(kl.data()[i]));
  return result;
}

// Each case's model and adapters.
template <Device D>
lora_result train_case(lora_case which, std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                       const std::vector<std::int32_t>& targets, const std::filesystem::path& peft_directory = {}) {
  switch (which) {
    case lora_case::qwen2_rank1_dropout:
      return train_lora<models::qwen2, 1, D>(seed, 0.1, steps, batch, positions, ids, targets, peft_directory);
    case lora_case::qwen2_rank4: return train_lora<models::qwen2, 4, D>(seed, 0.0, steps, batch, positions, ids, targets, peft_directory);
    case lora_case::qwen2_rank32: return train_lora<models::qwen2, 32, D>(seed, 0.0, steps, batch, positions, ids, targets, peft_directory);
    case lora_case::gpt2_rank1: return train_lora<models::gpt2, 1, D>(seed, 0.0, steps, batch, positions, ids, targets, peft_directory);
  }
  throw value_error("train_case: unknown case");
}

// Rank-4 adapters on the Qwen2-like model drawn from `seed`, made from the PEFT directory's
// configuration and loaded from its weights: every lora_A and lora_B as host copies.
template <Device D>
modules::training_result load_qwen2_rank4_peft(std::uint64_t seed, const std::filesystem::path& directory) {
  Rng rng(seed);
  Transformer<models::qwen2, float, D> model(rng);
  LoraAdapters<4, Transformer<models::qwen2, float, D>> adapters(model, io::read_peft_config<4>(model, directory));
  io::load_peft_adapter(adapters, directory);
  modules::training_result loaded;
  modules::add_host_parameters(adapters, loaded);
  return loaded;
}

// The same on cpu_t, compiled in cpu_reference/.
lora_result cpu_train_case(lora_case which, std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                           const std::vector<std::int32_t>& targets);
modules::training_result cpu_load_qwen2_rank4_peft(std::uint64_t seed, const std::filesystem::path& directory);

}  // namespace ranklens::test::lora
