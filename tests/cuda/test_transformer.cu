// Whole models on cuda_t (docs/architecture.md, "Ops on any device", step 5): a Qwen2-like and
// a GPT-2-like Transformer<Config, float, cuda_t> trained by AdamW<cuda_t> against the same
// models on the CPU, and read through a KvCache on the device. This file is compiled by nvcc (or
// the host emulation); cpu_reference.cpp runs the CPU side.
#include "parity.hpp"
#include "transformer_training.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace models = ranklens::test::models;

namespace {

struct token_batch {
  index_t batch, positions;
  std::vector<std::int32_t> ids, targets;
  token_batch(index_t batch_, index_t positions_, std::uint64_t seed) : batch(batch_), positions(positions_) {
    std::mt19937_64 gen(seed);
    for (index_t i = 0; i < batch * positions; ++i) {
      ids.push_back(std::int32_t(gen() % std::uint64_t(models::vocabulary)));
      targets.push_back(i % 6 == 5 ? std::int32_t(-100) : std::int32_t(gen() % std::uint64_t(models::vocabulary)));
    }
  }
};

template <class Config>
void check_training_matches_cpu(models::model_kind kind, const char* label) {
  const token_batch tokens(2, 11, 3);
  const int steps = 3;
  const auto want = models::cpu_train(kind, 23, steps, tokens.batch, tokens.positions, tokens.ids, tokens.targets);
  const auto got = models::train<Config, cuda_t>(23, steps, tokens.batch, tokens.positions, tokens.ids, tokens.targets);
  REQUIRE(got.losses.size() == std::size_t(steps));
  check_close(std::string(label) + ": loss per step", got.losses, want.losses, tolerance<float>);
  CHECK(want.losses.back() < want.losses.front());
  REQUIRE(got.names == want.names);
  for (std::size_t p = 0; p < got.parameters.size(); ++p)
    check_close(std::string(label) + ": " + got.names[p] + " after " + std::to_string(steps) + " AdamW steps", got.parameters[p],
                want.parameters[p], tolerance<float>);
}

template <class Config>
void check_cache_matches(models::model_kind kind, const char* label) {
  const token_batch tokens(2, 9, 4);
  const index_t prompt = 5;
  const auto [full, cached] = models::cached_and_full_logits<Config, cuda_t>(31, tokens.batch, tokens.positions, prompt, tokens.ids);
  const auto [cpu_full, cpu_cached] = models::cpu_cached_and_full_logits(kind, 31, tokens.batch, tokens.positions, prompt, tokens.ids);
  check_close(std::string(label) + ": logits through the KvCache on cuda_t", cached, full, tolerance<float>);
  check_close(std::string(label) + ": logits on cuda_t against the CPU", full, cpu_full, tolerance<float>);
  check_close(std::string(label) + ": cached logits on cuda_t against the CPU's", cached, cpu_cached, tolerance<float>);
}

}  // namespace

TEST_CASE("a Qwen2-like Transformer on cuda_t trains as on the CPU", "[cuda][models]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_training_matches_cpu<models::qwen2>(models::model_kind::qwen2, "Qwen2-like");
}

TEST_CASE("a GPT-2-like Transformer on cuda_t trains as on the CPU", "[cuda][models]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_training_matches_cpu<models::gpt2>(models::model_kind::gpt2, "GPT-2-like");
}

TEST_CASE("a KvCache on cuda_t gives the logits of a full forward", "[cuda][models]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_cache_matches<models::qwen2>(models::model_kind::qwen2, "Qwen2-like");
  check_cache_matches<models::gpt2>(models::model_kind::gpt2, "GPT-2-like");
}
