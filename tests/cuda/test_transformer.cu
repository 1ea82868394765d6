// Whole models on cuda_t (docs/architecture.md, "Ops on any device", step 5): a Qwen2-like and
// a GPT-2-like Transformer<Config, float, cuda_t> trained by AdamW<cuda_t> against the same
// models on the CPU, saved to and resumed from checkpoints across devices, written and read as
// Hugging Face directories, read through a KvCache on the device, and continued by generate();
// and a training step captured into a CUDA graph, replayed against eager steps, with a census of
// what it launches.
// This file is compiled by nvcc (or the host emulation); cpu_reference/ runs the CPU side.
#include <algorithm>
#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "device_step.hpp"
#include "parity.hpp"
#include "ranklens/cuda/graph.hpp"
#include "temporary_directory.hpp"
#include "transformer_training.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace models = ranklens::test::models;

// Checkpoints copy AdamW<cuda_t>'s state through the host because it names its device.
static_assert(std::same_as<device_of_t<AdamW<cuda_t>>, cuda_t>);

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

TEST_CASE("generate on cuda_t gives the CPU's tokens, greedy and sampled", "[cuda][models][generate]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const models::token_batch prompts(3, 4, 8);
  const GenerationOptions greedy{.max_new_tokens = 8};
  const GenerationOptions sampled{.max_new_tokens = 8, .temperature = 0.8, .top_k = 5, .stop_token = 3, .seed = 11};
  for (const auto& options : {greedy, sampled}) {
    INFO("temperature " << options.temperature);
    const auto qwen2 = models::generated<models::qwen2, cuda_t>(37, prompts.ids, prompts.batch, options);
    CHECK(qwen2 == models::cpu_generated(models::model_kind::qwen2, 37, prompts.ids, prompts.batch, options));
    const auto gpt2 = models::generated<models::gpt2, cuda_t>(37, prompts.ids, prompts.batch, options);
    CHECK(gpt2 == models::cpu_generated(models::model_kind::gpt2, 37, prompts.ids, prompts.batch, options));
    CHECK(qwen2.size() == 3);
    if (!options.stop_token) CHECK(qwen2.front().size() == 8);  // a sampled row may stop at token 3
  }
}

namespace {

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("save_pretrained on cuda_t writes the CPU's files, and from_pretrained reads them onto either device", "[cuda][models][files]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const test::temporary_directory from_device("hf-device"), from_host("hf-host");
  models::save_drawn_qwen2<cuda_t>(51, from_device.path);
  models::cpu_save_drawn_qwen2(51, from_host.path);
  // The same weights drawn on the host: the same bytes, whichever device wrote them.
  const std::string weights = file_bytes(from_device.path / "model.safetensors");
  CHECK(weights.size() > 1000);
  CHECK(weights == file_bytes(from_host.path / "model.safetensors"));
  CHECK(file_bytes(from_device.path / "config.json") == file_bytes(from_host.path / "config.json"));
  const auto on_device = models::loaded_qwen2<cuda_t>(from_host.path);
  const auto on_host = models::cpu_loaded_qwen2(from_device.path);
  REQUIRE(on_device.names == on_host.names);
  REQUIRE(on_device.parameters.size() == 27);
  for (std::size_t p = 0; p < on_device.parameters.size(); ++p) {
    INFO(on_device.names[p] << " loaded on cuda_t and on the CPU");
    CHECK(on_device.parameters[p] == on_host.parameters[p]);
  }
}

namespace {

// The checkpoint test for AdamW (moments) or SGD with momentum (buffers) as the optimizer.
void check_checkpoint_resumes(bool sgd) {
  const std::string label = std::string(sgd ? "SGD" : "AdamW") + ", Qwen2-like: ";
  const models::token_batch tokens(2, 11, 6);
  const test::temporary_directory scratch("checkpoint");
  const auto& directory = scratch.path;

  // Saved on cuda_t after 2 of 3 steps; a fresh model and optimizer resume the third. The loss
  // (a forward) is the same bit for bit. The parameters are too on the emulation; on a GPU the
  // embedding's gradient is summed by atomic adds, in an order that may change from run to
  // run, so they are compared within 1e-6 (a resume that lost the optimizer state or a weight
  // is off by far more).
  const auto device_file = directory / "cuda.safetensors";
  const auto uninterrupted = models::train_saving<models::qwen2, cuda_t>(23, 3, 2, device_file, tokens, sgd);
  const auto resumed = models::resume<models::qwen2, cuda_t>(99, device_file, 1, tokens, sgd);
  REQUIRE(resumed.names == uninterrupted.names);
  CHECK(resumed.losses.back() == uninterrupted.losses.back());
  for (std::size_t p = 0; p < resumed.parameters.size(); ++p)
    check_close(label + resumed.names[p] + " after resuming on cuda_t", resumed.parameters[p], uninterrupted.parameters[p], 1e-6);
  // The same file resumed on the CPU, and a CPU checkpoint resumed on cuda_t.
  const auto on_cpu = models::cpu_resume(99, device_file, 1, tokens, sgd);
  check_close(label + "loss after resuming a cuda_t checkpoint on the CPU", on_cpu.losses, {uninterrupted.losses.back()}, tolerance<float>);
  for (std::size_t p = 0; p < on_cpu.parameters.size(); ++p)
    check_close(label + on_cpu.names[p] + " after resuming a cuda_t checkpoint on the CPU", on_cpu.parameters[p], uninterrupted.parameters[p],
                tolerance<float>);
  const auto host_file = directory / "cpu.safetensors";
  const auto cpu_uninterrupted = models::cpu_train_saving(23, 3, 2, host_file, tokens, sgd);
  const auto from_cpu = models::resume<models::qwen2, cuda_t>(99, host_file, 1, tokens, sgd);
  for (std::size_t p = 0; p < from_cpu.parameters.size(); ++p)
    check_close(label + from_cpu.names[p] + " after resuming a CPU checkpoint on cuda_t", from_cpu.parameters[p], cpu_uninterrupted.parameters[p],
                tolerance<float>);
}

}  // namespace

TEST_CASE("a checkpoint of a Transformer and AdamW on cuda_t resumes bit for bit, and across devices", "[cuda][models][checkpoint]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_checkpoint_resumes(false);
}

TEST_CASE("a checkpoint of a Transformer and SGD<cuda_t> with momentum resumes bit for bit, and across devices", "[cuda][models][checkpoint]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_checkpoint_resumes(true);
}

namespace {

using test::device_step;
using test::device_tokens;

// Two copies of a model trained on the same batches, one step at a time: eagerly, and through a
// step warmed up once, captured into a cuda::graph and replayed with each batch copied into the
// same device buffers. A replay runs none of the captured host code, so the optimizer's learning
// rate (and AdamW's step count), the loss's divisor (rows not ignored), the token ids and the
// rotary tables must all come from device memory. With max_grad_norm > 0 both copies clip their
// gradients with clip_grad_norm_into.
template <class Config, class Optimizer, class Options>
void check_replayed_steps_match_eager(const char* label, const Options& options, double max_grad_norm = 0) {
  std::vector<models::token_batch> batches;
  for (std::uint64_t b = 0; b < 3; ++b) batches.emplace_back(2, 9, 40 + b);
  batches[1].targets.assign(batches[1].targets.size(), -100);  // a batch
  batches[1].targets[4] = 3;                                    // with one row counted
  const Shape<dyn, dyn> shape{batches[0].batch, batches[0].positions};
  Rng eager_rng(17), graph_rng(17), fixed_rng(17);
  Transformer<Config, float, cuda_t> eager_model(eager_rng), graph_model(graph_rng), fixed_model(fixed_rng);
  Optimizer eager_optimizer(parameters(eager_model), options), graph_optimizer(parameters(graph_model), options),
      fixed_optimizer(parameters(fixed_model), options);  // eager, its rate never changed
  device_tokens eager_ids(shape), eager_targets(shape), graph_ids(shape), graph_targets(shape);
  Tensor<float, Shape<>, cuda_t> eager_loss(Shape<>{}), graph_loss(Shape<>{}), eager_norm(Shape<>{}), graph_norm(Shape<>{});
  const auto load = [](const models::token_batch& b, device_tokens& ids, device_tokens& targets) {
    cuda::copy_to_device(ids.data(), b.ids.data(), ids.numel());
    cuda::copy_to_device(targets.data(), b.targets.data(), targets.numel());
  };
  const auto host_value = [](const Tensor<float, Shape<>, cuda_t>& t) { return to_host(t).data()[0]; };

  cuda::graph step;
  const auto graph_step = [&] { device_step(graph_model, graph_optimizer, graph_ids, graph_targets, graph_loss, max_grad_norm, &graph_norm); };
  std::vector<float> eager_losses, graph_losses, fixed_losses, eager_norms, graph_norms;
  const int steps = 6;
  for (int s = 0; s < steps; ++s) {
    const models::token_batch& b = batches[std::size_t(s) % batches.size()];
    if (s == 4)  // a schedule's new rate reaches the replays (the graph reads it from the device)
      for (Optimizer* optimizer : {&eager_optimizer, &graph_optimizer}) optimizer->set_lr(3e-3);
    load(b, eager_ids, eager_targets);
    device_step(eager_model, eager_optimizer, eager_ids, eager_targets, eager_loss, max_grad_norm, &eager_norm);
    eager_losses.push_back(host_value(eager_loss));
    if (max_grad_norm > 0) eager_norms.push_back(host_value(eager_norm));
    device_step(fixed_model, fixed_optimizer, eager_ids, eager_targets, eager_loss, max_grad_norm, &eager_norm);
    fixed_losses.push_back(host_value(eager_loss));
    load(b, graph_ids, graph_targets);
    if (s == 0) {
      step.warm_up(graph_step);  // sizes the tape's arena, makes the gradients and the optimizer's state
    } else {
      if (s == 1) step.capture(graph_step);  // recorded, not run
      step.replay();
    }
    graph_losses.push_back(host_value(graph_loss));
    if (max_grad_norm > 0) graph_norms.push_back(host_value(graph_norm));
  }
  if constexpr (std::same_as<Optimizer, AdamW<cuda_t>>) {
    CHECK(graph_optimizer.steps_taken() == steps);
    CHECK(eager_optimizer.steps_taken() == steps);
  }
  // The emulation runs both in one order; a GPU's atomics add repeated tokens' rows in any order.
  const double tol = cuda::emulated ? 0.0 : tolerance<float>;
  check_close(std::string(label) + ": loss per replayed step", graph_losses, eager_losses, tol);
  if (max_grad_norm > 0) {  // each replay clipped by its own norm, which was above the limit
    check_close(std::string(label) + ": gradient norm per replayed step", graph_norms, eager_norms, tol);
    CHECK(*std::min_element(eager_norms.begin(), eager_norms.end()) > max_grad_norm);
  }
  CHECK(std::isfinite(graph_losses[1]));
  // set_lr reached the device: the same loss until the new rate's first update, then another.
  CHECK(std::abs(fixed_losses[4] - eager_losses[4]) <= 1e-5f);
  CHECK(std::abs(fixed_losses[5] - eager_losses[5]) > 1e-4f);
  models::training_result eager, replayed;
  test::modules::add_host_parameters(eager_model, eager);
  test::modules::add_host_parameters(graph_model, replayed);
  REQUIRE(eager.names == replayed.names);
  for (std::size_t p = 0; p < eager.parameters.size(); ++p)
    check_close(std::string(label) + ": " + eager.names[p] + " after " + std::to_string(steps) + " steps, replayed and eager",
                replayed.parameters[p], eager.parameters[p], tol);

  // While a graph captures, nothing may wait for the device: a bad target is then not refused by
  // name but makes the replayed loss NaN, and a bad token id gives NaN rows. Outside a capture
  // both are refused as on the CPU.
  std::vector<std::int32_t> bad = batches[0].targets;
  bad[3] = std::int32_t(models::vocabulary);
  cuda::copy_to_device(graph_targets.data(), bad.data(), graph_targets.numel());
  step.replay();
  CHECK(std::isnan(host_value(graph_loss)));
  REQUIRE_THROWS_WITH(device_step(eager_model, eager_optimizer, eager_ids, graph_targets, eager_loss),
                      Catch::Contains("target[3] = 13 is outside [0, 13)"));
  std::vector<std::int32_t> bad_ids = batches[0].ids;
  bad_ids[10] = -2;
  cuda::copy_to_device(eager_ids.data(), bad_ids.data(), eager_ids.numel());
  REQUIRE_THROWS_WITH(device_step(eager_model, eager_optimizer, eager_ids, eager_targets, eager_loss),
                      Catch::Contains("token id -2 at position (1, 1)"));
  // clip_grad_norm adds its totals on the host: a capture of it is refused, saying why.
  cuda::graph clipped;
  REQUIRE_THROWS_WITH(clipped.capture([&] { (void)clip_grad_norm<cuda_t>(parameters(graph_model), 1.0); }),
                      Catch::Contains("captured into a CUDA graph"));
  // set_lr copies the rate to the device, which a capture cannot: refused, and the rate stays
  // the one the device holds.
  REQUIRE_THROWS_WITH(clipped.capture([&] { graph_optimizer.set_lr(5e-2); }), Catch::Contains("captured into a CUDA graph"));
  CHECK(graph_optimizer.lr() == 3e-3);
}

}  // namespace

TEST_CASE("a Transformer training step captured into a CUDA graph replays as eager steps do", "[cuda][models][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const AdamWOptions options{.lr = 1e-2, .eps = 1e-3, .weight_decay = 0.1};
  check_replayed_steps_match_eager<models::qwen2, AdamW<cuda_t>>("Qwen2-like", options);
  check_replayed_steps_match_eager<models::gpt2, AdamW<cuda_t>>("GPT-2-like", options);
}

TEST_CASE("a training step that clips with clip_grad_norm_into captured into a CUDA graph replays as eager steps do",
          "[cuda][models][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const AdamWOptions options{.lr = 1e-2, .eps = 1e-3, .weight_decay = 0.1};
  check_replayed_steps_match_eager<models::qwen2, AdamW<cuda_t>>("Qwen2-like, clipped", options, 0.05);
}

TEST_CASE("an SGD<cuda_t> step with momentum captured into a CUDA graph replays as eager steps do, its rate set between replays",
          "[cuda][models][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const SGDOptions options{.lr = 1e-2, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true};
  check_replayed_steps_match_eager<models::qwen2, SGD<cuda_t>>("SGD, Qwen2-like", options);
}

namespace {

struct step_census {
  cuda::launch_census launches;
  std::size_t nodes = 0, parameters = 0;
};

// One AdamW step of a Config model on a (batch, positions) batch (its gradients clipped when
// max_grad_norm > 0), warmed up once and captured: the kernels the capture launched and the
// operations the graph holds.
template <class Config>
step_census captured_step_census(index_t batch, index_t positions, double max_grad_norm = 0) {
  const models::token_batch tokens(batch, positions, 7);
  const Shape<dyn, dyn> shape{batch, positions};
  Rng rng(5);
  Transformer<Config, float, cuda_t> model(rng);
  AdamW<cuda_t> optimizer(parameters(model), {.lr = 1e-2});
  device_tokens ids(shape), targets(shape);
  cuda::copy_to_device(ids.data(), tokens.ids.data(), ids.numel());
  cuda::copy_to_device(targets.data(), tokens.targets.data(), targets.numel());
  Tensor<float, Shape<>, cuda_t> loss(Shape<>{}), norm(Shape<>{});
  cuda::graph step;
  const auto run = [&] { device_step(model, optimizer, ids, targets, loss, max_grad_norm, &norm); };
  step.warm_up(run);
  step.capture(run);
  return {step.launches(), step.node_count(), parameters(model).size()};
}

// With RANKLENS_CUDA_CENSUS=1, prints a census, the most launched kernels first.
void report_census(const std::string& label, const step_census& census) {
  const char* flag = std::getenv("RANKLENS_CUDA_CENSUS");
  if (flag == nullptr || std::string(flag) != "1") return;
  std::vector<std::pair<int, std::string>> rows;
  for (const auto& [name, count] : census.launches.by_name) rows.emplace_back(count, name);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::printf("%s (%zu parameters): %zu graph nodes, %d of them our kernels\n", label.c_str(), census.parameters, census.nodes,
              census.launches.total());
  for (const auto& [count, name] : rows) std::printf("  %4d  %s\n", count, name.c_str());
}

}  // namespace

TEST_CASE("a captured training step launches the same kernels for a batch of 2 x 9 tokens and one of 3 x 16", "[cuda][models][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const auto check = [&]<class Config>(const char* label) {
    const step_census small = captured_step_census<Config>(2, 9), large = captured_step_census<Config>(3, 16),
                      clipped = captured_step_census<Config>(2, 9, 0.5);
    report_census(std::string(label) + ", batch 2 of 9 tokens", small);
    report_census(std::string(label) + ", batch 2 of 9 tokens, clipped", clipped);
    CHECK(small.launches.total() > 0);
    CHECK(small.nodes >= std::size_t(small.launches.total()));  // cuBLAS's kernels, copies and fills besides
    // No kernel is launched per row, token or head: the launches depend on the model, not the batch.
    CHECK(small.launches.by_name == large.launches.by_name);
    // Nor per parameter in the optimizer's step, its zero_grad or the clipping: each treats the
    // whole list in a launch per batch of list_batch_tensors (tensor_lists.cuh).
    const int lists = int((small.parameters + cuda::detail::list_batch_tensors - 1) / cuda::detail::list_batch_tensors);
    const auto launches_of = [](const step_census& census, const char* name) {
      const auto found = census.launches.by_name.find(name);
      return found == census.launches.by_name.end() ? 0 : found->second;
    };
    CHECK(launches_of(small, "cuda::adamw_update_many") == lists);
    CHECK(launches_of(small, "cuda::zero_many") == lists);
    CHECK(launches_of(clipped, "cuda::sum_of_squares_many") == lists);
    CHECK(launches_of(clipped, "cuda::clip_coefficient") == 1);
    CHECK(launches_of(clipped, "cuda::scale_by_clip_coefficient_many") == lists);
    CHECK(clipped.launches.total() == small.launches.total() + 2 * lists + 1);
  };
  check.template operator()<models::qwen2>("Qwen2-like");
  check.template operator()<models::gpt2>("GPT-2-like");
}
