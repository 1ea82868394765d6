// The CPU side of the LoRA adapter tests, declared in lora_training.hpp.
#include "../lora_training.hpp"

namespace ranklens::test::lora {

lora_result cpu_train_case(lora_case which, std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                           const std::vector<std::int32_t>& targets) {
  return train_case<cpu_t>(which, seed, steps, batch, positions, ids, targets);
}

modules::training_result cpu_load_qwen2_rank4_peft(std::uint64_t seed, const std::filesystem::path& directory) {
  return load_qwen2_rank4_peft<cpu_t>(seed, directory);
}

}  // namespace ranklens::test::lora
