// The CPU side of the Qwen2-like and GPT-2-like model tests, declared in transformer_training.hpp.
#include "../transformer_training.hpp"

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
