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
//   adamw/exp_avg/<name>           AdamW's moments (PyTorch's names), with the parameter's shape
//   adamw/exp_avg_sq/<name>
//   sgd/momentum_buffer/<name>     SGD's momentum
//   generator/<name>               a ranklens::Rng's four state words, as I64 bit patterns
// Metadata ("ranklens." keys are ranklens'; any other key is the user's free-form metadata):
//   ranklens.checkpoint_version    "1"
//   ranklens.step                  the training step
//   ranklens.optimizer             "AdamW", "SGD" or "none", with its options and step count
//                                  under ranklens.adamw.* / ranklens.sgd.*
//   ranklens.generator.<name>      a standard engine's state (std::mt19937 and kin), as text
//   ranklens.model_configs         a JSON list of each Transformer's configuration record
//   ranklens.checksum              content_hash of every tensor and every other metadata entry
//
// Loading checks everything before it changes anything: the checksum (a damaged or truncated
// file is an io_error), each Transformer's configuration (a mismatch names the field), every
// tensor's presence, dtype and shape, that the file holds nothing unclaimed, the optimizer's
// kind and options (the learning rate is restored; the others must agree), and each generator.
// When a check fails, every registered object is as it was.
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

#include "ranklens/core/error.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/io/content_hash.hpp"
#include "ranklens/io/name_list.hpp"
#include "ranklens/io/tensor_io.hpp"
#include "ranklens/io/transformer_config_json.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/sgd.hpp"

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
    for_each_parameter(
        model,
        [&](std::string_view path, auto& parameter) {
          using T = typename std::remove_cvref_t<decltype(parameter)>::value_type;
          auto& value = parameter.value();
          added.push_back({"param/" + std::string(path), dtype_of<T>, stored_dims(parameter.shape()),
                           std::as_writable_bytes(std::span<T>(value.data(), std::size_t(value.numel())))});
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
    parameters_.insert(parameters_.end(), added.begin(), added.end());
    parameter_paths_.insert(paths.begin(), paths.end());
    if constexpr (requires { typename M::config; }) {
      if constexpr (TransformerConfig<typename M::config>) model_configs_.push_back(config_as_json<typename M::config>());
    }
    return *this;
  }

  training_state& add_optimizer(AdamW& optimizer) {
    require_no_optimizer();
    adamw_ = &optimizer;
    return *this;
  }
  training_state& add_optimizer(SGD& optimizer) {
    require_no_optimizer();
    sgd_ = &optimizer;
    return *this;
  }

  // A ranklens::Rng (core/random.hpp): its four state words.
  training_state& add_generator(std::string name, Rng& generator) {
    claim_generator_name(name);
    word_generators_.push_back({std::move(name), &generator});
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
    std::span<std::byte> bytes;
  };
  struct parameter_path {
    std::string path;
    std::vector<std::int64_t> shape;
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

  void require_no_optimizer() const {
    if (adamw_ != nullptr || sgd_ != nullptr) throw value_error("training_state: an optimizer is registered already; a checkpoint holds one");
  }

  void claim_generator_name(const std::string& name) {
    if (name.empty() || !generator_names_.insert(name).second)
      throw value_error("training_state: generator names must be non-empty and distinct; '" + name + "' is not");
  }

  // The optimizer's per-parameter state tensors, named after the parameters they belong to.
  std::vector<tensor_slot> optimizer_tensors() const {
    std::vector<tensor_slot> slots;
    const ParameterList* list = adamw_ != nullptr ? &adamw_->parameters() : sgd_ != nullptr ? &sgd_->parameters() : nullptr;
    if (list == nullptr) return slots;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const ParameterRef& p = (*list)[i];
      // The model's path when the model is registered; otherwise the parameter's own name.
      std::string name(p.name);
      std::vector<std::int64_t> shape{std::int64_t(p.numel)};
      if (const auto found = parameter_paths_.find(p.value); found != parameter_paths_.end()) {
        name = found->second.path;
        shape = found->second.shape;
      }
      if (name.empty() || !seen.insert(name).second)
        throw value_error("training_state: the optimizer's parameter " + std::to_string(i) + " has the name '" + name +
                          "', which is empty or shared; register its model with add_model, or name its parameters (name_parameters)");
      if (adamw_ != nullptr) {
        slots.push_back({"adamw/exp_avg/" + name, p.type, shape, adamw_->first_moment(i)});
        slots.push_back({"adamw/exp_avg_sq/" + name, p.type, shape, adamw_->second_moment(i)});
      } else {
        slots.push_back({"sgd/momentum_buffer/" + name, p.type, shape, sgd_->momentum_buffer(i)});
      }
    }
    return slots;
  }

  std::vector<tensor_slot> parameters_;
  std::map<const void*, parameter_path> parameter_paths_;
  nlohmann::ordered_json model_configs_ = nlohmann::ordered_json::array();
  AdamW* adamw_ = nullptr;
  SGD* sgd_ = nullptr;
  std::vector<word_generator> word_generators_;
  std::vector<text_generator> text_generators_;
  std::set<std::string> generator_names_;
};

namespace checkpoint_detail {

inline constexpr std::string_view checksum_key = "ranklens.checksum";

// Shortest text that reads back as the same double.
inline std::string exact_text(double value) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
}

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

  // An optimizer option that must be what the registered optimizer was built with.
  void require_option(std::string_view optimizer, std::string_view option, double mine) const {
    const double saved = real("ranklens." + std::string(optimizer == "AdamW" ? "adamw" : "sgd") + "." + std::string(option));
    if (saved != mine)
      refuse("the checkpoint's " + std::string(optimizer) + " has " + std::string(option) + " = " + exact_text(saved) +
             ", the registered one " + exact_text(mine) + "; build the optimizer with the checkpoint's options");
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
  if (state.adamw_ != nullptr) {
    const AdamW& adamw = *state.adamw_;
    metadata["ranklens.optimizer"] = "AdamW";
    metadata["ranklens.adamw.steps_taken"] = std::to_string(adamw.steps_taken());
    metadata["ranklens.adamw.lr"] = exact_text(adamw.options().lr);
    metadata["ranklens.adamw.beta1"] = exact_text(adamw.options().beta1);
    metadata["ranklens.adamw.beta2"] = exact_text(adamw.options().beta2);
    metadata["ranklens.adamw.eps"] = exact_text(adamw.options().eps);
    metadata["ranklens.adamw.weight_decay"] = exact_text(adamw.options().weight_decay);
  } else if (state.sgd_ != nullptr) {
    const SGD& sgd = *state.sgd_;
    metadata["ranklens.optimizer"] = "SGD";
    metadata["ranklens.sgd.has_stepped"] = sgd.has_stepped() ? "true" : "false";
    metadata["ranklens.sgd.lr"] = exact_text(sgd.options().lr);
    metadata["ranklens.sgd.momentum"] = exact_text(sgd.options().momentum);
    metadata["ranklens.sgd.dampening"] = exact_text(sgd.options().dampening);
    metadata["ranklens.sgd.weight_decay"] = exact_text(sgd.options().weight_decay);
    metadata["ranklens.sgd.nesterov"] = sgd.options().nesterov ? "true" : "false";
  } else {
    metadata["ranklens.optimizer"] = "none";
  }
  if (!state.model_configs_.empty()) metadata["ranklens.model_configs"] = state.model_configs_.dump();
  for (const auto& generator : state.text_generators_) metadata["ranklens.generator." + generator.name] = generator.save();

  std::vector<training_state::tensor_slot> tensors = state.parameters_;
  for (auto& slot : state.optimizer_tensors()) tensors.push_back(std::move(slot));
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
  };
  std::vector<pending_copy> copies;
  std::set<std::string, std::less<>> claimed;
  std::vector<std::string> missing;
  auto claim = [&](const training_state::tensor_slot& slot) {
    const safetensors_entry* entry = reader.header().find(slot.name);
    if (entry == nullptr) {
      missing.push_back(slot.name);
      return;
    }
    if (entry->element_type != slot.element_type)
      meta.refuse("tensor '" + slot.name + "' is " + std::string(name_of(entry->element_type)) + " in the checkpoint but " +
                  std::string(name_of(slot.element_type)) + " here");
    if (entry->shape != slot.shape)
      meta.refuse("tensor '" + slot.name + "' has shape " + safetensors_detail::shape_text(entry->shape) +
                  " in the checkpoint, but " + safetensors_detail::shape_text(slot.shape) + " here");
    claimed.insert(slot.name);
    copies.push_back({slot.bytes, reader.bytes(*entry)});
  };
  for (const auto& slot : state.parameters_) claim(slot);
  const std::vector<training_state::tensor_slot> optimizer_slots = state.optimizer_tensors();

  const std::string registered = state.adamw_ != nullptr ? "AdamW" : state.sgd_ != nullptr ? "SGD" : "none";
  const std::string& saved_optimizer = meta.text("ranklens.optimizer");
  if (saved_optimizer != registered)
    meta.refuse("the checkpoint holds the state of optimizer '" + saved_optimizer + "', but the registered optimizer is '" + registered + "'");
  for (const auto& slot : optimizer_slots) claim(slot);
  if (!missing.empty())
    meta.refuse("the checkpoint lacks " + std::to_string(missing.size()) + " tensors the state needs: " + quoted_names(missing));

  long long adamw_steps = 0;
  double lr = 0;
  bool sgd_has_stepped = false;
  if (state.adamw_ != nullptr) {
    const AdamWOptions& options = state.adamw_->options();
    meta.require_option("AdamW", "beta1", options.beta1);
    meta.require_option("AdamW", "beta2", options.beta2);
    meta.require_option("AdamW", "eps", options.eps);
    meta.require_option("AdamW", "weight_decay", options.weight_decay);
    adamw_steps = meta.integer("ranklens.adamw.steps_taken");
    lr = meta.real("ranklens.adamw.lr");
  } else if (state.sgd_ != nullptr) {
    const SGDOptions& options = state.sgd_->options();
    meta.require_option("SGD", "momentum", options.momentum);
    meta.require_option("SGD", "dampening", options.dampening);
    meta.require_option("SGD", "weight_decay", options.weight_decay);
    if (meta.boolean("ranklens.sgd.nesterov") != options.nesterov)
      meta.refuse("the checkpoint's SGD has nesterov = " + meta.text("ranklens.sgd.nesterov") + ", the registered one the opposite");
    sgd_has_stepped = meta.boolean("ranklens.sgd.has_stepped");
    lr = meta.real("ranklens.sgd.lr");
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
    auto restore = generator.prepare_restore(meta.text(key));
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
    if (!copy.to.empty()) std::memcpy(copy.to.data(), copy.from.data(), copy.to.size());
  if (state.adamw_ != nullptr) {
    state.adamw_->set_steps_taken(adamw_steps);
    state.adamw_->set_lr(lr);
  } else if (state.sgd_ != nullptr) {
    state.sgd_->set_has_stepped(sgd_has_stepped);
    state.sgd_->set_lr(lr);
  }
  for (const auto& restore : restore_generators) restore();
  state.step = step;
  state.metadata.clear();
  for (const auto& [key, value] : reader.metadata())
    if (!key.starts_with(checkpoint_reserved_prefix)) state.metadata[key] = value;
}

}  // namespace ranklens::io
