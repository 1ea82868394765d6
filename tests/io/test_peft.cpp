// PEFT adapter directories (io/peft.hpp): the fixtures that tools/peft_roundtrip.py made with
// PyPI transformers + peft, read without Python, and every way a directory can be wrong.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include "io_test_support.hpp"
#include "ranklens/io/hf_model.hpp"
#include "ranklens/io/peft.hpp"

namespace io_test_peft {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io::testing;

namespace {

// The configurations examples/lora_files compiles (the fixtures' bases).
using TinyQwen2 = Qwen2Like<32, 2, 4, 2, 64, 48, /*TiedEmbeddings=*/false, 64>;
using TinyGpt2 = Gpt2Like<32, 2, 4, 64, 32>;

template <class Model>
Tensor<float, Shape<dyn, dyn, dyn>> logits_of(const Model& model, const Tensor<std::int32_t, Shape<dyn, dyn>>& tokens) {
  auto step = tape();
  auto guard = no_grad();
  const auto logits = model(tokens.view()).to_tensor();
  Tensor<float, Shape<dyn, dyn, dyn>> out(Shape<dyn, dyn, dyn>{logits.extent(0), logits.extent(1), logits.extent(2)});
  std::copy(logits.data(), logits.data() + logits.numel(), out.data());
  return out;
}

double relative_error(const Tensor<float, Shape<dyn, dyn, dyn>>& ours, const Tensor<float, Shape<dyn, dyn, dyn>>& theirs) {
  REQUIRE(ours.shape() == theirs.shape());
  double diff = 0, scale = 0;
  for (index_t i = 0; i < ours.numel(); ++i) {
    diff = std::max(diff, std::abs(double(ours.data()[i]) - double(theirs.data()[i])));
    scale = std::max(scale, std::abs(double(theirs.data()[i])));
  }
  return diff / scale;
}

template <class Config, index_t Rank>
void check_fixture(const std::string& name) {
  const auto directory = fixture_path("peft") / name;
  const auto reference = io::safetensors_reader::open(directory / "reference.safetensors");
  const auto tokens = io::read_tensor<std::int32_t, Shape<dyn, dyn>>(reference, "tokens");
  auto model = io::from_pretrained<Config>(directory / "base");
  for (const auto& [adapter, expected] : {std::pair{"ranklens_adapter", "peft_logits_of_ranklens_adapter"},
                                          std::pair{"peft_adapter", "peft_logits_of_peft_adapter"}}) {
    LoraAdapters<Rank, Transformer<Config>> adapters(model, io::read_peft_config<Rank>(model, directory / adapter));
    io::load_peft_adapter(adapters, directory / adapter);
    const double error = relative_error(logits_of(model, tokens), io::read_tensor<float, Shape<dyn, dyn, dyn>>(reference, expected));
    INFO(name << "/" << adapter << ": relative error " << error);
    CHECK(error <= 1e-5);
  }
}

// A copy of a fixture adapter directory to spoil.
std::filesystem::path copy_of(const std::filesystem::path& adapter, const scratch_directory& scratch) {
  const auto target = scratch / "adapter";
  std::filesystem::copy(adapter, target, std::filesystem::copy_options::recursive);
  return target;
}

// The adapter's tensors, rewritten by `edit` (name → values, shape).
template <class Edit>
void rewrite_weights(const std::filesystem::path& adapter, Edit&& edit) {
  const auto path = adapter / io::peft_weights_file_name;
  const auto reader = io::safetensors_reader::open(path);
  std::map<std::string, Tensor<float, Shape<dyn, dyn>>> tensors;
  for (const auto& entry : reader.entries())
    tensors.emplace(entry.name, io::read_tensor<float, Shape<dyn, dyn>>(reader, entry.name));
  std::map<std::string, std::string, std::less<>> metadata = reader.metadata();
  edit(tensors, metadata);
  io::tensor_writer writer;
  for (const auto& [name, tensor] : tensors) writer.add(name, tensor);
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  writer.save(path);
}

template <class Edit>
void rewrite_config(const std::filesystem::path& adapter, Edit&& edit) {
  auto config = io::read_json_file(adapter / io::peft_config_file_name);
  edit(config);
  write_whole_file(adapter / io::peft_config_file_name, config.dump(2));
}

// The error message of loading `adapter` into fresh rank-1 adapters on `model`.
template <class Model>
std::string load_error(Model& model, const std::filesystem::path& adapter) {
  try {
    LoraAdapters<1, Model> adapters(model, io::read_peft_config<1>(model, adapter));
    io::load_peft_adapter(adapters, adapter);
  } catch (const ranklens::error& error) {
    return error.what();
  }
  FAIL("loading " << adapter << " succeeded, but should have been refused");
  return {};
}

}  // namespace

TEST_CASE("Adapters PEFT wrote load into ranklens, and PEFT reads ranklens' adapters, to 1e-5", "[io][peft]") {
  check_fixture<TinyQwen2, 1>("qwen2_rank1");
  check_fixture<TinyGpt2, 4>("gpt2_rank4");
}

TEST_CASE("save_peft_adapter and load_peft_adapter round-trip every value exactly", "[io][peft]") {
  scratch_directory scratch;
  std::mt19937 rng(1);
  Transformer<TinyGpt2> model(rng);
  std::vector<float> saved;
  {
    LoraAdapters<2, Transformer<TinyGpt2>> adapters(model, {.options = {.alpha = 7, .rslora = false}, .target_modules = {"c_proj"}, .layers = {1}});
    std::uniform_real_distribution<float> dist(-1, 1);
    for_each_parameter(adapters, [&](std::string_view, auto& p) {
      for (auto& v : p.value().span()) saved.push_back(v = dist(rng));
    });
    io::save_peft_adapter(adapters, scratch / "adapter", {.base_model_name_or_path = "tiny-gpt2"});
  }
  const auto config = io::read_json_file(scratch / "adapter" / io::peft_config_file_name);
  CHECK(config["target_modules"] == nlohmann::json::array({"attn.c_proj", "mlp.c_proj"}));  // "c_proj" alone would say the same; both spelled out
  CHECK(config["layers_to_transform"] == nlohmann::json::array({1}));
  CHECK(config["fan_in_fan_out"] == true);
  CHECK(config["base_model_name_or_path"] == "tiny-gpt2");
  LoraAdapters<2, Transformer<TinyGpt2>> loaded(model, io::read_peft_config<2>(model, scratch / "adapter"));
  CHECK(loaded.sites().size() == 2);
  io::load_peft_adapter(loaded, scratch / "adapter");
  std::size_t i = 0;
  for_each_parameter(loaded, [&](std::string_view, auto& p) {
    for (const float v : p.value().span()) REQUIRE(v == saved[i++]);
  });
  CHECK(i == saved.size());
}

TEST_CASE("A wrong or hostile adapter directory is refused, naming the file and the key, and nothing is loaded", "[io][peft]") {
  const auto fixture = fixture_path("peft") / "qwen2_rank1";
  auto model = io::from_pretrained<TinyQwen2>(fixture / "base");
  const auto good = fixture / "ranklens_adapter";

  SECTION("a missing tensor") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    rewrite_weights(adapter, [](auto& tensors, auto&) { tensors.erase("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"); });
    const auto message = load_error(model, adapter);
    CHECK_THAT(message, Catch::Contains("adapter_model.safetensors") && Catch::Contains("lacks 1") &&
                            Catch::Contains("model.layers.1.mlp.up_proj.lora_B.weight"));
  }
  SECTION("a tensor of the wrong shape, and a rank in the config that the tensors do not have") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    rewrite_weights(adapter, [](auto& tensors, auto&) {
      tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = Tensor<float, Shape<dyn, dyn>>(Shape<dyn, dyn>{2, 32}, 0.0f);
    });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("q_proj.lora_A.weight") && Catch::Contains("[2, 32]") && Catch::Contains("(1, 32)"));
    rewrite_config(adapter, [](auto& config) { config["r"] = 2; });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("adapter_config.json") && Catch::Contains("'r' is 2") &&
                                              Catch::Contains("compiled for rank 1"));
  }
  SECTION("a target module or a layer the model does not have") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    rewrite_config(adapter, [](auto& config) { config["target_modules"] = {"q_proj", "c_attn"}; });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("adapter_config.json") && Catch::Contains("'c_attn'"));
    rewrite_config(adapter, [](auto& config) {
      config["target_modules"] = {"q_proj"};
      config["layers_to_transform"] = {0, 5};
    });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("layer 5"));
  }
  SECTION("targets that select other projections than the file's tensors") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    rewrite_weights(adapter, [](auto&, auto& metadata) { metadata.erase(std::string(io::peft_config_record_key)); });
    rewrite_config(adapter, [](auto& config) { config["target_modules"] = {"q_proj"}; });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("holds 24 tensors these adapters have no place for"));
  }
  SECTION("a configuration and weights from two different saves") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    rewrite_config(adapter, [](auto& config) { config["lora_alpha"] = 32; });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("'lora_alpha'") && Catch::Contains("different saves"));
  }
  SECTION("another base model than the one the adapter was trained on") {
    auto other = io::from_pretrained<TinyQwen2>(fixture / "base");
    other.blocks[1].mlp.down_proj.weight.value().data()[3] += 0.5f;
    CHECK_THAT(load_error(other, good), Catch::Contains("another base model"));
  }
  SECTION("non-finite values, unexpected tensors, unsupported features, missing files") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    rewrite_weights(adapter, [](auto& tensors, auto&) {
      tensors["base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight"].data()[7] = std::nanf("");
    });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("gate_proj.lora_B.weight") && Catch::Contains("non-finite value at element 7"));
    rewrite_weights(adapter, [](auto& tensors, auto&) {
      tensors["base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight"].data()[7] = 0.0f;
      tensors["base_model.model.lm_head.lora_A.weight"] = Tensor<float, Shape<dyn, dyn>>(Shape<dyn, dyn>{1, 32}, 0.0f);
    });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("no place for") && Catch::Contains("lm_head.lora_A.weight"));
    rewrite_config(adapter, [](auto& config) { config["use_dora"] = true; });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("'use_dora'") && Catch::Contains("DoRA is not supported"));
    rewrite_config(adapter, [](auto& config) {
      config["use_dora"] = false;
      config["peft_type"] = "IA3";
    });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("only LoRA"));
    std::filesystem::remove(adapter / io::peft_weights_file_name);
    rewrite_config(adapter, [](auto& config) { config["peft_type"] = "LORA"; });
    CHECK_THAT(load_error(model, adapter), Catch::Contains("has no adapter_model.safetensors"));
    CHECK_THAT(load_error(model, scratch / "nowhere"), Catch::Contains("has no adapter_config.json"));
  }
  SECTION("after a refused load the adapters hold what they held") {
    scratch_directory scratch;
    const auto adapter = copy_of(good, scratch);
    LoraAdapters<1, Transformer<TinyQwen2>> adapters(model, io::read_peft_config<1>(model, adapter));
    std::vector<float> before;
    for_each_parameter(adapters, [&](std::string_view, auto& p) { before.insert(before.end(), p.value().span().begin(), p.value().span().end()); });
    rewrite_weights(adapter, [](auto& tensors, auto&) {
      tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].data()[0] = INFINITY;
    });
    CHECK_THROWS_AS(io::load_peft_adapter(adapters, adapter), io_error);
    std::vector<float> after;
    for_each_parameter(adapters, [&](std::string_view, auto& p) { after.insert(after.end(), p.value().span().begin(), p.value().span().end()); });
    CHECK(after == before);
  }
}

}  // namespace io_test_peft
