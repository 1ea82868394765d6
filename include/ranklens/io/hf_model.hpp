// A Transformer<C, T> as a Hugging Face model directory: config.json (hf_config.hpp) and
// model.safetensors with the tensor names transformers uses (Qwen2ForCausalLM,
// GPT2LMHeadModel), so that `from_pretrained` on either side reads what the other wrote.
//
//   io::save_pretrained(model, "runs/tiny");                    // F32; {.stored_as = dtype::bf16} to halve it
//   io::load_pretrained(model, "runs/tiny");                    // into an existing model
//   auto gpt2 = io::from_pretrained<Gpt2Like<768, 12, 12, 50257>>("downloads/gpt2");
//
// Loading checks, before it changes any weight:
//   - config.json describes configuration C (hf_config_mismatch), else value_error naming the
//     field and both values;
//   - model.safetensors holds every parameter under its HF name, with the parameter's exact
//     shape and a floating dtype (F16, BF16, F32 or F64, converted to T);
//   - it holds nothing else, except buffers transformers may save (GPT-2's attn.bias and
//     attn.masked_bias masks, old rotary inv_freq tables) and, for a tied model, an lm_head.weight
//     equal to the token embedding;
//   - the configuration ranklens recorded in the weights' metadata, when there is one, is C:
//     config.json and model.safetensors from two different saves are refused.
// GPT-2 weights as the hub's original "gpt2" repository names them (wte.weight, h.0.attn.c_attn.weight:
// GPT2Model's names, without "transformer.") are accepted too.
//
// Each file is replaced atomically (atomic_file.hpp), the weights first: a save interrupted at
// any point leaves every file either old or new, and a directory whose weights are new but whose
// config.json is still old is caught by the recorded configuration when loading.
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/io/hf_config.hpp"
#include "ranklens/io/hf_weights.hpp"
#include "ranklens/io/name_list.hpp"
#include "ranklens/io/tensor_io.hpp"
#include "ranklens/io/transformer_config_json.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/nn/transformer.hpp"

namespace ranklens::io {

inline constexpr std::string_view hf_config_file_name = "config.json";
// Metadata key under which save_pretrained records config_as_json<C>() in the weights.
inline constexpr std::string_view hf_config_record_key = "ranklens.config";

struct hf_save_options {
  // The dtype of the stored weights: F16, BF16, F32 or F64; by default the model's own.
  std::optional<dtype> stored_as;
};

namespace hf_model_detail {

inline std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// `rest` is a layer number followed by `suffix` ("12.attn.bias" for ".attn.bias").
inline bool is_numbered(std::string_view rest, std::string_view suffix) {
  std::size_t digits = 0;
  while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
  return digits > 0 && rest.substr(digits) == suffix;
}

// Tensors transformers writes for buffers rather than parameters; none holds a weight.
inline bool is_known_buffer(checkpoint_layout layout, std::string_view name) {
  if (layout == checkpoint_layout::gpt2) {
    // The causal mask and its fill value, which older transformers versions saved and the
    // hub's original GPT-2 files hold.
    if (name.starts_with("transformer.")) name.remove_prefix(std::string_view("transformer.").size());
    if (!name.starts_with("h.")) return false;
    name.remove_prefix(2);
    return is_numbered(name, ".attn.bias") || is_numbered(name, ".attn.masked_bias");
  }
  // Rotary frequency tables that older Llama-family code registered as persistent buffers.
  constexpr std::string_view layers = "model.layers.";
  return name.starts_with(layers) && is_numbered(name.substr(layers.size()), ".self_attn.rotary_emb.inv_freq");
}

inline void require_floating(const safetensors_reader& reader, const safetensors_entry& entry) {
  const dtype t = entry.element_type;
  if (t != dtype::f16 && t != dtype::bf16 && t != dtype::f32 && t != dtype::f64)
    throw io_error("load_pretrained: safetensors " + reader.source() + ": tensor '" + entry.name + "' has dtype " +
                   std::string(name_of(t)) + "; a weight must be F16, BF16, F32 or F64");
}

// io_error naming `directory` unless it has a config.json and weights (one file or shards).
inline void require_model_files(const std::filesystem::path& directory, std::string_view caller) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(directory / hf_config_file_name))
    throw io_error(std::string(caller) + ": " + quoted(directory) + " has no " + std::string(hf_config_file_name));
  if (!hf_weights::present(directory)) {
    std::string detail = std::string(caller) + ": " + quoted(directory) + " has no " + std::string(hf_weights_file_name) + " and no " +
                         std::string(hf_weights_index_file_name);
    if (fs::exists(directory / "pytorch_model.bin") || fs::exists(directory / "pytorch_model.bin.index.json"))
      detail += "; it has only pytorch_model.bin (a pickle): convert it with transformers' save_pretrained(..., safe_serialization=True)";
    throw io_error(detail);
  }
}

// The sizes, θ and ε of a model of configuration C that `directory`'s config.json describes,
// checked before they size anything: every size that makes no model (value_error naming all),
// then what the type fixes (the tie flag), then the parameter count they imply against the
// values the weight files hold, so that a hostile config.json is refused from the headers
// rather than by running out of memory.
template <TransformerConfig C>
transformer_dims read_sizes(const std::filesystem::path& directory) {
  const std::filesystem::path config_path = directory / hf_config_file_name;
  if (!std::filesystem::is_regular_file(config_path))
    throw io_error("from_pretrained: " + quoted(directory) + " has no " + std::string(hf_config_file_name));
  const std::string source = quoted(config_path);
  const nlohmann::json config = read_json_file(config_path);
  const transformer_dims sizes = hf_config_dims<C>(config, source);
  if (const auto errors = transformer_dims_errors<C>(sizes); !errors.empty()) {
    std::string message = "from_pretrained: " + source + " describes no model of this configuration: ";
    for (std::size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i];
    throw value_error(message);
  }
  if (const auto mismatch = hf_config_mismatch<C>(config, source, sizes)) throw value_error("from_pretrained: " + source + ": " + *mismatch);
  require_model_files(directory, "from_pretrained");
  double stored = 0;
  const hf_weights weights = hf_weights::open(directory);
  for (const auto& [name, where] : weights.tensors()) stored += double(where.entry->element_count());
  if (const double needed = transformer_parameter_count<C>(sizes); needed > stored) {
    const auto count = [](double n) {
      char text[64];
      std::snprintf(text, sizeof text, "%.0f", n);
      return std::string(text);
    };
    throw value_error("from_pretrained: " + source + " describes a model of " + count(needed) + " parameters, but the weights in " +
                      quoted(directory) + " hold only " + count(stored) + " values");
  }
  return sizes;
}

}  // namespace hf_model_detail

// Writes model.safetensors, then config.json, into `directory` (created if missing). Other
// files there (a tokenizer, generation_config.json) are left alone. A model on another device is
// written from host copies: the files are the same.
template <TransformerConfig C, Real T, Device D>
void save_pretrained(const Transformer<C, T, D>& model, const std::filesystem::path& directory, const hf_save_options& options = {}) {
  static_assert(hf_expressible<C>::check());
  const dtype stored = options.stored_as.value_or(dtype_of<T>);
  if (stored != dtype::f16 && stored != dtype::bf16 && stored != dtype::f32 && stored != dtype::f64)
    throw value_error("save_pretrained: weights cannot be stored as " + std::string(name_of(stored)) + "; expected F16, BF16, F32 or F64");
  std::error_code failure;
  std::filesystem::create_directories(directory, failure);
  if (failure) throw io_error("save_pretrained: cannot create the directory " + hf_model_detail::quoted(directory) + ": " + failure.message());

  tensor_writer weights;
  for_each_parameter(model, [&](std::string_view path, const auto& parameter) { weights.add(std::string(path), parameter, stored); });
  weights.set_metadata("format", "pt");  // transformers refuses a safetensors file without it
  weights.set_metadata(std::string(hf_config_record_key), config_as_json<C>(model.dims()).dump());
  weights.save(directory / hf_weights_file_name);

  const std::string config_text = hf_config_json<C>(model.dims(), stored).dump(2) + "\n";
  write_text_atomically(directory / hf_config_file_name, config_text);
}

// Reads a directory written by save_pretrained (ranklens or transformers) into `model`: one
// model.safetensors, or shards listed by model.safetensors.index.json (io/hf_weights.hpp).
// Every check comes first: when one fails, the model is unchanged. A model on another device
// is filled through host copies.
template <TransformerConfig C, Real T, Device D>
void load_pretrained(Transformer<C, T, D>& model, const std::filesystem::path& directory) {
  static_assert(hf_expressible<C>::check());
  using hf_model_detail::quoted;
  namespace fs = std::filesystem;
  const fs::path config_path = directory / hf_config_file_name;
  hf_model_detail::require_model_files(directory, "load_pretrained");

  const nlohmann::json config = read_json_file(config_path);
  if (const auto mismatch = hf_config_mismatch<C>(config, quoted(config_path), model.dims()))
    throw value_error("load_pretrained: " + quoted(config_path) + ": " + *mismatch);

  const hf_weights weights = [&] {
    try {
      return hf_weights::open(directory);
    } catch (const io_error& failure) {
      throw io_error(std::string("load_pretrained: ") + failure.what());
    }
  }();
  for (const safetensors_reader& file : weights.files()) {
    const auto record = file.metadata().find(hf_config_record_key);
    if (record == file.metadata().end()) continue;
    const auto recorded = nlohmann::ordered_json::parse(record->second, nullptr, /*allow_exceptions=*/false);
    if (recorded.is_discarded())
      throw io_error("load_pretrained: " + file.source() + ": the metadata '" + std::string(hf_config_record_key) + "' is not JSON");
    if (const auto difference = first_config_difference(config_as_json<C>(model.dims()), "config.json", recorded,
                                                             weights.sharded() ? "a shard of the weights" : "model.safetensors"))
      throw io_error("load_pretrained: " + quoted(directory) + ": " + *difference +
                     "; the two files come from different saves (an interrupted save_pretrained?)");
  }

  // The hub's original GPT-2 files use GPT2Model's names: no "transformer." in front.
  constexpr std::string_view gpt2_prefix = "transformer.";
  const bool bare_gpt2_names = C::layout == checkpoint_layout::gpt2 && !weights.contains("transformer.wte.weight") &&
                               weights.contains("wte.weight");
  auto stored_name = [&](std::string_view path) {
    if (bare_gpt2_names && path.starts_with(gpt2_prefix)) path.remove_prefix(gpt2_prefix.size());
    return std::string(path);
  };

  std::set<std::string, std::less<>> expected;
  std::vector<std::string> missing;
  for_each_parameter(model, [&](std::string_view path, const auto& parameter) {
    const std::string name = stored_name(path);
    expected.insert(name);
    const hf_weights::located* stored = weights.find(name);
    if (stored == nullptr) {
      missing.push_back(name);
      return;
    }
    require_stored_shape(*stored->reader, *stored->entry, parameter.shape());
    hf_model_detail::require_floating(*stored->reader, *stored->entry);
  });
  if (!missing.empty())
    throw io_error("load_pretrained: " + weights.description() + " lacks " + std::to_string(missing.size()) +
                   " of the model's tensors: " + quoted_names(missing));

  constexpr std::string_view tied_head = "lm_head.weight";
  std::vector<std::string> unexpected;
  bool has_tied_head = false;
  for (const auto& [name, stored] : weights.tensors()) {
    if (expected.contains(name) || hf_model_detail::is_known_buffer(C::layout, name)) continue;
    if (C::tied_embeddings && name == tied_head) {
      has_tied_head = true;
      continue;
    }
    unexpected.push_back(name);
  }
  if (!unexpected.empty())
    throw io_error("load_pretrained: " + weights.description() + " holds " + std::to_string(unexpected.size()) +
                   " tensors that a model of this configuration has no place for: " + quoted_names(unexpected));
  if (has_tied_head) {
    // transformers writes a tied head only in old or hand-made files; it must be the embedding.
    const std::string embedding = stored_name(model.token_embedding.weight.name());
    const hf_weights::located& head = weights.at(tied_head);
    const hf_weights::located& table = weights.at(embedding);
    require_stored_shape(*head.reader, *head.entry, model.token_embedding.weight.shape());
    hf_model_detail::require_floating(*head.reader, *head.entry);
    if (head.reader->read_as<T>(tied_head) != table.reader->read_as<T>(embedding))
      throw io_error("load_pretrained: " + head.reader->source() + ": 'lm_head.weight' differs from '" + embedding +
                     "', but config.json ties them (tie_word_embeddings)");
  }

  for_each_parameter(model, [&](std::string_view path, auto& parameter) {
    const std::string name = stored_name(path);
    read_into(*weights.at(name).reader, name, parameter);
  });
}

// A new model with the weights of `directory`. Where C leaves a size dyn, its value, and the
// rotary θ and norm ε, come from the directory's config.json (hf_model_detail::read_sizes);
// where C fixes one, the file must agree. from_pretrained<C, float, cuda_t> loads it on the GPU.
template <TransformerConfig C, Real T = float, Device D = cpu_t>
Transformer<C, T, D> from_pretrained(const std::filesystem::path& directory) {
  // Every weight is replaced, so none is drawn (nn/initialization.hpp).
  skip_initialization none;
  const transformer_dims sizes = [&] {
    if constexpr (StaticTransformerConfig<C>)
      return static_transformer_dims<C>();
    else
      return hf_model_detail::read_sizes<C>(directory);
  }();
  Transformer<C, T, D> model(none, sizes);
  load_pretrained(model, directory);
  return model;
}

}  // namespace ranklens::io
