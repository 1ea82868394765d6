// A training checkpoint: everything a run needs to continue exactly where it stopped, in one
// safetensors file.
//
//   io::training_state state;
//   state.add_model(model).add_optimizer(optimizer).add_generator("data", data_rng);
//   state.step = step;
//   state.metadata["run"] = "copy-previous, lr 1e-2";
//   io::save_checkpoint("runs/a/checkpoint.safetensors", state);
//   ...
//   io::load_checkpoint("runs/a/checkpoint.safetensors", state);   // same registrations, fresh objects
//
// A training_state names the live objects once; saving reads them and loading overwrites them
// in place (so references an optimizer holds stay valid). Resuming from a checkpoint gives the
// same parameters and losses, bit for bit, as the run that never stopped. Gradients are not
// saved: a step starts with zero_grad, as the usual loop does.
//
// The file. Tensors:
//   param/<name>                   every parameter's value, name as for_each_parameter gives it
//   <key>/<state>/<name>           the optimizer's state tensors (optim/optimizer_state.hpp), with
//                                  the parameter's shape, for each parameter that has state:
//                                  adamw/exp_avg/<name> and adamw/exp_avg_sq/<name> (AdamW's
//                                  moments, PyTorch's names), sgd/momentum_buffer/<name> (SGD)
//   generator/<name>               a ranklens::Rng's four state words, as I64 bit patterns
// Metadata ("ranklens." keys are ranklens'; any other key is the user's free-form metadata):
//   ranklens.checkpoint_version    "1"
//   ranklens.step                  the training step
//   ranklens.optimizer             the optimizer's kind ("AdamW", "SGD") or "none"
//   ranklens.<key>.<setting>       its options and step count: ranklens.adamw.lr, .steps_taken, ...
//   ranklens.generator.<name>      a standard engine's state (std::mt19937 and kin), as text; a
//                                  CounterGenerator's seed and call count ("<seed> <calls>"), such
//                                  as the dropout generator of each LoRA adapter with dropout > 0,
//                                  which add_model registers as <module path>.lora_dropout
//   ranklens.model_configs         a JSON list of each Transformer's configuration record
//   ranklens.checksum              content_hash of every tensor and every other metadata entry
//
// Loading checks everything before it changes anything: the checksum (a damaged or truncated
// file is an io_error), each Transformer's configuration (a mismatch names the field), every
// tensor's presence, dtype and shape, that the file holds nothing unclaimed, the optimizer's
// kind and settings (the optimizer says which must agree: AdamW and SGD restore the learning
// rate and step count and require the other options to be equal), and each generator. When a
// check fails, every registered object is as it was. A parameter without optimizer state in the
// file (it never trained) has none after loading either.
//
// Models and optimizers on another device (cuda_t) are saved and loaded through host copies:
// the file is the same whatever the device, so a run trained on the GPU resumes on the CPU and
// the other way round.
//
// Saving goes through atomic_file: temporary file, fsync, rename over the old checkpoint, fsync
// of the directory. A save that fails or is interrupted at any point leaves the previous
// checkpoint intact, and a failure leaves no temporary file.
#pragma once
#include <algorithm>
#include <array>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/core/counter_generator.hpp"
#include "ranklens/core/device.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/io/content_hash.hpp"
#include "ranklens/io/name_list.hpp"
#include "ranklens/io/tensor_io.hpp"
#include "ranklens/io/transformer_config_json.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/optim/optimizer_state.hpp"

namespace ranklens::io {

inline constexpr std::string_view checkpoint_reserved_prefix = "ranklens.";
inline constexpr std::string_view checkpoint_version = "1";

// A random engine that writes and reads its whole state as text, as the standard engines do.
template <class Engine>
concept text_state_engine = std::copyable<Engine> && requires(Engine& engine, std::ostream& out, std::istream& in) {
  out << engine;
  in >> engine;
};

class training_state;

// How a checkpoint reaches a device's memory: its copies to and from the host (memcpy for
// cpu_t, whose bytes are read and written in place).
struct device_copies {
  bool on_host = true;
  void (*to_host)(void* host, const void* src, std::size_t bytes) = nullptr;
  void (*from_host)(void* dst, const void* host, std::size_t bytes) = nullptr;

  template <Device D>
  static device_copies of() {
    if constexpr (std::same_as<D, cpu_t>) {
      return {};
    } else {
      return {false, &device_memory<D>::copy_to_host, &device_memory<D>::copy_from_host};
    }
  }
  void load(std::span<std::byte> to, std::span<const std::byte> from) const {
    if (on_host)
      std::memcpy(to.data(), from.data(), to.size());
    else
      from_host(to.data(), from.data(), to.size());
  }
};

// Writes `state` to `path` atomically. `progress` may throw to abandon the save.
inline void save_checkpoint(const std::filesystem::path& path, const training_state& state, const save_progress& progress = {});
// Restores `state`'s registered objects, step and metadata from `path`, or throws and leaves
// them all as they were.
inline void load_checkpoint(const std::filesystem::path& path, training_state& state);

class training_state {
 public:
  long long step = 0;
  // Free-form: saved as given, and replaced by the checkpoint's on load. Keys starting with
  // "ranklens." are reserved.
  std::map<std::string, std::string> metadata;

  // Every parameter of `model` (anything for_each_parameter walks), under its path, prefixed
  // by `prefix` when given. A Transformer's configuration is recorded as well.
  template <class M>
  training_state& add_model(M& model, std::string prefix = {}) {
    std::vector<tensor_slot> added;
    std::vector<std::pair<const void*, parameter_path>> paths;
    std::vector<text_generator> generators;  // training state beside the parameters (LoRA's dropout)
    if constexpr (requires { model.for_each_dropout_generator([](std::string_view, CounterGenerator&) {}); })
      model.for_each_dropout_generator([&](std::string_view module_path, CounterGenerator& generator) {
        generators.push_back(counter_generator_state((prefix.empty() ? "" : prefix + ".") + std::string(module_path) + ".lora_dropout", generator));
      });
    for_each_parameter(
        model,
        [&](std::string_view path, auto& parameter) {
          using P = std::remove_cvref_t<decltype(parameter)>;
          using T = typename P::value_type;
          auto& value = parameter.value();
          added.push_back({"param/" + std::string(path), dtype_of<T>, stored_dims(parameter.shape()),
                           std::as_writable_bytes(std::span<T>(value.data(), std::size_t(value.numel()))),
                           device_copies::of<typename P::device_type>()});
          paths.push_back({value.data(), {std::string(path), stored_dims(parameter.shape())}});
        },
        std::move(prefix));
    // All or nothing, so that a refused model leaves the state as it was.
    for (std::size_t i = 0; i < added.size(); ++i) {
      const auto same_name = [&](const tensor_slot& slot) { return slot.name == added[i].name; };
      const bool taken = std::any_of(parameters_.begin(), parameters_.end(), same_name) ||
                         std::any_of(added.begin(), added.begin() + std::ptrdiff_t(i), same_name);
      if (taken)
        throw value_error("training_state: two parameters are both saved as '" + added[i].name +
                          "'; give add_model a prefix for the second model");
    }
    for (const text_generator& generator : generators)
      if (generator_names_.contains(generator.name))
        throw value_error("training_state: two generators are both saved as '" + generator.name +
                          "'; give add_model a prefix for the second model");
    for (text_generator& generator : generators) {
      generator_names_.insert(generator.name);
      text_generators_.push_back(std::move(generator));
    }
    parameters_.insert(parameters_.end(), added.begin(), added.end());
    parameter_paths_.insert(paths.begin(), paths.end());
    if constexpr (requires { typename M::config; }) {
      if constexpr (TransformerConfig<typename M::config> && requires { model.dims(); })
        model_configs_.push_back(config_as_json<typename M::config>(model.dims()));
    }
    return *this;
  }

  // Any optimizer whose state can be saved and restored by name (optim/optimizer_state.hpp), on
  // the device its device_type names (cpu_t if none).
  template <OptimizerWithState O>
  training_state& add_optimizer(O& optimizer) {
    if (optimizer_) throw value_error("training_state: an optimizer is registered already; a checkpoint holds one");
    optimizer_.emplace(registered_optimizer{
        .memory = device_copies::of<device_of_t<O>>(),
        .kind = std::string(O::kind),
        .key = std::string(O::key),
        .state_names = {O::state_names.begin(), O::state_names.end()},
        .parameters = &optimizer.parameters(),
        .state = [&optimizer](std::size_t i, std::string_view name) { return optimizer.state(i, name); },
        .create_state = [&optimizer](std::size_t i) { optimizer.create_state(i); },
        .release_state = [&optimizer](std::size_t i) { optimizer.release_state(i); },
        .settings = [&optimizer] { return optimizer.settings(); },
        .check_settings = [&optimizer](const OptimizerSettings& saved) { optimizer.check_settings(saved); },
        .restore_settings = [&optimizer](const OptimizerSettings& saved) { optimizer.restore_settings(saved); },
    });
    return *this;
  }

  // A ranklens::Rng (core/random.hpp): its four state words.
  training_state& add_generator(std::string name, Rng& generator) {
    claim_generator_name(name);
    word_generators_.push_back({std::move(name), &generator});
    return *this;
  }

  // A CounterGenerator (core/counter_generator.hpp): its seed and call count. Loading restores
  // the count, and refuses a saved seed other than the generator's.
  training_state& add_generator(std::string name, CounterGenerator& generator) {
    claim_generator_name(name);
    text_generators_.push_back(counter_generator_state(std::move(name), generator));
    return *this;
  }

  // A standard engine (std::mt19937, std::minstd_rand, ...): its state as text.
  template <text_state_engine Engine>
  training_state& add_generator(std::string name, Engine& engine) {
    claim_generator_name(name);
    text_generators_.push_back({std::move(name),
                                [&engine] {
                                  std::ostringstream out;
                                  out << engine;
                                  return out.str();
                                },
                                [&engine](const std::string& text) -> std::function<void()> {
                                  std::istringstream in(text);
                                  Engine restored = engine;
                                  in >> restored;
                                  if (in.fail()) return {};
                                  return [&engine, restored] { engine = restored; };
                                }});
    return *this;
  }

 private:
  friend void save_checkpoint(const std::filesystem::path& path, const training_state& state, const save_progress& progress);
  friend void load_checkpoint(const std::filesystem::path& path, training_state& state);

  // One tensor saved from and restored into memory the state does not own.
  struct tensor_slot {
    std::string name;
    dtype element_type;
    std::vector<std::int64_t> shape;
    std::span<std::byte> bytes;  // in the memory of the device `memory` copies from
    device_copies memory{};
  };
  struct parameter_path {
    std::string path;
    std::vector<std::int64_t> shape;
  };
  // A registered optimizer, seen through OptimizerWithState.
  struct registered_optimizer {
    device_copies memory;  // the device its state() bytes live on
    std::string kind, key;
    std::vector<std::string_view> state_names;
    const ParameterList* parameters;
    std::function<std::span<std::byte>(std::size_t, std::string_view)> state;
    std::function<void(std::size_t)> create_state, release_state;
    std::function<OptimizerSettings()> settings;
    std::function<void(const OptimizerSettings&)> check_settings, restore_settings;
  };
  // One of the optimizer's state tensors: parameter `parameter`'s tensor `state_name`.
  struct optimizer_slot {
    std::string name;
    dtype element_type;
    std::vector<std::int64_t> shape;
    std::size_t parameter;
    std::string_view state_name;
  };
  struct word_generator {
    std::string name;
    Rng* generator;
  };
  struct text_generator {
    std::string name;
    std::function<std::string()> save;
    // Parses a saved state: a function that installs it, or an empty one if the text is bad.
    std::function<std::function<void()>(const std::string&)> prepare_restore;
  };

  // Saved as "<seed> <calls>"; a restore throws value_error for another seed.
  static text_generator counter_generator_state(std::string name, CounterGenerator& generator) {
    return {name, [&generator] { return std::to_string(generator.seed()) + " " + std::to_string(generator.calls()); },
            [&generator, name](const std::string& text) -> std::function<void()> {
              std::uint64_t seed = 0, calls = 0;
              const char* end = text.data() + text.size();
              const auto [after_seed, seed_error] = std::from_chars(text.data(), end, seed);
              if (seed_error != std::errc{} || after_seed == end || *after_seed != ' ') return {};
              const auto [after_calls, calls_error] = std::from_chars(after_seed + 1, end, calls);
              if (calls_error != std::errc{} || after_calls != end) return {};
              if (seed != generator.seed())
                throw value_error("the generator '" + name + "' was saved with seed " + std::to_string(seed) + ", the registered one has seed " +
                                  std::to_string(generator.seed()));
              return [&generator, calls] { generator.set_calls(calls); };
            }};
  }

  void claim_generator_name(const std::string& name) {
    if (name.empty() || !generator_names_.insert(name).second)
      throw value_error("training_state: generator names must be non-empty and distinct; '" + name + "' is not");
  }

  // Every state tensor the optimizer may keep, per parameter, named after the parameter: the
  // model's path when the model is registered, otherwise the parameter's own name.
  std::vector<optimizer_slot> optimizer_slots() const {
    std::vector<optimizer_slot> slots;
    if (!optimizer_) return slots;
    const ParameterList& list = *optimizer_->parameters;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const ParameterRef& p = list[i];
      std::string name(p.name);
      std::vector<std::int64_t> shape{std::int64_t(p.numel)};
      if (const auto found = parameter_paths_.find(p.value); found != parameter_paths_.end()) {
        name = found->second.path;
        shape = found->second.shape;
      }
      if (name.empty() || !seen.insert(name).second)
        throw value_error("training_state: the optimizer's parameter " + std::to_string(i) + " has the name '" + name +
                          "', which is empty or shared; register its model with add_model, or name its parameters (name_parameters)");
      for (const std::string_view state_name : optimizer_->state_names)
        slots.push_back({optimizer_->key + "/" + std::string(state_name) + "/" + name, p.type, shape, i, state_name});
    }
    return slots;
  }

  // The state tensors the optimizer holds now (parameters it never updated have none).
  std::vector<tensor_slot> optimizer_tensors() const {
    std::vector<tensor_slot> tensors;
    for (const optimizer_slot& slot : optimizer_slots())
      if (const std::span<std::byte> bytes = optimizer_->state(slot.parameter, slot.state_name); !bytes.empty())
        tensors.push_back({slot.name, slot.element_type, slot.shape, bytes, optimizer_->memory});
    return tensors;
  }

  std::vector<tensor_slot> parameters_;
  std::map<const void*, parameter_path> parameter_paths_;
  nlohmann::ordered_json model_configs_ = nlohmann::ordered_json::array();
  std::optional<registered_optimizer> optimizer_;
  std::vector<word_generator> word_generators_;
  std::vector<text_generator> text_generators_;
  std::set<std::string> generator_names_;
};

namespace checkpoint_detail {

inline constexpr std::string_view checksum_key = "ranklens.checksum";

// One tensor as the checksum sees it.
struct checksum_input {
  std::string_view name;
  dtype element_type;
  const std::vector<std::int64_t>* shape;
  std::span<const std::byte> bytes;
};

// The checksum over what the file says: every tensor (name, dtype, shape, bytes) in name
// order, then every metadata entry but the checksum itself, in key order. Saving and loading
// build it from the same description, so the order in which tensors lie in the file does not
// matter.
inline std::string checksum(std::vector<checksum_input> tensors, const std::map<std::string, std::string, std::less<>>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const checksum_input& a, const checksum_input& b) { return a.name < b.name; });
  content_hash hash;
  for (const checksum_input& tensor : tensors)
    hash.add(tensor.name).add(name_of(tensor.element_type)).add(safetensors_detail::shape_text(*tensor.shape)).add(tensor.bytes);
  for (const auto& [key, value] : metadata)
    if (key != checksum_key) hash.add(key).add(value);
  return hash.hex();
}

// Reading one checkpoint's metadata, with errors that name the file. A file that breaks the
// format is an io_error; a sound file that does not fit the registered objects a value_error.
class metadata_reader {
 public:
  metadata_reader(const safetensors_reader& reader, std::string where) : metadata_(reader.metadata()), where_(std::move(where)) {}

  [[noreturn]] void damaged(const std::string& detail) const { throw io_error(where_ + detail); }
  [[noreturn]] void refuse(const std::string& detail) const { throw value_error(where_ + detail); }

  bool contains(std::string_view key) const { return metadata_.find(key) != metadata_.end(); }

  const std::string& text(std::string_view key) const {
    const auto found = metadata_.find(key);
    if (found == metadata_.end()) damaged("its metadata has no '" + std::string(key) + "'");
    return found->second;
  }

  long long integer(std::string_view key) const {
    const std::string& value = text(key);
    long long parsed = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || end != value.data() + value.size()) damaged("'" + std::string(key) + "' is '" + value + "', not an integer");
    return parsed;
  }

  double real(std::string_view key) const {
    const std::string& value = text(key);
    double parsed = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || end != value.data() + value.size()) damaged("'" + std::string(key) + "' is '" + value + "', not a number");
    return parsed;
  }

  bool boolean(std::string_view key) const {
    const std::string& value = text(key);
    if (value != "true" && value != "false") damaged("'" + std::string(key) + "' is '" + value + "', not true or false");
    return value == "true";
  }

 private:
  const std::map<std::string, std::string, std::less<>>& metadata_;
  std::string where_;
};

}  // namespace checkpoint_detail

inline void save_checkpoint(const std::filesystem::path& path, const training_state& state, const save_progress& progress) {
  using namespace checkpoint_detail;
  std::map<std::string, std::string, std::less<>> metadata;
  for (const auto& [key, value] : state.metadata) {
    if (key.starts_with(checkpoint_reserved_prefix))
      throw value_error("save_checkpoint: the metadata key '" + key + "' starts with 'ranklens.', which is reserved");
    metadata[key] = value;
  }
  metadata["ranklens.checkpoint_version"] = checkpoint_version;
  metadata["ranklens.step"] = std::to_string(state.step);
  if (state.optimizer_) {
    metadata["ranklens.optimizer"] = state.optimizer_->kind;
    const OptimizerSettings settings = state.optimizer_->settings();
    for (const auto& [key, value] : settings.values()) metadata["ranklens." + state.optimizer_->key + "." + key] = value;
  } else {
    metadata["ranklens.optimizer"] = "none";
  }
  if (!state.model_configs_.empty()) metadata["ranklens.model_configs"] = state.model_configs_.dump();
  for (const auto& generator : state.text_generators_) metadata["ranklens.generator." + generator.name] = generator.save();

  std::vector<training_state::tensor_slot> tensors = state.parameters_;
  for (auto& slot : state.optimizer_tensors()) tensors.push_back(std::move(slot));
  // Tensors on another device are read through host copies, made before anything is written.
  std::vector<std::vector<std::byte>> staged;
  staged.reserve(tensors.size());  // the spans below point into it
  for (auto& slot : tensors) {
    if (slot.memory.on_host) continue;
    auto& host = staged.emplace_back(slot.bytes.size());
    slot.memory.to_host(host.data(), slot.bytes.data(), host.size());
    slot.bytes = host;
    slot.memory = {};
  }
  std::vector<std::array<std::uint64_t, 4>> generator_words;
  generator_words.reserve(state.word_generators_.size());  // the spans below point into it
  for (const auto& generator : state.word_generators_) {
    const auto& words = generator_words.emplace_back(generator.generator->state());
    tensors.push_back({"generator/" + generator.name, dtype::i64, {4},
                       std::span<std::byte>(reinterpret_cast<std::byte*>(const_cast<std::uint64_t*>(words.data())), sizeof words)});
  }

  std::vector<checksum_input> inputs;
  for (const auto& slot : tensors) inputs.push_back({slot.name, slot.element_type, &slot.shape, slot.bytes});
  metadata[std::string(checksum_key)] = checksum(std::move(inputs), metadata);

  tensor_writer writer;
  for (const auto& slot : tensors) writer.add_bytes(slot.name, slot.element_type, slot.shape, slot.bytes);
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  writer.save(path, progress);
}

inline void load_checkpoint(const std::filesystem::path& path, training_state& state) {
  using namespace checkpoint_detail;
  const safetensors_reader reader = safetensors_reader::open(path);  // a damaged header or a short file throws here
  const metadata_reader meta(reader, "load_checkpoint: '" + path.string() + "': ");

  if (!meta.contains("ranklens.checkpoint_version"))
    meta.damaged("it is not a ranklens training checkpoint (its metadata has no 'ranklens.checkpoint_version')");
  if (meta.text("ranklens.checkpoint_version") != checkpoint_version)
    meta.damaged("it is a version " + meta.text("ranklens.checkpoint_version") + " checkpoint; this ranklens reads version " +
                 std::string(checkpoint_version));
  {
    std::vector<checksum_input> inputs;
    for (const auto& entry : reader.entries()) inputs.push_back({entry.name, entry.element_type, &entry.shape, reader.bytes(entry)});
    const std::string computed = checksum(std::move(inputs), reader.metadata());
    const std::string& stored = meta.text(checksum_key);
    if (computed != stored)
      meta.damaged("its contents do not match its checksum (stored " + stored + ", computed " + computed + "): the file is damaged");
  }

  // Configurations first: "vocab_size is 8 in the checkpoint but 9 in the model" says more than
  // the shape of an embedding.
  if (meta.contains("ranklens.model_configs") || !state.model_configs_.empty()) {
    const auto saved = meta.contains("ranklens.model_configs")
                           ? nlohmann::ordered_json::parse(meta.text("ranklens.model_configs"), nullptr, false)
                           : nlohmann::ordered_json::array();
    if (!saved.is_array()) meta.damaged("'ranklens.model_configs' is not a JSON list");
    if (saved.size() != state.model_configs_.size())
      meta.refuse("the checkpoint holds " + std::to_string(saved.size()) + " Transformer configurations, the state registers " +
                  std::to_string(state.model_configs_.size()));
    for (std::size_t i = 0; i < saved.size(); ++i)
      if (const auto difference = first_config_difference(saved[i], "the checkpoint", state.model_configs_[i], "the model"))
        meta.refuse("the model's configuration differs: " + *difference);
  }

  // Every tensor the state needs, with its dtype and shape; copied only once all is checked.
  struct pending_copy {
    std::span<std::byte> to;
    std::span<const std::byte> from;
    device_copies memory;
  };
  std::vector<pending_copy> copies;
  std::set<std::string, std::less<>> claimed;
  std::vector<std::string> missing;
  // The entry of a tensor the state needs, checked against the dtype and shape it needs, or
  // nullptr (noted as missing) when the file lacks it.
  auto claim = [&](const std::string& name, dtype element_type, const std::vector<std::int64_t>& shape) -> const safetensors_entry* {
    const safetensors_entry* entry = reader.header().find(name);
    if (entry == nullptr) {
      missing.push_back(name);
      return nullptr;
    }
    if (entry->element_type != element_type)
      meta.refuse("tensor '" + name + "' is " + std::string(name_of(entry->element_type)) + " in the checkpoint but " +
                  std::string(name_of(element_type)) + " here");
    if (entry->shape != shape)
      meta.refuse("tensor '" + name + "' has shape " + safetensors_detail::shape_text(entry->shape) + " in the checkpoint, but " +
                  safetensors_detail::shape_text(shape) + " here");
    claimed.insert(name);
    return entry;
  };
  for (const auto& slot : state.parameters_)
    if (const safetensors_entry* entry = claim(slot.name, slot.element_type, slot.shape)) copies.push_back({slot.bytes, reader.bytes(*entry), slot.memory});

  const std::string registered = state.optimizer_ ? state.optimizer_->kind : "none";
  const std::string& saved_optimizer = meta.text("ranklens.optimizer");
  if (saved_optimizer != registered)
    meta.refuse("the checkpoint holds the state of optimizer '" + saved_optimizer + "', but the registered optimizer is '" + registered + "'");
  // A parameter's optimizer state is all in the file, or none of it (the parameter never trained).
  struct pending_state {
    std::size_t parameter;
    std::vector<std::pair<std::string_view, std::span<const std::byte>>> tensors;  // empty: no state
  };
  std::vector<pending_state> optimizer_states;
  const std::vector<training_state::optimizer_slot> slots = state.optimizer_slots();
  for (std::size_t first = 0, end = 0; first < slots.size(); first = end) {
    while (end < slots.size() && slots[end].parameter == slots[first].parameter) ++end;
    pending_state pending{slots[first].parameter, {}};
    const bool any_in_file = std::any_of(slots.begin() + std::ptrdiff_t(first), slots.begin() + std::ptrdiff_t(end),
                                         [&](const auto& slot) { return reader.header().find(slot.name) != nullptr; });
    for (std::size_t k = first; any_in_file && k < end; ++k)
      if (const safetensors_entry* entry = claim(slots[k].name, slots[k].element_type, slots[k].shape))
        pending.tensors.emplace_back(slots[k].state_name, reader.bytes(*entry));
    optimizer_states.push_back(std::move(pending));
  }
  if (!missing.empty())
    meta.refuse("the checkpoint lacks " + std::to_string(missing.size()) + " tensors the state needs: " + quoted_names(missing));

  OptimizerSettings optimizer_settings;
  if (state.optimizer_) {
    const std::string prefix = "ranklens." + state.optimizer_->key + ".";
    for (const auto& [key, value] : reader.metadata())
      if (key.starts_with(prefix)) optimizer_settings.set(key.substr(prefix.size()), value);
    try {
      state.optimizer_->check_settings(optimizer_settings);
    } catch (const io_error& error) {
      meta.damaged(std::string("the optimizer settings (") + prefix + "*) are damaged: " + error.what());
    } catch (const value_error& error) {
      meta.refuse(error.what());
    }
  }

  std::vector<std::function<void()>> restore_generators;
  for (const auto& generator : state.word_generators_) {
    const std::string name = "generator/" + generator.name;
    const safetensors_entry* entry = reader.header().find(name);
    if (entry == nullptr) meta.refuse("the checkpoint has no state for the generator '" + generator.name + "'");
    if (entry->element_type != dtype::i64 || entry->shape != std::vector<std::int64_t>{4})
      meta.damaged("tensor '" + name + "' should be I64 of shape [4] (a ranklens::Rng's state)");
    claimed.insert(name);
    std::array<std::uint64_t, 4> words{};
    std::memcpy(words.data(), reader.bytes(*entry).data(), sizeof words);
    if (words == std::array<std::uint64_t, 4>{}) meta.damaged("tensor '" + name + "' is all zero, which no xoshiro generator can be in");
    Rng* target = generator.generator;
    restore_generators.push_back([target, words] { *target = Rng::from_state(words[0], words[1], words[2], words[3]); });
  }
  std::set<std::string, std::less<>> text_generator_keys;
  for (const auto& generator : state.text_generators_) {
    const std::string key = "ranklens.generator." + generator.name;
    if (!meta.contains(key)) meta.refuse("the checkpoint has no state for the generator '" + generator.name + "'");
    std::function<void()> restore;
    try {
      restore = generator.prepare_restore(meta.text(key));
    } catch (const value_error& e) {
      meta.refuse(e.what());
    }
    if (!restore) meta.damaged("the state of the generator '" + generator.name + "' does not parse");
    restore_generators.push_back(std::move(restore));
    text_generator_keys.insert(key);
  }
  for (const auto& [key, value] : reader.metadata())
    if (key.starts_with("ranklens.generator.") && !text_generator_keys.contains(key))
      meta.refuse("the checkpoint holds the generator '" + key.substr(std::string_view("ranklens.generator.").size()) +
                  "', which the state does not register");

  std::vector<std::string> unclaimed;
  for (const auto& entry : reader.entries())
    if (!claimed.contains(entry.name)) unclaimed.push_back(entry.name);
  if (!unclaimed.empty())
    meta.refuse("the checkpoint holds " + std::to_string(unclaimed.size()) + " tensors the state has no place for: " + quoted_names(unclaimed));

  const long long step = meta.integer("ranklens.step");

  // Everything checked: now change things.
  for (const pending_copy& copy : copies)
    if (!copy.to.empty()) copy.memory.load(copy.to, copy.from);
  for (const pending_state& pending : optimizer_states) {
    if (pending.tensors.empty()) {
      state.optimizer_->release_state(pending.parameter);
      continue;
    }
    state.optimizer_->create_state(pending.parameter);
    for (const auto& [state_name, bytes] : pending.tensors) {
      const std::span<std::byte> to = state.optimizer_->state(pending.parameter, state_name);
      if (!to.empty()) state.optimizer_->memory.load(to, bytes);
    }
  }
  if (state.optimizer_) state.optimizer_->restore_settings(optimizer_settings);
  for (const auto& restore : restore_generators) restore();
  state.step = step;
  state.metadata.clear();
  for (const auto& [key, value] : reader.metadata())
    if (!key.starts_with(checkpoint_reserved_prefix)) state.metadata[key] = value;
}

}  // namespace ranklens::io
