// Whole models on cuda_t (docs/architecture.md, "Ops on any device", step 5): a Qwen2-like and
// a GPT-2-like Transformer<Config, float, cuda_t> trained by AdamW<cuda_t> against the same
// models on the CPU, saved to and resumed from checkpoints across devices, and read through a
// KvCache on the device. This file is compiled by nvcc (or the host emulation);
// cpu_reference.cpp runs the CPU side.
#include <unistd.h>

#include <filesystem>

#include "parity.hpp"
#include "transformer_training.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace models = ranklens::test::models;

namespace {

template <class Config>
void check_training_matches_cpu(models::model_kind kind, const char* label) {
  const models::token_batch tokens(2, 11, 3);
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
  const models::token_batch tokens(2, 9, 4);
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

TEST_CASE("a checkpoint of a Transformer and AdamW on cuda_t resumes bit for bit, and across devices", "[cuda][models][checkpoint]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const models::token_batch tokens(2, 11, 6);
  const auto directory = std::filesystem::temp_directory_path() / ("ranklens-cuda-checkpoint-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  struct remove_directory {
    std::filesystem::path path;
    ~remove_directory() { std::filesystem::remove_all(path); }
  } cleanup{directory};

  // Saved on cuda_t after 2 of 3 steps; a fresh model and optimizer resume the third.
  const auto device_file = directory / "cuda.safetensors";
  const auto uninterrupted = models::train_saving<models::qwen2, cuda_t>(23, 3, 2, device_file, tokens);
  const auto resumed = models::resume<models::qwen2, cuda_t>(99, device_file, 1, tokens);
  REQUIRE(resumed.names == uninterrupted.names);
  CHECK(resumed.losses.back() == uninterrupted.losses.back());
  for (std::size_t p = 0; p < resumed.parameters.size(); ++p) {
    INFO(resumed.names[p] << " after resuming on cuda_t");
    CHECK(resumed.parameters[p] == uninterrupted.parameters[p]);
  }
  // The same file resumed on the CPU, and a CPU checkpoint resumed on cuda_t.
  const auto on_cpu = models::cpu_resume(99, device_file, 1, tokens);
  check_close("Qwen2-like: loss after resuming a cuda_t checkpoint on the CPU", on_cpu.losses, {uninterrupted.losses.back()}, tolerance<float>);
  for (std::size_t p = 0; p < on_cpu.parameters.size(); ++p)
    check_close("Qwen2-like: " + on_cpu.names[p] + " after resuming a cuda_t checkpoint on the CPU", on_cpu.parameters[p],
                uninterrupted.parameters[p], tolerance<float>);
  const auto host_file = directory / "cpu.safetensors";
  const auto cpu_uninterrupted = models::cpu_train_saving(23, 3, 2, host_file, tokens);
  const auto from_cpu = models::resume<models::qwen2, cuda_t>(99, host_file, 1, tokens);
  for (std::size_t p = 0; p < from_cpu.parameters.size(); ++p)
    check_close("Qwen2-like: " + from_cpu.names[p] + " after resuming a CPU checkpoint on cuda_t", from_cpu.parameters[p],
                cpu_uninterrupted.parameters[p], tolerance<float>);
}
