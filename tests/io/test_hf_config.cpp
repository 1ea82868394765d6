// Specification of io/hf_config.hpp: config.json as
// transformers writes it for Qwen2ForCausalLM and GPT2LMHeadModel, and the checks of a file
// against the compiled configuration.
#include <map>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/hf_config.hpp"

namespace io_test_hf_config {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

using SmallQwen2 = Qwen2Like<64, 2, 4, 2, 1000, 256>;
using SmallGpt2 = Gpt2Like<64, 2, 4, 100, 32>;
struct WideMlpGpt2 : Gpt2Like<64, 2, 4, 100, 32> {
  static constexpr index_t mlp_width = 96;
};

// A config.json as transformers 5.24 writes it for Qwen2Config(hidden_size=64,
// intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
// vocab_size=1000, tie_word_embeddings=True, rope_parameters={"rope_theta": 1e6, ...}).
json transformers_qwen2_config() {
  return json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": null, "dtype": "float32",
    "eos_token_id": null, "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
    "intermediate_size": 256, "layer_types": ["full_attention", "full_attention"], "max_position_embeddings": 32768,
    "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 4, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "pad_token_id": null, "rms_norm_eps": 1e-06,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "sliding_window": null,
    "tie_word_embeddings": true, "transformers_version": "5.24.0", "use_cache": true,
    "use_sliding_window": false, "vocab_size": 1000})");
}

// The fields of the hub's original "gpt2" config.json that matter here, at this test's sizes.
json hub_style_gpt2_config() {
  return json::parse(R"({
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "embd_pdrop": 0.1, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
    "n_ctx": 32, "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 32, "resid_pdrop": 0.1,
    "vocab_size": 100})");
}

}  // namespace

TEST_CASE("the Qwen2 config.json has transformers' field names and the model's values", "[io][hf_config]") {
  const json config = hf_config_json<SmallQwen2>(dtype::bf16);
  CHECK(config["architectures"] == json::array({"Qwen2ForCausalLM"}));
  CHECK(config["model_type"] == "qwen2");
  CHECK(config["hidden_size"] == 64);
  CHECK(config["intermediate_size"] == 256);
  CHECK(config["num_hidden_layers"] == 2);
  CHECK(config["num_attention_heads"] == 4);
  CHECK(config["num_key_value_heads"] == 2);
  CHECK(config["vocab_size"] == 1000);
  CHECK(config["max_position_embeddings"] == 32768);
  CHECK(config["rms_norm_eps"] == 1e-6);
  CHECK(config["rope_theta"] == 1e6);  // transformers 4
  CHECK(config["rope_parameters"] == json{{"rope_theta", 1e6}, {"rope_type", "default"}});  // transformers 5
  CHECK(config["tie_word_embeddings"] == true);
  CHECK(config["hidden_act"] == "silu");
  CHECK(config["torch_dtype"] == "bfloat16");
  CHECK(config["dtype"] == "bfloat16");
  CHECK(config["use_sliding_window"] == false);
  CHECK(hf_config_mismatch<SmallQwen2>(config) == std::nullopt);
}

TEST_CASE("the GPT-2 config.json has transformers' field names and the model's values", "[io][hf_config]") {
  const json config = hf_config_json<SmallGpt2>();
  CHECK(config["architectures"] == json::array({"GPT2LMHeadModel"}));
  CHECK(config["model_type"] == "gpt2");
  CHECK(config["n_embd"] == 64);
  CHECK(config["n_layer"] == 2);
  CHECK(config["n_head"] == 4);
  CHECK(config["n_positions"] == 32);
  CHECK(config["vocab_size"] == 100);
  CHECK(config["n_inner"].is_null());  // transformers' spelling of 4 · n_embd
  CHECK(config["layer_norm_epsilon"] == 1e-5);
  CHECK(config["activation_function"] == "gelu_new");
  CHECK(config["tie_word_embeddings"] == true);
  CHECK(config["torch_dtype"] == "float32");
  CHECK(hf_config_json<WideMlpGpt2>()["n_inner"] == 96);
  CHECK(hf_config_mismatch<SmallGpt2>(config) == std::nullopt);
  CHECK(hf_config_mismatch<WideMlpGpt2>(hf_config_json<WideMlpGpt2>()) == std::nullopt);
}

TEST_CASE("a config.json written by transformers matches the configuration it describes", "[io][hf_config]") {
  CHECK(hf_config_mismatch<SmallQwen2>(transformers_qwen2_config()) == std::nullopt);
  CHECK(hf_config_mismatch<SmallGpt2>(hub_style_gpt2_config()) == std::nullopt);
}

TEST_CASE("a mismatch names the field, the file's value and the compiled value", "[io][hf_config]") {
  json config = transformers_qwen2_config();
  config["hidden_size"] = 128;
  CHECK(hf_config_mismatch<SmallQwen2>(config) == "hidden_size is 128, but the compiled configuration has 64");
  config["vocab_size"] = 97;
  config["rope_parameters"]["rope_theta"] = 10000.0;
  CHECK(hf_config_mismatch<SmallQwen2>(config) ==  // every difference at once, not one per recompile
        "hidden_size is 128, but the compiled configuration has 64; vocab_size is 97, but the compiled configuration has 1000; "
        "rope_theta is 10000, but the compiled configuration has 1e+06");

  config = transformers_qwen2_config();
  config["tie_word_embeddings"] = false;
  CHECK(hf_config_mismatch<SmallQwen2>(config) == "tie_word_embeddings is false, but the compiled configuration has true");

  config = transformers_qwen2_config();
  config["rope_parameters"]["rope_theta"] = 10000.0;
  CHECK(hf_config_mismatch<SmallQwen2>(config) == "rope_theta is 10000, but the compiled configuration has 1e+06");

  CHECK(hf_config_mismatch<SmallQwen2>(hub_style_gpt2_config()) ==
        "model_type is \"gpt2\", but the compiled configuration has \"qwen2\"");

  json gpt2 = hub_style_gpt2_config();
  gpt2["activation_function"] = "gelu";  // exact erf GELU, not the tanh approximation
  CHECK(hf_config_mismatch<SmallGpt2>(gpt2) == "activation_function is \"gelu\", but the compiled configuration has \"gelu_new\"");
  gpt2["activation_function"] = "gelu_pytorch_tanh";  // the same function under another name
  CHECK(hf_config_mismatch<SmallGpt2>(gpt2) == std::nullopt);
  gpt2["n_inner"] = 128;
  CHECK(hf_config_mismatch<SmallGpt2>(gpt2) == "n_inner is 128, but the compiled configuration has 256");
}

TEST_CASE("fields a file leaves out take transformers' defaults", "[io][hf_config]") {
  // transformers 4 style: top-level rope_theta, no num_key_value_heads (= num_attention_heads),
  // no rms_norm_eps (1e-6), no tie_word_embeddings (false for Qwen2).
  const json qwen2_v4 = json::parse(R"({"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 256,
    "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 1000, "rope_theta": 1000000.0, "rope_scaling": null})");
  CHECK(hf_config_mismatch<Qwen2Like<64, 2, 4, 4, 1000, 256, false>>(qwen2_v4) == std::nullopt);
  CHECK(hf_config_mismatch<SmallQwen2>(qwen2_v4) ==
        "num_key_value_heads is 4, but the compiled configuration has 2; tie_word_embeddings is false, but the compiled configuration has true");

  // No rope theta at all: transformers' default is 10000, not Qwen2's released 1e6.
  json no_theta = qwen2_v4;
  no_theta.erase("rope_theta");
  CHECK(hf_config_mismatch<Qwen2Like<64, 2, 4, 4, 1000, 256, false>>(no_theta) ==
        "rope_theta is 10000, but the compiled configuration has 1e+06");

  // GPT-2: n_positions 1024, tie_word_embeddings true and layer_norm_epsilon 1e-5 by default.
  const json gpt2 = json::parse(R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 100})");
  CHECK(hf_config_mismatch<Gpt2Like<64, 2, 4, 100>>(gpt2) == std::nullopt);
}

TEST_CASE("hf_config_values reads every field of the table, with transformers' defaults", "[io][hf_config]") {
  using values = std::map<std::string, config_value, std::less<>>;
  CHECK(hf_config_values<SmallQwen2>(transformers_qwen2_config()) ==
        values{{"d_model", 64LL}, {"n_layers", 2LL}, {"n_heads", 4LL}, {"n_kv_heads", 2LL}, {"vocab_size", 1000LL}, {"mlp_width", 256LL},
               {"max_positions", 32768LL}, {"tied_embeddings", true}, {"rope_theta", 1e6}, {"norm_eps", 1e-6}});
  // transformers 4 style, fields left out: kv heads = attention heads, untied, theta at the top.
  const json qwen2_v4 = json::parse(R"({"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 3, "num_attention_heads": 4, "vocab_size": 97, "rope_theta": 10000.0})");
  CHECK(hf_config_values<SmallQwen2>(qwen2_v4) ==
        values{{"d_model", 32LL}, {"n_layers", 3LL}, {"n_heads", 4LL}, {"n_kv_heads", 4LL}, {"vocab_size", 97LL}, {"mlp_width", 48LL},
               {"max_positions", 32768LL}, {"tied_embeddings", false}, {"rope_theta", 1e4}, {"norm_eps", 1e-6}});
  // GPT-2: n_inner null is 4 · n_embd; positions, tying and epsilon by default.
  const json gpt2 = json::parse(R"({"model_type": "gpt2", "n_embd": 48, "n_layer": 2, "n_head": 4, "vocab_size": 100, "n_inner": null})");
  CHECK(hf_config_values<SmallGpt2>(gpt2) == values{{"d_model", 48LL}, {"n_layers", 2LL}, {"n_heads", 4LL}, {"vocab_size", 100LL},
                                                    {"mlp_width", 192LL}, {"max_positions", 1024LL}, {"tied_embeddings", true},
                                                    {"norm_eps", 1e-5}});
  CHECK_THAT(io_error_message([&] { (void)hf_config_values<SmallGpt2>(json::parse(R"({"model_type": "gpt2", "n_embd": 48})")); }),
             Contains("has no 'n_layer'"));
}

TEST_CASE("float32 values printed in full still match", "[io][hf_config]") {
  json config = transformers_qwen2_config();
  config["rms_norm_eps"] = 9.999999974752427e-07;  // float32(1e-6), as some hub configs hold it
  CHECK(hf_config_mismatch<SmallQwen2>(config) == std::nullopt);
  config["rms_norm_eps"] = 1e-5;
  CHECK(hf_config_mismatch<SmallQwen2>(config) == "rms_norm_eps is 1e-05, but the compiled configuration has 1e-06");
}

TEST_CASE("features ranklens does not implement are named", "[io][hf_config]") {
  json config = transformers_qwen2_config();
  config["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 1e6}};
  CHECK_THAT(*hf_config_mismatch<SmallQwen2>(config), Contains("rope_parameters") && Contains("linear") &&
                                                            Contains("only the default rotary embedding"));
  config = transformers_qwen2_config();
  config["use_sliding_window"] = true;
  CHECK(hf_config_mismatch<SmallQwen2>(config) == "use_sliding_window is true, but the compiled configuration has false");
  config = transformers_qwen2_config();
  config["layer_types"] = {"full_attention", "sliding_attention"};
  CHECK_THAT(*hf_config_mismatch<SmallQwen2>(config), Contains("layer_types") && Contains("sliding_attention"));
}

TEST_CASE("a file that is not a transformers config throws io_error naming the source", "[io][hf_config]") {
  json config = transformers_qwen2_config();
  config.erase("hidden_size");
  CHECK_THAT(io_error_message([&] { (void)hf_config_mismatch<SmallQwen2>(config, "'dir/config.json'"); }),
             Contains("'dir/config.json'") && Contains("has no 'hidden_size'"));
  config = transformers_qwen2_config();
  config["vocab_size"] = "1000";
  CHECK_THAT(io_error_message([&] { (void)hf_config_mismatch<SmallQwen2>(config); }), Contains("'vocab_size' is \"1000\", not an integer"));
  CHECK_THAT(io_error_message([&] { (void)hf_config_mismatch<SmallQwen2>(json::array()); }), Contains("not a JSON object"));

  scratch_directory directory;
  write_whole_file(directory / "config.json", "{\"model_type\": \"qwen2\",");
  CHECK_THAT(io_error_message([&] { read_json_file(directory / "config.json"); }), Contains("config.json") && Contains("not valid JSON"));
}

}  // namespace io_test_hf_config
