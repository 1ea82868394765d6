// The CPU side of the sparse autoencoder tests, declared in sae_training.hpp.
#include "../sae_training.hpp"

namespace ranklens::test::sae {

ops_result cpu_run_ops(selection which, std::uint64_t seed) { return run_ops<cpu_t>(which, seed); }
training_result cpu_train(SaeActivation rule, std::uint64_t seed) { return train<cpu_t>(rule, seed); }
std::vector<std::vector<float>> cpu_load(const std::filesystem::path& directory) { return load<cpu_t>(directory); }

}  // namespace ranklens::test::sae
