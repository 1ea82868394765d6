// Specification of io/checkpoint.hpp: a training run resumed from a checkpoint is the run that
// never stopped, bit for bit; saves are atomic; damaged files and mismatched objects are
// refused with messages that say what differs, and a refused load changes nothing.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "training_run.hpp"
#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/io/checkpoint.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"

namespace io_test_checkpoint {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

using TinyQwen2 = Qwen2Like<16, 1, 2, 1, 8>;
using TinyQwen2OtherVocab = Qwen2Like<16, 1, 2, 1, 9>;
using TinyGpt2 = Gpt2Like<16, 1, 2, 8, 8>;

// Bitwise equality, so that -0 vs 0 or two NaNs would not hide a difference.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

template <class Config, class Optimizer>
void check_resume_is_exact() {
  scratch_directory directory;
  const auto path = directory / "checkpoint.safetensors";
  constexpr int total_steps = 8;

  TrainingRun<Config, Optimizer> straight(1);
  const std::vector<float> straight_losses = straight.steps(total_steps);

  std::vector<float> resumed_losses;
  {
    TrainingRun<Config, Optimizer> first_half(1);
    resumed_losses = first_half.steps(total_steps / 2);
    first_half.state.metadata["note"] = "halfway";
    save_checkpoint(path, first_half.state);
  }
  // Other seeds: every weight, moment and generator differs until the checkpoint is loaded.
  TrainingRun<Config, Optimizer> second_half(99);
  REQUIRE(!same_bits(second_half.parameter_values(), straight.parameter_values()));
  load_checkpoint(path, second_half.state);
  CHECK(second_half.state.step == total_steps / 2);
  CHECK(second_half.state.metadata == std::map<std::string, std::string>{{"note", "halfway"}});
  for (const float loss : second_half.steps(total_steps / 2)) resumed_losses.push_back(loss);

  CHECK(same_bits(resumed_losses, straight_losses));
  CHECK(same_bits(second_half.parameter_values(), straight.parameter_values()));
  CHECK(second_half.state.step == straight.state.step);
  CHECK(second_half.data() == straight.data());
  CHECK(second_half.lengths() == straight.lengths());
}

template <class Action>
std::string value_error_message(Action&& action) {
  try {
    action();
  } catch (const value_error& error) {
    return error.what();
  } catch (const std::exception& other) {
    FAIL("expected ranklens::value_error, got: " << other.what());
  }
  FAIL("expected ranklens::value_error, but nothing was thrown");
  return {};
}

}  // namespace

TEST_CASE("a run resumed from a checkpoint is bit for bit the run that never stopped", "[io][checkpoint]") {
  SECTION("Qwen2-style model, AdamW") { check_resume_is_exact<TinyQwen2, AdamW<>>(); }
  SECTION("GPT-2-style model, SGD with momentum") { check_resume_is_exact<TinyGpt2, SGD<>>(); }
}

namespace {

// The fixture runs of tools/make_checkpoint_fixtures.cpp.
using FixtureQwen2 = Qwen2Like<8, 1, 2, 1, 8, 16>;
using FixtureGpt2 = Gpt2Like<8, 1, 2, 8, 8>;

// Loads a committed checkpoint into a run of other seeds and continues it for two steps: the
// losses must be those the saved run went on to have (its metadata holds them), up to the
// rounding of another machine's kernels.
template <class Config, class Optimizer>
void check_resumes_committed_checkpoint(const std::string& file, bool freeze_final_norm) {
  TrainingRun<Config, Optimizer> run(99);
  if (freeze_final_norm) freeze(run.model.final_norm);
  load_checkpoint(fixture_path(file), run.state);
  CHECK(run.state.step == 3);
  std::vector<float> expected;
  std::istringstream text(run.state.metadata.at("expected_next_losses"));
  for (std::string number; text >> number;) expected.push_back(std::strtof(number.c_str(), nullptr));
  REQUIRE(expected.size() == 2);
  const std::vector<float> losses = run.steps(2);
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(losses[i] == Approx(expected[i]).epsilon(1e-5));
}

}  // namespace

TEST_CASE("checkpoints written by earlier ranklens load and resume their run", "[io][checkpoint]") {
  SECTION("AdamW, with state saved for a frozen parameter") {
    check_resumes_committed_checkpoint<FixtureQwen2, AdamW<>>("checkpoint_v1_adamw.safetensors", true);
  }
  SECTION("SGD with momentum") { check_resumes_committed_checkpoint<FixtureGpt2, SGD<>>("checkpoint_v1_sgd.safetensors", false); }
}

TEST_CASE("the checkpoint file names its parts as the file format says", "[io][checkpoint]") {
  scratch_directory directory;
  TrainingRun<TinyQwen2, AdamW<>> run(1);
  run.steps(2);
  save_checkpoint(directory / "c.safetensors", run.state);
  const auto reader = safetensors_reader::open(directory / "c.safetensors");
  CHECK(reader.contains("param/model.embed_tokens.weight"));
  CHECK(reader.contains("adamw/exp_avg/model.layers.0.mlp.up_proj.weight"));
  CHECK(reader.entry("adamw/exp_avg_sq/model.layers.0.mlp.up_proj.weight").shape == std::vector<std::int64_t>{64, 16});
  CHECK(reader.entry("generator/data").element_type == dtype::i64);
  CHECK(reader.metadata().at("ranklens.step") == "2");
  CHECK(reader.metadata().at("ranklens.optimizer") == "AdamW");
  CHECK(reader.metadata().at("ranklens.adamw.steps_taken") == "2");
  CHECK(reader.metadata().contains("ranklens.generator.lengths"));
  CHECK_THAT(reader.metadata().at("ranklens.model_configs"), Contains("\"vocab_size\":8"));
}

TEST_CASE("a save that fails midway leaves the previous checkpoint intact and no temporary file", "[io][checkpoint]") {
  scratch_directory directory;
  const auto path = directory / "checkpoint.safetensors";
  TrainingRun<TinyQwen2, AdamW<>> run(1);
  run.steps(2);
  save_checkpoint(path, run.state);
  const std::vector<std::byte> previous = read_whole_file(path);
  const std::vector<float> parameters_at_2 = run.parameter_values();

  run.steps(2);
  // The process "dies" after the first kilobyte reaches the temporary file.
  const std::string message = io_error_message([&] {
    save_checkpoint(path, run.state, [](std::uint64_t written, std::uint64_t) {
      if (written > 1024) throw io_error("simulated crash after " + std::to_string(written) + " bytes");
    });
  });
  CHECK_THAT(message, Contains("simulated crash"));
  CHECK(read_whole_file(path) == previous);
  CHECK(directory.file_names() == std::vector<std::string>{"checkpoint.safetensors"});

  TrainingRun<TinyQwen2, AdamW<>> fresh(5);
  load_checkpoint(path, fresh.state);
  CHECK(fresh.state.step == 2);
  CHECK(same_bits(fresh.parameter_values(), parameters_at_2));

  // A directory that does not exist: nothing is created anywhere.
  CHECK_THAT(io_error_message([&] { save_checkpoint(directory / "missing" / "c.safetensors", run.state); }),
             Contains("cannot create the temporary file"));
  CHECK(directory.file_names() == std::vector<std::string>{"checkpoint.safetensors"});
}

TEST_CASE("a damaged or truncated checkpoint is an io_error and changes nothing", "[io][checkpoint]") {
  scratch_directory directory;
  const auto path = directory / "checkpoint.safetensors";
  TrainingRun<TinyQwen2, AdamW<>> saved(1);
  saved.steps(1);
  save_checkpoint(path, saved.state);
  const std::vector<std::byte> good = read_whole_file(path);
  auto write = [&](const std::vector<std::byte>& bytes) {
    write_whole_file(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  };

  TrainingRun<TinyQwen2, AdamW<>> target(2);
  const std::vector<float> before = target.parameter_values();

  SECTION("one flipped bit in a tensor") {
    std::vector<std::byte> damaged = good;
    damaged[damaged.size() - 100] ^= std::byte{0x10};
    write(damaged);
    CHECK_THAT(io_error_message([&] { load_checkpoint(path, target.state); }),
               Contains("checkpoint.safetensors") && Contains("do not match its checksum") && Contains("damaged"));
  }
  SECTION("an edited number in the metadata") {
    const std::string text(reinterpret_cast<const char*>(good.data()), good.size());
    std::string edited = text;
    const std::size_t at = edited.find("\"ranklens.step\":\"1\"");
    REQUIRE(at != std::string::npos);
    edited[at + std::string("\"ranklens.step\":\"").size()] = '7';
    write_whole_file(path, edited);
    CHECK_THAT(io_error_message([&] { load_checkpoint(path, target.state); }), Contains("checksum"));
  }
  SECTION("a truncated file") {
    write(std::vector<std::byte>(good.begin(), good.end() - 10));
    CHECK_THAT(io_error_message([&] { load_checkpoint(path, target.state); }), Contains("checkpoint.safetensors"));
  }
  SECTION("an empty file") {
    write({});
    CHECK_THAT(io_error_message([&] { load_checkpoint(path, target.state); }), Contains("checkpoint.safetensors"));
  }
  SECTION("a safetensors file that is not a checkpoint") {
    tensor_writer writer;
    const Tensor<float, Shape<2>> values(Shape<2>{}, {1.0f, 2.0f});
    writer.add("weights", values);
    writer.save(path);
    CHECK_THAT(io_error_message([&] { load_checkpoint(path, target.state); }), Contains("not a ranklens training checkpoint"));
  }
  CHECK(same_bits(target.parameter_values(), before));
  CHECK(target.state.step == 0);
}

TEST_CASE("a checkpoint of another configuration or other objects is refused naming the difference", "[io][checkpoint]") {
  scratch_directory directory;
  const auto path = directory / "checkpoint.safetensors";
  TrainingRun<TinyQwen2, AdamW<>> saved(1);
  saved.steps(1);
  save_checkpoint(path, saved.state);

  SECTION("a model of another vocabulary size") {
    TrainingRun<TinyQwen2OtherVocab, AdamW<>> other(1);
    const auto before = other.parameter_values();
    CHECK_THAT(value_error_message([&] { load_checkpoint(path, other.state); }),
               Contains("checkpoint.safetensors") && Contains("vocab_size is 8 in the checkpoint but 9 in the model"));
    CHECK(same_bits(other.parameter_values(), before));
  }
  SECTION("another model family") {
    TrainingRun<TinyGpt2, AdamW<>> other(1);
    CHECK_THAT(value_error_message([&] { load_checkpoint(path, other.state); }), Contains("layout is \"qwen2\" in the checkpoint but \"gpt2\""));
  }
  SECTION("another optimizer") {
    TrainingRun<TinyQwen2, SGD<>> other(1);
    CHECK_THAT(value_error_message([&] { load_checkpoint(path, other.state); }),
               Contains("optimizer 'AdamW'") && Contains("registered optimizer is 'SGD'"));
  }
  SECTION("AdamW built with other options") {
    std::mt19937 rng(1);
    Transformer<TinyQwen2> model(rng);
    AdamW optimizer(parameters(model), {.lr = 1e-2, .beta2 = 0.95, .weight_decay = 0.01});
    Rng data(1);
    std::mt19937 lengths(1);
    training_state state;
    state.add_model(model).add_optimizer(optimizer).add_generator("data", data).add_generator("lengths", lengths);
    CHECK_THAT(value_error_message([&] { load_checkpoint(path, state); }), Contains("beta2 = 0.999, the registered one 0.95"));
  }
  SECTION("a generator the checkpoint lacks, or one it has and the state does not") {
    std::mt19937 rng(1);
    Transformer<TinyQwen2> model(rng);
    AdamW optimizer(parameters(model), {.lr = 1e-2, .weight_decay = 0.01});
    Rng data(1), extra(2);
    std::mt19937 lengths(1);
    training_state state;
    state.add_model(model).add_optimizer(optimizer).add_generator("data", data).add_generator("lengths", lengths);
    state.add_generator("dropout", extra);
    CHECK_THAT(value_error_message([&] { load_checkpoint(path, state); }), Contains("no state for the generator 'dropout'"));

    training_state fewer;
    fewer.add_model(model).add_optimizer(optimizer).add_generator("data", data);
    CHECK_THAT(value_error_message([&] { load_checkpoint(path, fewer); }), Contains("generator 'lengths'") && Contains("does not register"));
  }
}

TEST_CASE("any module's parameters checkpoint by path, with shape checks", "[io][checkpoint]") {
  scratch_directory directory;
  std::mt19937 rng(3);
  Linear<2, 3> small(rng);
  Linear<2, 4> wider(rng);
  training_state saved_state;
  saved_state.add_model(small, "probe");
  save_checkpoint(directory / "c.safetensors", saved_state);

  training_state wider_state;
  wider_state.add_model(wider, "probe");
  CHECK_THAT(value_error_message([&] { load_checkpoint(directory / "c.safetensors", wider_state); }),
             Contains("tensor 'param/probe.weight' has shape [3, 2] in the checkpoint, but [4, 2] here"));

  Linear<2, 3> other(rng);
  training_state other_state;
  other_state.add_model(other, "probe");
  load_checkpoint(directory / "c.safetensors", other_state);
  CHECK(other.weight.value()(2, 1) == small.weight.value()(2, 1));

  training_state unprefixed;
  unprefixed.add_model(other);
  CHECK_THAT(value_error_message([&] { load_checkpoint(directory / "c.safetensors", unprefixed); }),
             Contains("lacks 2 tensors") && Contains("'param/weight'"));
}

namespace {

// An optimizer the checkpoint code has never heard of: it counts, per parameter, the steps in
// which the parameter had a gradient, and keeps a learning rate it never uses.
class CountingOptimizer {
 public:
  static constexpr std::string_view kind = "Counting";
  static constexpr std::string_view key = "counting";
  static constexpr std::array<std::string_view, 1> state_names = {"visits"};

  CountingOptimizer(ParameterList params, double lr) : params_(std::move(params)), state_(params_), lr_(lr) {}

  void step() {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (!state_.has(i)) state_.create(i);
      double* visits = state_.data<double>(i, 0);
      for (index_t j = 0; j < params_[i].numel; ++j) visits[j] += 1;
    }
    ++steps_;
  }
  double visits(std::size_t i) { return state_.has(i) ? state_.data<double>(i, 0)[0] : -1; }
  long long steps() const { return steps_; }
  double lr() const { return lr_; }

  const ParameterList& parameters() const { return params_; }
  std::span<std::byte> state(std::size_t i, std::string_view) { return state_.tensor(i, 0); }
  void create_state(std::size_t i) { state_.create(i); }
  void release_state(std::size_t i) { state_.release(i); }
  OptimizerSettings settings() const {
    OptimizerSettings s;
    s.set("steps", steps_);
    s.set("lr", lr_);
    return s;
  }
  void check_settings(const OptimizerSettings& saved) const { (void)saved.integer("steps"), (void)saved.real("lr"); }
  void restore_settings(const OptimizerSettings& saved) { steps_ = saved.integer("steps"), lr_ = saved.real("lr"); }

 private:
  ParameterList params_;
  LazyParameterState<1> state_;
  double lr_;
  long long steps_ = 0;
};
static_assert(OptimizerWithState<CountingOptimizer>);

}  // namespace

TEST_CASE("any optimizer with named state checkpoints, under its own names", "[io][checkpoint]") {
  scratch_directory directory;
  std::mt19937 rng(3);
  Linear<2, 3, double> saved_layer(rng);
  CountingOptimizer saved(parameters(saved_layer), 0.5);
  saved.step();
  saved.step();
  training_state saved_state;
  saved_state.add_model(saved_layer).add_optimizer(saved);
  save_checkpoint(directory / "c.safetensors", saved_state);
  const auto reader = safetensors_reader::open(directory / "c.safetensors");
  CHECK(reader.metadata().at("ranklens.optimizer") == "Counting");
  CHECK(reader.metadata().at("ranklens.counting.steps") == "2");
  CHECK(reader.metadata().at("ranklens.counting.lr") == "0.5");
  CHECK(reader.entry("counting/visits/weight").shape == std::vector<std::int64_t>{3, 2});

  Linear<2, 3, double> layer(rng);
  CountingOptimizer resumed(parameters(layer), 0.1);
  training_state state;
  state.add_model(layer).add_optimizer(resumed);
  load_checkpoint(directory / "c.safetensors", state);
  CHECK(resumed.steps() == 2);
  CHECK(resumed.lr() == 0.5);
  CHECK(resumed.visits(0) == 2);
  CHECK(resumed.visits(1) == 2);

  // A parameter without state in the file has none after loading, whatever it had before.
  CountingOptimizer fresh(parameters(saved_layer), 0.5);
  training_state fresh_state;
  fresh_state.add_model(saved_layer).add_optimizer(fresh);
  save_checkpoint(directory / "fresh.safetensors", fresh_state);
  CHECK(!safetensors_reader::open(directory / "fresh.safetensors").contains("counting/visits/weight"));
  load_checkpoint(directory / "fresh.safetensors", state);
  CHECK(resumed.visits(0) == -1);
  CHECK(resumed.steps() == 0);
}

namespace {

// Rank-1 adapters with dropout 0.3 on a fixed base model, trained by AdamW on one batch. The
// adapters' seed draws every A and keys each adapter's dropout generator.
struct LoraRun {
  std::mt19937 base_rng{5};
  Transformer<TinyQwen2> model{base_rng};
  LoraAdapters<1, Transformer<TinyQwen2>> adapters;
  AdamW<> optimizer;
  training_state state;

  explicit LoraRun(std::uint64_t adapter_seed)
      : adapters(model, {.options = {.alpha = 16, .dropout = 0.3}, .seed = adapter_seed}), optimizer(adapters.parameters(), {.lr = 3e-2}) {
    state.add_model(adapters).add_optimizer(optimizer);
  }
  LoraRun(const LoraRun&) = delete;

  std::vector<float> steps(int count) {
    Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{2, 6}), targets(Shape<dyn, dyn>{2, 6});
    for (index_t i = 0; i < 12; ++i) {
      tokens.data()[i] = std::int32_t((3 * i + 1) % 8);
      targets.data()[i] = std::int32_t((5 * i + 2) % 8);
    }
    std::vector<float> losses;
    for (int s = 0; s < count; ++s) {
      auto scope = tape();
      optimizer.zero_grad();
      const auto loss = cross_entropy(model(tokens.view()), targets.view());
      backward(loss);
      optimizer.step();
      ++state.step;
      losses.push_back(loss.item());
    }
    return losses;
  }
};

}  // namespace

TEST_CASE("LoRA adapters with dropout resume from a checkpoint drawing the masks of the run that never stopped", "[io][checkpoint][lora]") {
  scratch_directory directory;
  const auto path = directory / "lora.safetensors";
  LoraRun straight(7);
  const std::vector<float> straight_losses = straight.steps(6);

  std::vector<float> resumed_losses;
  {
    LoraRun first_half(7);
    resumed_losses = first_half.steps(3);
    save_checkpoint(path, first_half.state);
  }
  // Each adapter's dropout generator is saved under its module path: seed and calls (3 steps).
  const auto reader = safetensors_reader::open(path);
  const std::string key = "ranklens.generator.model.layers.0.self_attn.q_proj.lora_dropout";
  REQUIRE(reader.metadata().contains(key));
  CHECK_THAT(reader.metadata().at(key), Catch::Matchers::EndsWith(" 3"));

  LoraRun second_half(7);
  load_checkpoint(path, second_half.state);
  for (const float loss : second_half.steps(3)) resumed_losses.push_back(loss);
  CHECK(same_bits(resumed_losses, straight_losses));

  // Adapters of another seed key other masks: their generators refuse the saved ones by name.
  LoraRun other(8);
  const std::string refused = value_error_message([&] { load_checkpoint(path, other.state); });
  CHECK_THAT(refused, Contains("'model.layers.0.self_attn.q_proj.lora_dropout'") && Contains("seed"));
  // Adapters without dropout draw no masks: nothing of theirs is registered.
  std::mt19937 base_rng(5);
  Transformer<TinyQwen2> plain_model(base_rng);
  LoraAdapters<1, Transformer<TinyQwen2>> plain(plain_model, {.seed = 7});
  training_state plain_state;
  plain_state.add_model(plain);
  save_checkpoint(directory / "plain.safetensors", plain_state);
  const auto plain_reader = safetensors_reader::open(directory / "plain.safetensors");
  for (const auto& [name, value] : plain_reader.metadata()) CHECK_FALSE(name.starts_with("ranklens.generator."));

  // A CounterGenerator registered by hand saves and restores its count the same way.
  CounterGenerator keys(11), restored(11);
  for (int i = 0; i < 4; ++i) (void)keys.next_key();
  training_state saved, loaded;
  saved.add_generator("keys", keys);
  loaded.add_generator("keys", restored);
  save_checkpoint(directory / "keys.safetensors", saved);
  load_checkpoint(directory / "keys.safetensors", loaded);
  CHECK(restored.calls() == 4);
}

TEST_CASE("registration mistakes are named when they are made", "[io][checkpoint]") {
  std::mt19937 rng(3);
  Linear<2, 3> first(rng), second(rng);
  training_state state;
  state.add_model(first);
  CHECK_THAT(value_error_message([&] { state.add_model(second); }), Contains("'param/weight'") && Contains("prefix"));

  SGD sgd(parameters(first));
  AdamW adamw(parameters(first));
  training_state optimizers;
  optimizers.add_optimizer(sgd);
  CHECK_THROWS_AS(optimizers.add_optimizer(adamw), value_error);

  Rng a(1), b(2);
  training_state generators;
  generators.add_generator("data", a);
  CHECK_THROWS_AS(generators.add_generator("data", b), value_error);

  training_state reserved;
  reserved.metadata["ranklens.step"] = "3";
  scratch_directory directory;
  CHECK_THAT(value_error_message([&] { save_checkpoint(directory / "c.safetensors", reserved); }), Contains("reserved"));
}

}  // namespace io_test_checkpoint
