// LoRA adapters as a PEFT adapter directory, which `PeftModel.from_pretrained(base, dir)` loads
// and `model.save_pretrained(dir)` writes:
//
//   adapter_config.json         peft_type "LORA", r, lora_alpha, use_rslora, target_modules,
//                               lora_dropout, bias "none", task_type "CAUSAL_LM",
//                               base_model_name_or_path, fan_in_fan_out, layers_to_transform, ...
//   adapter_model.safetensors   base_model.model.<layer path>.lora_A.weight  (r, in)
//                               base_model.model.<layer path>.lora_B.weight  (out, r)
//
//   io::save_peft_adapter(adapters, "runs/rank1", {.base_model_name_or_path = "runs/base"});
//   LoraAdapters<1, Model> loaded(model, io::read_peft_config<1>(model, "runs/rank1"));
//   io::load_peft_adapter(loaded, "runs/rank1");
//
// PEFT loads adapters leniently (a misspelt key is a warning and leaves that adapter at its
// initial value); ranklens does not. Loading checks everything before it changes anything:
// the configuration (LoRA, the compiled rank, targets and layers this model has, no feature
// ranklens does not implement: DoRA, bias training, per-module ranks), every tensor present
// with its exact shape, a floating dtype and finite values, nothing unexpected, and, when the
// directory was written by ranklens, that the base model is the one it was trained on (a hash
// of the base weights recorded at save time). An error names the file and the key.
//
// The weights are written first, then the configuration, each atomically; the weights record
// the configuration they were saved with, so that a directory whose two files come from two
// saves is refused.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/io/content_hash.hpp"
#include "ranklens/io/hf_config.hpp"
#include "ranklens/io/name_list.hpp"
#include "ranklens/io/tensor_io.hpp"

namespace ranklens::io {

inline constexpr std::string_view peft_config_file_name = "adapter_config.json";
inline constexpr std::string_view peft_weights_file_name = "adapter_model.safetensors";
// PeftModel's prefix in front of the base model's own parameter paths.
inline constexpr std::string_view peft_key_prefix = "base_model.model.";
// Metadata ranklens adds to the weights (PEFT ignores it).
inline constexpr std::string_view peft_config_record_key = "ranklens.adapter_config";
inline constexpr std::string_view peft_base_hash_key = "ranklens.base_model_hash";

struct PeftSaveOptions {
  std::string base_model_name_or_path{};  // what PEFT records; PeftModel.from_pretrained takes the base itself
  std::optional<dtype> stored_as{};       // F16, BF16, F32 or F64; by default the adapters' own
};

namespace peft_detail {

inline std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// The target_modules a config lists: the sites' own names, reduced to what PEFT users write
// (the last path component) wherever that selects exactly the same modules.
template <class Adapters>
std::vector<std::string> target_modules_of(const Adapters& adapters) {
  using block_type = typename Adapters::block_type;
  std::vector<std::string> attached;
  for (const auto& site : adapters.sites())
    if (std::find(attached.begin(), attached.end(), site.site) == attached.end()) attached.emplace_back(site.site);
  std::vector<std::string> targets;
  for (const std::string& site : attached) {
    const std::string last = site.substr(site.rfind('.') + 1);
    bool last_is_unique = true;  // no other site of the block ends in the same name
    for (std::size_t s = 0; s < block_type::site_count; ++s) {
      const std::string_view other = block_type::all_sites[s];
      if (other != site && detail::matches_target(other, last)) last_is_unique = false;
    }
    const std::string& target = last_is_unique ? last : site;
    if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
  }
  return targets;
}

// The configuration as adapter_config.json holds it (PEFT's LoraConfig fields).
template <class Adapters>
nlohmann::ordered_json config_json(const Adapters& adapters, const PeftSaveOptions& options) {
  const LoraConfig& config = adapters.config();
  nlohmann::ordered_json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  j["base_model_name_or_path"] = options.base_model_name_or_path;
  j["r"] = Adapters::rank;
  j["lora_alpha"] = config.options.alpha;
  j["use_rslora"] = config.options.rslora;
  j["lora_dropout"] = config.options.dropout;
  j["target_modules"] = target_modules_of(adapters);
  if (config.layers.empty())
    j["layers_to_transform"] = nullptr;
  else
    j["layers_to_transform"] = config.layers;
  j["layers_pattern"] = nullptr;
  j["fan_in_fan_out"] = Adapters::model_type::config::layout == checkpoint_layout::gpt2;  // GPT-2's Conv1D stores W as (in, out)
  j["bias"] = "none";
  j["modules_to_save"] = nullptr;
  j["init_lora_weights"] = true;
  j["use_dora"] = false;
  j["rank_pattern"] = nlohmann::ordered_json::object();
  j["alpha_pattern"] = nlohmann::ordered_json::object();
  j["inference_mode"] = true;
  return j;
}

// A hash of every base-model weight, to recognise the model an adapter was trained on. Weights
// on another device are hashed from host copies, so the hash does not depend on the device.
template <class Model>
std::string base_model_hash(const Model& model) {
  content_hash hash;
  for_each_parameter(model, [&](std::string_view path, const auto& parameter) {
    hash.add(path);
    const auto& value = parameter.value();
    if constexpr (std::same_as<typename std::remove_cvref_t<decltype(parameter)>::device_type, cpu_t>) {
      hash.add(std::as_bytes(std::span(value.data(), std::size_t(value.numel()))));
    } else {
      const auto host = to_host(value.view());
      hash.add(std::as_bytes(std::span(host.data(), std::size_t(host.numel()))));
    }
  });
  return hash.hex();
}

// Reads and checks what a config says; `what` prefixes errors with the file.
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& json, std::string what) : json_(json), what_(std::move(what)) {
    if (!json_.is_object()) fail("the file does not hold a JSON object");
  }
  [[noreturn]] void fail(const std::string& message) const { throw value_error(what_ + ": " + message); }

  const nlohmann::json* find(std::string_view key) const {
    const auto it = json_.find(std::string(key));
    return it == json_.end() || it->is_null() ? nullptr : &*it;
  }
  const nlohmann::json& require(std::string_view key) const {
    const auto* value = find(key);
    if (value == nullptr) fail("'" + std::string(key) + "' is missing");
    return *value;
  }
  double number(std::string_view key) const {
    const auto& value = require(key);
    if (!value.is_number() || !std::isfinite(value.get<double>())) fail("'" + std::string(key) + "' must be a finite number");
    return value.get<double>();
  }
  bool boolean(std::string_view key, bool fallback) const {
    const auto* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) fail("'" + std::string(key) + "' must be true or false");
    return value->get<bool>();
  }
  // A key that, when present, must be one of `allowed` (absent and null are fine).
  void only(std::string_view key, std::initializer_list<const char*> allowed, const std::string& why) const {
    const auto* value = find(key);
    if (value == nullptr) return;
    for (const char* a : allowed)
      if (value->is_string() && value->get<std::string>() == a) return;
    fail("'" + std::string(key) + "' is " + value->dump() + ": " + why);
  }
  // A key that, when present, must be empty (null, {}, [] or false).
  void empty(std::string_view key, const std::string& why) const {
    const auto* value = find(key);
    if (value == nullptr) return;
    if ((value->is_object() || value->is_array()) && value->empty()) return;
    if (value->is_boolean() && !value->get<bool>()) return;
    fail("'" + std::string(key) + "' is " + value->dump() + ": " + why);
  }

 private:
  const nlohmann::json& json_;
  std::string what_;
};

inline std::string key_of(std::string_view parameter_path) {
  return std::string(peft_key_prefix) + std::string(parameter_path);
}

}  // namespace peft_detail

// Writes adapter_model.safetensors, then adapter_config.json, into `directory` (created if
// missing). The adapters must not be merged: their base weights are hashed as the base.
// Adapters on another device are written from host copies: the files are the same.
template <index_t Rank, class Model>
void save_peft_adapter(LoraAdapters<Rank, Model>& adapters, const std::filesystem::path& directory, const PeftSaveOptions& options = {}) {
  using peft_detail::quoted;
  using T = typename Model::value_type;
  if (adapters.merged())
    throw value_error("save_peft_adapter: the adapters are merged into the model; unmerge() them before saving " + quoted(directory));
  const dtype stored = options.stored_as.value_or(dtype_of<T>);
  if (stored != dtype::f16 && stored != dtype::bf16 && stored != dtype::f32 && stored != dtype::f64)
    throw value_error("save_peft_adapter: adapters cannot be stored as " + std::string(name_of(stored)) + "; expected F16, BF16, F32 or F64");
  std::error_code failure;
  std::filesystem::create_directories(directory, failure);
  if (failure) throw io_error("save_peft_adapter: cannot create the directory " + quoted(directory) + ": " + failure.message());

  const nlohmann::ordered_json config = peft_detail::config_json(adapters, options);
  tensor_writer weights;
  for_each_parameter(adapters, [&](std::string_view path, const auto& parameter) {
    weights.add(peft_detail::key_of(path), parameter, stored);
  });
  weights.set_metadata("format", "pt");
  weights.set_metadata(std::string(peft_config_record_key), config.dump());
  weights.set_metadata(std::string(peft_base_hash_key), peft_detail::base_model_hash(adapters.model()));
  weights.save(directory / peft_weights_file_name);

  const std::string text = config.dump(2) + "\n";
  write_text_atomically(directory / peft_config_file_name, text);
}

// The LoraConfig that `directory`'s adapter_config.json describes, checked against the rank
// this program is compiled for and against `model` (its layers and projections). Construct
// the LoraAdapters from it, then load_peft_adapter.
template <index_t Rank, class Model>
LoraConfig read_peft_config(const Model& model, const std::filesystem::path& directory) {
  using block_type = LoraBlock<typename Model::config, Rank, typename Model::value_type>;
  const std::filesystem::path path = directory / peft_config_file_name;
  if (!std::filesystem::is_regular_file(path))
    throw io_error("read_peft_config: " + peft_detail::quoted(directory) + " has no " + std::string(peft_config_file_name));
  const nlohmann::json json = read_json_file(path);
  const peft_detail::ConfigReader config(json, "read_peft_config: " + peft_detail::quoted(path));

  config.only("peft_type", {"LORA"}, "only LoRA adapters are supported");
  const double r = config.number("r");
  if (r != double(Rank))
    config.fail("'r' is " + json["r"].dump() + ", but this program is compiled for rank " + std::to_string(Rank) +
                " (LoraAdapters<" + std::to_string(Rank) + ", ...>)");
  config.only("bias", {"none"}, "ranklens trains no biases");
  config.empty("use_dora", "DoRA is not supported");
  config.empty("rank_pattern", "per-module ranks are not supported");
  config.empty("alpha_pattern", "per-module alphas are not supported");
  config.empty("modules_to_save", "fully trained extra modules are not supported");
  config.empty("layer_replication", "layer replication is not supported");
  config.empty("layers_pattern", "ranklens selects layers by index only (layers_to_transform)");
  config.empty("exclude_modules", "excluding modules from the targets is not supported");
  config.empty("lora_bias", "a trained bias in lora_B is not supported");
  config.empty("target_parameters", "adapters on bare parameters are not supported");
  config.empty("trainable_token_indices", "trainable token embeddings are not supported");
  config.empty("use_qalora", "QALoRA is not supported");
  config.empty("alora_invocation_tokens", "activated LoRA is not supported");
  const bool conv1d = Model::config::layout == checkpoint_layout::gpt2;
  if (config.boolean("fan_in_fan_out", conv1d) != conv1d)
    config.fail(std::string("'fan_in_fan_out' is ") + (conv1d ? "false" : "true") + ", but this model's projections store their weights as " +
                (conv1d ? "(in, out) (GPT-2's Conv1D): it must be true" : "(out, in) (nn.Linear): it must be false"));

  LoraConfig out;
  out.options.alpha = config.number("lora_alpha");
  out.options.rslora = config.boolean("use_rslora", false);
  out.options.dropout = config.find("lora_dropout") ? config.number("lora_dropout") : 0.0;
  if (!(out.options.dropout >= 0 && out.options.dropout < 1)) config.fail("'lora_dropout' must be in [0, 1)");

  const nlohmann::json& targets = config.require("target_modules");
  if (targets.is_string()) {
    // PEFT also takes one string, as a regular expression over module paths; "all-linear"
    // means every projection, which is what an empty list means here.
    if (targets.get<std::string>() != "all-linear")
      config.fail("'target_modules' is the regular expression " + targets.dump() + "; give a list of module names instead");
  } else if (targets.is_array()) {
    for (const auto& target : targets) {
      if (!target.is_string()) config.fail("'target_modules' must list names, found " + target.dump());
      out.target_modules.push_back(target.get<std::string>());
    }
  } else {
    config.fail("'target_modules' must be a list of names");
  }
  if (const auto* layers = config.find("layers_to_transform")) {
    if (layers->is_number_integer())
      out.layers.push_back(layers->get<index_t>());
    else if (layers->is_array())
      for (const auto& layer : *layers) {
        if (!layer.is_number_integer()) config.fail("'layers_to_transform' must list layer numbers, found " + layer.dump());
        out.layers.push_back(layer.get<index_t>());
      }
    else
      config.fail("'layers_to_transform' must be a layer number or a list of them");
  }
  // The same checks LoraAdapters makes, named after this file.
  const index_t n_layers = index_t(model.blocks.size());
  for (const index_t l : out.layers)
    if (l < 0 || l >= n_layers)
      config.fail("'layers_to_transform' names layer " + std::to_string(l) + ", but the model has " + std::to_string(n_layers) + " layers");
  for (const std::string& target : out.target_modules) {
    bool found = false;
    for (std::size_t s = 0; s < block_type::site_count && !found; ++s) found = detail::matches_target(block_type::all_sites[s], target);
    if (!found) config.fail("target module '" + target + "' is not a projection of this model");
  }
  return out;
}

// Loads the tensors of `directory` into `adapters`, whose configuration must be the one the
// directory describes (construct them from read_peft_config). Every check comes first: when
// one fails, the adapters are unchanged.
template <index_t Rank, class Model>
void load_peft_adapter(LoraAdapters<Rank, Model>& adapters, const std::filesystem::path& directory) {
  using peft_detail::quoted;
  using T = typename Model::value_type;
  namespace fs = std::filesystem;
  const fs::path weights_path = directory / peft_weights_file_name;
  if (!fs::is_regular_file(weights_path)) {
    std::string detail = "load_peft_adapter: " + quoted(directory) + " has no " + std::string(peft_weights_file_name);
    if (fs::exists(directory / "adapter_model.bin")) detail += "; it has only adapter_model.bin (a pickle): save it again with safe_serialization=True";
    throw io_error(detail);
  }
  // The configuration must describe exactly these adapters.
  const LoraConfig described = read_peft_config<Rank>(adapters.model(), directory);
  const LoraConfig& live = adapters.config();
  const auto differs = [&](const std::string& field, const std::string& file_value, const std::string& live_value) {
    throw value_error("load_peft_adapter: " + quoted(directory / peft_config_file_name) + ": '" + field + "' is " + file_value +
                      ", but the adapters were made with " + live_value);
  };
  if (described.options.alpha != live.options.alpha)
    differs("lora_alpha", std::to_string(described.options.alpha), std::to_string(live.options.alpha));
  if (described.options.rslora != live.options.rslora)
    differs("use_rslora", described.options.rslora ? "true" : "false", live.options.rslora ? "true" : "false");
  std::vector<std::string> live_paths;
  for (const LoraSite& site : adapters.sites()) live_paths.push_back(site.module_path);
  const std::vector<std::string> described_paths = LoraAdapters<Rank, Model>::selected_paths(adapters.model(), described);
  if (described_paths != live_paths)
    throw value_error("load_peft_adapter: " + quoted(directory / peft_config_file_name) + ": its target_modules and layers_to_transform select " +
                      std::to_string(described_paths.size()) + " projections (" + quoted_names(described_paths, 3) +
                      "), but the adapters sit on " + std::to_string(live_paths.size()) + " (" + quoted_names(live_paths, 3) +
                      "); construct them from read_peft_config");

  const safetensors_reader reader = safetensors_reader::open(weights_path);
  if (const auto record = reader.metadata().find(peft_config_record_key); record != reader.metadata().end()) {
    // Written by ranklens: the weights say which configuration they were saved with.
    const auto recorded = nlohmann::json::parse(record->second, nullptr, /*allow_exceptions=*/false);
    const nlohmann::json file = read_json_file(directory / peft_config_file_name);
    if (recorded.is_discarded() || !recorded.is_object())
      throw io_error("load_peft_adapter: " + quoted(weights_path) + ": the metadata '" + std::string(peft_config_record_key) + "' is not JSON");
    for (const char* key : {"r", "lora_alpha", "use_rslora", "target_modules", "layers_to_transform"})
      if (recorded.value(key, nlohmann::json()) != file.value(key, nlohmann::json()))
        throw io_error("load_peft_adapter: " + quoted(directory) + ": '" + key + "' is " + file.value(key, nlohmann::json()).dump() + " in " +
                       std::string(peft_config_file_name) + " but " + recorded.value(key, nlohmann::json()).dump() + " in " +
                       std::string(peft_weights_file_name) + "; the two files come from different saves (an interrupted save?)");
  }
  if (const auto record = reader.metadata().find(peft_base_hash_key); record != reader.metadata().end()) {
    if (adapters.merged()) throw value_error("load_peft_adapter: unmerge() the adapters before loading into them");
    if (record->second != peft_detail::base_model_hash(adapters.model()))
      throw value_error("load_peft_adapter: " + quoted(weights_path) +
                        " was trained on another base model (the hash of the base weights it recorded differs from this model's)");
  }

  // Which adapters the file must hold: exactly the attached ones.
  std::set<std::string, std::less<>> expected;
  std::vector<std::string> missing;
  for_each_parameter(adapters, [&](std::string_view path, const auto& parameter) {
    const std::string key = peft_detail::key_of(path);
    expected.insert(key);
    const safetensors_entry* entry = reader.header().find(key);
    if (entry == nullptr) {
      missing.push_back(key);
      return;
    }
    require_stored_shape(reader, *entry, parameter.shape());
    const dtype t = entry->element_type;
    if (t != dtype::f16 && t != dtype::bf16 && t != dtype::f32 && t != dtype::f64)
      throw io_error("load_peft_adapter: " + quoted(weights_path) + ": tensor '" + key + "' has dtype " + std::string(name_of(t)) +
                     "; adapter weights must be F16, BF16, F32 or F64");
  });
  if (!missing.empty())
    throw io_error("load_peft_adapter: " + quoted(weights_path) + " lacks " + std::to_string(missing.size()) +
                   " of the adapters' tensors: " + quoted_names(missing) +
                   (adapters.sites().size() * 2 == missing.size() ? " (its target_modules or layers differ from the adapters'?)" : ""));
  std::vector<std::string> unexpected;
  for (const safetensors_entry& entry : reader.entries())
    if (!expected.contains(entry.name)) unexpected.push_back(entry.name);
  if (!unexpected.empty())
    throw io_error("load_peft_adapter: " + quoted(weights_path) + " holds " + std::to_string(unexpected.size()) +
                   " tensors these adapters have no place for: " + quoted_names(unexpected));

  // Read everything, refuse non-finite values, then copy: all or nothing.
  std::vector<std::vector<T>> values;
  for_each_parameter(adapters, [&](std::string_view path, const auto&) {
    const std::string key = peft_detail::key_of(path);
    values.push_back(reader.read_as<T>(key));
    const auto bad = std::find_if(values.back().begin(), values.back().end(), [](T v) { return !std::isfinite(double(v)); });
    if (bad != values.back().end())
      throw io_error("load_peft_adapter: " + quoted(weights_path) + ": tensor '" + key + "' holds a non-finite value at element " +
                     std::to_string(bad - values.back().begin()));
  });
  std::size_t i = 0;
  for_each_parameter(adapters, [&](std::string_view, auto& parameter) {
    using P = std::remove_cvref_t<decltype(parameter)>;
    device_memory<typename P::device_type>::copy_from_host(parameter.value().data(), values[i].data(), sizeof(T) * values[i].size());
    ++i;
  });
}

}  // namespace ranklens::io
