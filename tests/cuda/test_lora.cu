// LoRA adapters on cuda_t (docs/architecture.md, "Ops on any device", step 5): LoraAdapters on
// a Transformer<Config, float, cuda_t>, trained by AdamW<cuda_t> with the base frozen, against
// the same on the CPU (lora_training.hpp; cpu_reference/ runs the CPU side): losses, every
// adapter weight, the adapter state, the logits adapted, merged and with the state spliced
// back, and an ablation's KL; PEFT adapter directories written on cuda_t, read on both; and a
// LoRA step with dropout captured into a CUDA graph against eager steps.
#include <concepts>
#include <filesystem>

#include "device_step.hpp"
#include "lora_training.hpp"
#include "parity.hpp"
#include "ranklens/cuda/graph.hpp"
#include "temporary_directory.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace lora = ranklens::test::lora;
namespace models = ranklens::test::models;

// The adapters and their parameters take the model's device.
using device_adapters = LoraAdapters<1, Transformer<models::qwen2, float, cuda_t>>;
static_assert(std::same_as<device_adapters::device_type, cuda_t>);
static_assert(std::same_as<decltype(device_adapters::block_type{}.q_proj)::value_type::device_type, cuda_t>);
static_assert(std::same_as<decltype(device_adapters::block_type{}.q_proj->lora_A)::device_type, cuda_t>);

namespace {

// The cuda_t run's result; its adapters are saved to peft_directory unless that is empty.
lora::lora_result check_lora_matches_cpu(lora::lora_case which, const std::string& label, const std::filesystem::path& peft_directory = {}) {
  const models::token_batch tokens(2, 11, 5);
  const int steps = 3;
  const auto want = lora::cpu_train_case(which, 41, steps, tokens.batch, tokens.positions, tokens.ids, tokens.targets);
  auto got = lora::train_case<cuda_t>(which, 41, steps, tokens.batch, tokens.positions, tokens.ids, tokens.targets, peft_directory);

  REQUIRE(got.training.losses.size() == std::size_t(steps));
  check_close(label + ": loss per step", got.training.losses, want.training.losses, tolerance<float>);
  check_close(label + ": gradient norm per step", got.training.grad_norms, want.training.grad_norms, tolerance<float>);
  CHECK(want.training.losses.back() < want.training.losses.front());
  REQUIRE(got.training.names == want.training.names);
  for (std::size_t p = 0; p < got.training.parameters.size(); ++p)
    check_close(label + ": " + got.training.names[p] + " after " + std::to_string(steps) + " AdamW steps", got.training.parameters[p],
                want.training.parameters[p], tolerance<float>);
  CHECK(got.base_unchanged);
  CHECK(want.base_unchanged);

  check_close(label + ": adapter state", got.state, want.state, tolerance<float>);
  check_close(label + ": adapted logits", got.logits, want.logits, tolerance<float>);
  check_close(label + ": merged logits", got.merged, want.merged, tolerance<float>);
  check_close(label + ": merged logits against the adapted ones on cuda_t", got.merged, got.logits, tolerance<float>);
  // Splicing the captured state back in, and unmerging, give the same numbers on the device, as
  // on the CPU: the same kernels on the same values.
  CHECK(got.replaced == got.logits);
  CHECK(got.unmerged == got.logits);
  CHECK(want.replaced == want.logits);
  // KL of two close distributions is a small difference of large terms: 1e-4 relative (6.2e-6
  // measured on the emulation).
  check_close(label + ": ablation KL per token", got.ablation_kl, want.ablation_kl, 1e-4);
  CHECK(*std::max_element(want.ablation_kl.begin(), want.ablation_kl.end()) > 0.0f);
  return got;
}

}  // namespace

TEST_CASE("rank-1 LoRA with dropout on a Qwen2-like model on cuda_t trains and reads as on the CPU", "[cuda][lora]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_lora_matches_cpu(lora::lora_case::qwen2_rank1_dropout, "Qwen2-like, rank 1, dropout 0.1");
}

TEST_CASE("rank-4 LoRA on a Qwen2-like model on cuda_t trains and reads as on the CPU, and saves PEFT files both read", "[cuda][lora]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const test::temporary_directory scratch("peft");
  const auto directory = scratch.path / "adapter";  // save_peft_adapter creates it
  const auto trained = check_lora_matches_cpu(lora::lora_case::qwen2_rank4, "Qwen2-like, rank 4", directory);
  // The files hold host copies of the adapters: read back on either device, every weight is
  // the trained one, bit for bit (and the base model's hash, taken on cuda_t, fits the CPU's).
  for (const auto& loaded : {lora::load_qwen2_rank4_peft<cuda_t>(41, directory), lora::cpu_load_qwen2_rank4_peft(41, directory)}) {
    REQUIRE(loaded.names == trained.training.names);
    for (std::size_t p = 0; p < loaded.parameters.size(); ++p) {
      INFO(loaded.names[p] << " read from the PEFT directory written on cuda_t");
      CHECK(loaded.parameters[p] == trained.training.parameters[p]);
    }
  }
}

TEST_CASE("rank-32 LoRA (GEMMs on cuda_t) on a Qwen2-like model trains and reads as on the CPU", "[cuda][lora]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_lora_matches_cpu(lora::lora_case::qwen2_rank32, "Qwen2-like, rank 32");
}

TEST_CASE("rank-1 LoRA on a GPT-2-like model (Conv1D layers) on cuda_t trains and reads as on the CPU", "[cuda][lora]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_lora_matches_cpu(lora::lora_case::gpt2_rank1, "GPT-2-like, rank 1");
}

namespace {

using qwen2_model = Transformer<models::qwen2, float, cuda_t>;
using test::device_tokens;

// Rank-1 adapters with dropout 0.1 on the Qwen2-like model, trained by AdamW on one batch held in
// device buffers: a step that waits for nothing, so that a cuda::graph can capture it.
struct lora_graph_run {
  Rng rng{41};
  qwen2_model model{rng};
  LoraAdapters<1, qwen2_model> adapters{model, {.options = {.alpha = 16, .dropout = 0.1}, .seed = 42}};
  AdamW<cuda_t> optimizer{adapters.parameters(), AdamWOptions{.lr = 1e-2, .eps = 1e-3, .weight_decay = 0.1}};
  device_tokens ids, targets;
  Tensor<float, Shape<>, cuda_t> loss{Shape<>{}};

  explicit lora_graph_run(const models::token_batch& b) : ids(Shape<dyn, dyn>{b.batch, b.positions}), targets(ids.shape()) {
    cuda::copy_to_device(ids.data(), b.ids.data(), ids.numel());
    cuda::copy_to_device(targets.data(), b.targets.data(), targets.numel());
  }
  void step() { test::device_step(model, optimizer, ids, targets, loss); }
  float host_loss() const { return to_host(loss.view()).data()[0]; }
};

}  // namespace

TEST_CASE("a rank-1 LoRA step with dropout captured into a CUDA graph replays as eager steps do, new masks each replay",
          "[cuda][lora][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const models::token_batch batch(2, 11, 5);
  lora_graph_run eager(batch), replayed(batch);
  cuda::graph step;
  std::vector<float> eager_losses, replayed_losses;
  const int steps = 5;
  for (int s = 0; s < steps; ++s) {
    eager.step();
    eager_losses.push_back(eager.host_loss());
    if (s == 0) {
      step.warm_up([&] { replayed.step(); });
    } else {
      if (s == 1) step.capture([&] { replayed.step(); });
      step.replay();
    }
    replayed_losses.push_back(replayed.host_loss());
  }
  // Each replay draws the masks of the eager step it stands for (a mask frozen at the capture
  // would part the two from the third step on). The emulation runs both in one order.
  const double tol = cuda::emulated ? 0.0 : tolerance<float>;
  check_close("LoRA with dropout: loss per replayed step", replayed_losses, eager_losses, tol);
  CHECK(eager_losses.back() < eager_losses.front());
  test::modules::training_result eager_weights, replayed_weights;
  test::modules::add_host_parameters(eager.adapters, eager_weights);
  test::modules::add_host_parameters(replayed.adapters, replayed_weights);
  REQUIRE(eager_weights.names == replayed_weights.names);
  for (std::size_t p = 0; p < eager_weights.parameters.size(); ++p)
    check_close("LoRA with dropout: " + eager_weights.names[p] + " after " + std::to_string(steps) + " steps, replayed and eager",
                replayed_weights.parameters[p], eager_weights.parameters[p], tol);
}
