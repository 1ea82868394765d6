// Specification of io/hf_model.hpp: a Transformer saved as a Hugging Face directory and loaded
// back, what loading checks, and the GPT-2 hub naming it accepts. (That transformers itself
// reads these directories, and writes ones ranklens reads, is checked by hand: docs/files.md.)
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/hf_model.hpp"

namespace io_test_hf_model {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

using TiedQwen2 = Qwen2Like<16, 2, 4, 2, 11, 24>;
using UntiedQwen2 = Qwen2Like<16, 2, 4, 2, 11, 24, false>;
using WiderQwen2 = Qwen2Like<32, 2, 4, 2, 11, 24>;
struct SlowRopeQwen2 : TiedQwen2 {
  static constexpr double rope_theta = 10000.0;
};
using TinyGpt2 = Gpt2Like<16, 2, 2, 13, 8>;

template <class Model>
std::vector<float> logits_of(const Model& model) {
  const Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{1, 5}, {3, 1, 4, 1, 5});
  auto step = tape();
  auto guard = no_grad();
  const auto logits = model(tokens).to_tensor();
  return std::vector<float>(logits.span().begin(), logits.span().end());
}

template <class Model>
std::vector<std::string> parameter_names(Model& model) {
  std::vector<std::string> names;
  for (const auto& [name, ref] : named_parameters(model)) names.push_back(name);
  return names;
}

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

// Rewrites dir/model.safetensors with the tensors of `from` that `keep` accepts, renamed by
// `rename`, plus any `extra` tensors.
template <class Keep, class Rename>
void rewrite_weights(const std::filesystem::path& directory, Keep keep, Rename rename,
                     const std::vector<std::pair<std::string, std::vector<float>>>& extra = {}) {
  const std::vector<std::byte> original = read_whole_file(directory / "model.safetensors");
  const auto reader = safetensors_reader::from_bytes(original);
  safetensors_writer writer;
  for (const auto& entry : reader.entries())
    if (keep(entry.name)) writer.add(rename(entry.name), entry.element_type, entry.shape, reader.bytes(entry));
  for (const auto& [name, values] : extra)
    writer.add<float>(name, {std::int64_t(values.size())}, std::span<const float>(values));
  writer.set_metadata("format", "pt");
  writer.save(directory / "model.safetensors");
}


// Replaces dir/model.safetensors by shards as transformers writes them: tensors go to shard
// shard_of(name) (0-based) of `count`, and model.safetensors.index.json maps each name to its
// shard's file, "model-0000i-of-0000n.safetensors". `edit_map` may change the index first.
template <class ShardOf, class EditMap>
void shard_weights(const std::filesystem::path& directory, int count, ShardOf shard_of, EditMap edit_map) {
  const std::vector<std::byte> original = read_whole_file(directory / "model.safetensors");
  const auto reader = safetensors_reader::from_bytes(original);
  auto file_name = [count](int i) { return "model-0000" + std::to_string(i + 1) + "-of-0000" + std::to_string(count) + ".safetensors"; };
  std::vector<safetensors_writer> shards(static_cast<std::size_t>(count));
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const auto& entry : reader.entries()) {
    const int shard = shard_of(entry.name);
    shards[static_cast<std::size_t>(shard)].add(entry.name, entry.element_type, entry.shape, reader.bytes(entry));
    index["weight_map"][entry.name] = file_name(shard);
  }
  for (int i = 0; i < count; ++i) {
    shards[static_cast<std::size_t>(i)].set_metadata("format", "pt");
    shards[static_cast<std::size_t>(i)].save(directory / file_name(i));
  }
  edit_map(index["weight_map"]);
  write_whole_file(directory / "model.safetensors.index.json", index.dump(2));
  std::filesystem::remove(directory / "model.safetensors");
}

// Layer 0 and the embeddings in the first shard, the rest in the second.
int by_layer(const std::string& name) { return name.find("layers.1.") != std::string::npos || name == "model.norm.weight" ? 1 : 0; }

}  // namespace

TEST_CASE("a saved model loads into a freshly initialised one and computes the same logits", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1), other_rng(2);

  SECTION("Qwen2 with tied embeddings") {
    const Transformer<TiedQwen2> saved(rng);
    save_pretrained(saved, directory.path());
    Transformer<TiedQwen2> loaded(other_rng);
    REQUIRE(logits_of(loaded) != logits_of(saved));
    load_pretrained(loaded, directory.path());
    CHECK(logits_of(loaded) == logits_of(saved));
  }
  SECTION("Qwen2 with a separate lm_head") {
    const Transformer<UntiedQwen2> saved(rng);
    save_pretrained(saved, directory.path());
    CHECK(logits_of(from_pretrained<UntiedQwen2>(directory.path())) == logits_of(saved));
  }
  SECTION("GPT-2") {
    const Transformer<TinyGpt2> saved(rng);
    save_pretrained(saved, directory.path());
    CHECK(logits_of(from_pretrained<TinyGpt2>(directory.path())) == logits_of(saved));
  }
  CHECK(directory.file_names() == std::vector<std::string>{"config.json", "model.safetensors"});
}

TEST_CASE("a configuration with dyn sizes takes them, θ and ε from config.json", "[io][hf_model][dynamic]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  using AnyUntiedQwen2 = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn, false, dyn>;
  using AnyTiedQwen2 = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn, true, dyn>;
  using AnyGpt2 = Gpt2Like<dyn, dyn, dyn, dyn, dyn>;

  SECTION("Qwen2, with a rotary θ and norm ε of its own") {
    const Transformer<SlowRopeQwen2> saved(rng);
    save_pretrained(saved, directory.path(), {.stored_as = dtype::bf16});
    const auto loaded = from_pretrained<AnyTiedQwen2>(directory.path());
    CHECK(loaded.dims() == saved.dims());
    CHECK(loaded.dims().rope_theta == 10000.0);
    CHECK(logits_of(loaded) == logits_of(from_pretrained<SlowRopeQwen2>(directory.path())));
    // Saved again from the dynamic model, the directory is the same model.
    scratch_directory again;
    save_pretrained(loaded, again.path());
    CHECK(logits_of(from_pretrained<SlowRopeQwen2>(again.path())) == logits_of(loaded));
    // The tie flag stays static: a tied file does not fit an untied configuration.
    CHECK_THROWS_WITH(from_pretrained<AnyUntiedQwen2>(directory.path()),
                      Contains("tie_word_embeddings is true, but the compiled configuration has false"));
  }
  SECTION("GPT-2") {
    const Transformer<TinyGpt2> saved(rng);
    save_pretrained(saved, directory.path());
    const auto loaded = from_pretrained<AnyGpt2>(directory.path());
    CHECK(loaded.dims() == saved.dims());
    CHECK(logits_of(loaded) == logits_of(saved));
    CHECK_THROWS_WITH(from_pretrained<AnyTiedQwen2>(directory.path()), Contains("model_type is \"gpt2\""));
  }
  SECTION("a config.json claiming more parameters than the weights hold is refused before anything is allocated") {
    const Transformer<TinyGpt2> saved(rng);
    save_pretrained(saved, directory.path());
    nlohmann::json config = read_json_file(directory.path() / "config.json");
    config["n_layer"] = 1'000'000'000;
    config["vocab_size"] = 1'000'000'000;
    write_whole_file(directory.path() / "config.json", config.dump());
    CHECK_THROWS_WITH(from_pretrained<AnyGpt2>(directory.path()),
                      Contains("parameters, but the weights in") && Contains("hold only"));
  }
  SECTION("sizes the configuration fixes must agree, all named at once") {
    const Transformer<WiderQwen2> saved(rng);
    save_pretrained(saved, directory.path());
    using FixedWidthQwen2 = Qwen2Like<16, 3, dyn, dyn, dyn, dyn>;
    try {
      (void)from_pretrained<FixedWidthQwen2>(directory.path());
      FAIL("loaded a file of other fixed sizes");
    } catch (const value_error& e) {
      CHECK_THAT(std::string(e.what()), Contains("d_model is 32 but the configuration fixes it at 16") &&
                                            Contains("n_layers is 2 but the configuration fixes it at 3"));
    }
  }
}

TEST_CASE("the directory holds transformers' file names, tensor names and metadata", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  Transformer<UntiedQwen2> model(rng);
  save_pretrained(model, directory.path());

  const auto reader = safetensors_reader::open(directory / "model.safetensors");
  std::vector<std::string> stored;
  for (const auto& entry : reader.entries()) stored.push_back(entry.name);
  CHECK(sorted(stored) == sorted(parameter_names(model)));
  CHECK(reader.contains("model.layers.1.self_attn.q_proj.bias"));
  CHECK(reader.contains("lm_head.weight"));
  CHECK(reader.entry("model.layers.0.mlp.gate_proj.weight").shape == std::vector<std::int64_t>{24, 16});
  CHECK(reader.metadata().at("format") == "pt");  // transformers refuses files without it

  const auto config = read_json_file(directory / "config.json");
  CHECK(config["model_type"] == "qwen2");
  CHECK(config["tie_word_embeddings"] == false);
}

TEST_CASE("weights can be stored as BF16 or F16 and load rounded", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  const Transformer<TinyGpt2> saved(rng);
  save_pretrained(saved, directory.path(), {.stored_as = dtype::bf16});
  CHECK(read_json_file(directory / "config.json")["torch_dtype"] == "bfloat16");
  CHECK(safetensors_reader::open(directory / "model.safetensors").entry("transformer.wte.weight").element_type == dtype::bf16);

  const auto loaded = from_pretrained<TinyGpt2>(directory.path());
  const auto original = saved.token_embedding.weight.value().span();
  const auto rounded = loaded.token_embedding.weight.value().span();
  for (std::size_t i = 0; i < original.size(); ++i) CHECK(rounded[i] == bf16_bits_to_float(float_to_bf16_bits(original[i])));

  CHECK_THROWS_AS(save_pretrained(saved, directory.path(), {.stored_as = dtype::i32}), value_error);
}

TEST_CASE("a config.json for another configuration is refused naming the field and both values", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  save_pretrained(Transformer<WiderQwen2>(rng), directory.path());
  Transformer<TiedQwen2> model(rng);
  const auto before = logits_of(model);
  try {
    load_pretrained(model, directory.path());
    FAIL("expected value_error");
  } catch (const value_error& error) {
    CHECK_THAT(std::string(error.what()), Contains("config.json") && Contains("hidden_size is 32, but the compiled configuration has 16"));
  }
  CHECK(logits_of(model) == before);

  save_pretrained(Transformer<TinyGpt2>(rng), directory.path());
  CHECK_THROWS_WITH(load_pretrained(model, directory.path()), Contains("model_type is \"gpt2\""));
}

TEST_CASE("every tensor the model needs must be there, with its shape, and nothing else", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  Transformer<TiedQwen2> model(rng);
  const auto before = logits_of(model);
  auto keep_all = [](const std::string&) { return true; };
  auto same_name = [](const std::string& name) { return name; };

  SECTION("a missing tensor") {
    save_pretrained(model, directory.path());
    rewrite_weights(directory.path(), [](const std::string& name) { return name != "model.layers.1.self_attn.k_proj.bias"; }, same_name);
    CHECK_THAT(io_error_message([&] { load_pretrained(model, directory.path()); }),
               Contains("model.safetensors") && Contains("lacks 1 of the model's tensors") && Contains("'model.layers.1.self_attn.k_proj.bias'"));
  }
  SECTION("an unexpected tensor") {
    save_pretrained(model, directory.path());
    rewrite_weights(directory.path(), keep_all, same_name, {{"model.layers.2.input_layernorm.weight", std::vector<float>(16, 1.0f)}});
    CHECK_THAT(io_error_message([&] { load_pretrained(model, directory.path()); }),
               Contains("has no place for") && Contains("'model.layers.2.input_layernorm.weight'"));
  }
  SECTION("a tensor of the wrong shape") {
    save_pretrained(model, directory.path());
    rewrite_weights(directory.path(), [](const std::string& name) { return name != "model.norm.weight"; }, same_name,
                    {{"model.norm.weight", std::vector<float>(15, 1.0f)}});
    CHECK_THAT(io_error_message([&] { load_pretrained(model, directory.path()); }),
               Contains("tensor 'model.norm.weight' has shape [15], but shape (16) was expected"));
  }
  SECTION("no weights file, or only a pickle") {
    save_pretrained(model, directory.path());
    std::filesystem::rename(directory / "model.safetensors", directory / "pytorch_model.bin");
    CHECK_THAT(io_error_message([&] { load_pretrained(model, directory.path()); }), Contains("has no model.safetensors") && Contains("pickle"));
  }
  CHECK(logits_of(model) == before);  // every failed load left the model as it was
}

TEST_CASE("a tied lm_head.weight is accepted only when it equals the embedding", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  const Transformer<TiedQwen2> saved(rng);
  save_pretrained(saved, directory.path());
  const auto embedding = saved.token_embedding.weight.value().span();
  std::vector<float> head(embedding.begin(), embedding.end());

  // Adds an lm_head.weight of shape (vocab, d_model), as old or hand-made files have one.
  auto write_head = [&](const std::vector<float>& values) {
    const std::vector<std::byte> original = read_whole_file(directory / "model.safetensors");
    const auto reader = safetensors_reader::from_bytes(original);
    safetensors_writer writer;
    for (const auto& entry : reader.entries())
      if (entry.name != "lm_head.weight") writer.add(entry.name, entry.element_type, entry.shape, reader.bytes(entry));
    writer.add<float>("lm_head.weight", {11, 16}, std::span<const float>(values));
    writer.save(directory / "model.safetensors");
  };
  write_head(head);
  CHECK(logits_of(from_pretrained<TiedQwen2>(directory.path())) == logits_of(saved));
  head[5] += 1.0f;
  write_head(head);
  CHECK_THAT(io_error_message([&] { from_pretrained<TiedQwen2>(directory.path()); }),
             Contains("'lm_head.weight' differs from 'model.embed_tokens.weight'") && Contains("tie_word_embeddings"));
}

TEST_CASE("GPT-2 loads from the hub's original names, with its attention-mask buffers", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  const Transformer<TinyGpt2> saved(rng);
  save_pretrained(saved, directory.path());
  // GPT2Model's names (wte.weight, h.0.ln_1.weight, ...) and the h.N.attn.bias / masked_bias
  // buffers that the original files carry.
  rewrite_weights(
      directory.path(), [](const std::string&) { return true; },
      [](const std::string& name) { return name.substr(std::string("transformer.").size()); },
      {{"h.0.attn.bias", std::vector<float>(64, 1.0f)},
       {"h.1.attn.bias", std::vector<float>(64, 1.0f)},
       {"h.0.attn.masked_bias", std::vector<float>(1, -1e4f)}});
  CHECK(safetensors_reader::open(directory / "model.safetensors").contains("wte.weight"));
  CHECK(logits_of(from_pretrained<TinyGpt2>(directory.path())) == logits_of(saved));

  // Other stray tensors are still refused.
  rewrite_weights(directory.path(), [](const std::string&) { return true; }, [](const std::string& name) { return name; },
                  {{"h.0.attn.extra", std::vector<float>(1, 0.0f)}});
  CHECK_THAT(io_error_message([&] { from_pretrained<TinyGpt2>(directory.path()); }), Contains("'h.0.attn.extra'"));
}

TEST_CASE("weights and config.json from different saves are refused", "[io][hf_model]") {
  // What a save interrupted between its two renames leaves: new weights, old config.json.
  // The shapes agree, so only the configuration recorded in the weights can tell.
  scratch_directory old_save, new_save;
  std::mt19937 rng(1);
  save_pretrained(Transformer<SlowRopeQwen2>(rng), old_save.path());
  save_pretrained(Transformer<TiedQwen2>(rng), new_save.path());
  std::filesystem::copy_file(new_save / "model.safetensors", old_save / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  CHECK_THAT(io_error_message([&] { from_pretrained<SlowRopeQwen2>(old_save.path()); }),
             Contains("rope_theta is 10000.0 in config.json but 1000000.0 in model.safetensors") && Contains("different saves"));
}

TEST_CASE("a directory that cannot be created is an io_error, and nothing is left behind", "[io][hf_model]") {
  scratch_directory directory;
  write_whole_file(directory / "blocker", "a file where the model directory should go");
  std::mt19937 rng(1);
  CHECK_THROWS_AS(save_pretrained(Transformer<TinyGpt2>(rng), directory / "blocker" / "model"), io_error);
  CHECK(directory.file_names() == std::vector<std::string>{"blocker"});
}

TEST_CASE("from_pretrained draws no weights and allocates no gradients", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  const Transformer<UntiedQwen2> saved(rng);
  save_pretrained(saved, directory.path());
  auto loaded = from_pretrained<UntiedQwen2>(directory.path());
  CHECK(logits_of(loaded) == logits_of(saved));
  for_each_parameter(loaded, [](std::string_view name, const auto& p) {
    INFO(name);
    CHECK_FALSE(p.has_grad());  // inference needs none; training creates them at its first forward
  });

  // What from_pretrained builds before loading: zeros, not a random draw.
  skip_initialization none;
  Transformer<UntiedQwen2> unloaded(none);
  for_each_parameter(unloaded, [](std::string_view name, const auto& p) {
    INFO(name);
    const auto values = p.value().span();
    const bool norm = name.find("norm") != std::string_view::npos;  // norms start at one, as always
    CHECK(std::all_of(values.begin(), values.end(), [&](float v) { return v == (norm ? 1.0f : 0.0f); }));
  });
}

TEST_CASE("sharded weights (model.safetensors.index.json) load as one file does", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  const Transformer<UntiedQwen2> saved(rng);
  save_pretrained(saved, directory.path());
  shard_weights(directory.path(), 2, by_layer, [](nlohmann::json&) {});
  REQUIRE_FALSE(std::filesystem::exists(directory / "model.safetensors"));
  CHECK(logits_of(from_pretrained<UntiedQwen2>(directory.path())) == logits_of(saved));

  // A missing tensor is named as with one file, with the index as the place.
  save_pretrained(saved, directory.path());
  rewrite_weights(directory.path(), [](const std::string& name) { return name != "lm_head.weight"; }, [](const std::string& n) { return n; });
  shard_weights(directory.path(), 2, by_layer, [](nlohmann::json&) {});
  CHECK_THAT(io_error_message([&] { from_pretrained<UntiedQwen2>(directory.path()); }),
             Contains("model.safetensors.index.json' (2 shards) lacks 1 of the model's tensors") && Contains("'lm_head.weight'"));
}

TEST_CASE("a sharded index that disagrees with its shards, or points outside the directory, is refused", "[io][hf_model]") {
  scratch_directory directory;
  std::mt19937 rng(1);
  Transformer<UntiedQwen2> model(rng);
  const auto before = logits_of(model);
  const std::string layer_norm = "model.layers.1.post_attention_layernorm.weight";
  const auto refused = [&](auto edit_map) {
    save_pretrained(model, directory.path());
    shard_weights(directory.path(), 2, by_layer, edit_map);
    return io_error_message([&] { load_pretrained(model, directory.path()); });
  };

  CHECK_THAT(refused([&](nlohmann::json& map) { map[layer_norm] = "../model-00002-of-00002.safetensors"; }),
             Contains("model.safetensors.index.json', key 'weight_map." + layer_norm + "'") &&
                 Contains("is not a file name in the model's directory"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map[layer_norm] = "/etc/passwd"; }), Contains("is not a file name in the model's directory"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map[layer_norm] = "model-00003-of-00002.safetensors"; }),
             Contains("key 'weight_map." + layer_norm + "'") && Contains("which is not in the directory"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map[layer_norm] = "model-00001-of-00002.safetensors"; }),
             Contains("key 'weight_map." + layer_norm + "'") && Contains("but the tensor is in"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map.erase(layer_norm); }),
             Contains("holds '" + layer_norm + "', which the weight_map does not list"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map["model.layers.7.mlp.up_proj.weight"] = "model-00002-of-00002.safetensors"; }),
             Contains("key 'weight_map.model.layers.7.mlp.up_proj.weight'") && Contains("which has no such tensor"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map[layer_norm] = 7; }), Contains("is 7, not a shard file name"));
  CHECK_THAT(refused([&](nlohmann::json& map) { map = nlohmann::json::object(); }), Contains("key 'weight_map': missing or empty"));

  save_pretrained(model, directory.path());
  shard_weights(directory.path(), 2, by_layer, [](nlohmann::json&) {});
  write_whole_file(directory / "model.safetensors.index.json", "{\"weight_map\": ");
  CHECK_THAT(io_error_message([&] { load_pretrained(model, directory.path()); }), Contains("is not valid JSON"));
  CHECK(logits_of(model) == before);  // every failed load left the model as it was
}

}  // namespace io_test_hf_model
