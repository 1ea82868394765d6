// Writes and reads LoRA adapters in PEFT's directory layout, for the round trip with PyPI's
// transformers + peft that tools/peft_roundtrip.py runs (docs/files.md):
//
//   lora_files write --layout qwen2 --rank 1 --base DIR --adapter DIR --tokens-out T.safetensors
//                    --logits-out L.safetensors [--sizes 24,2,3,1,37,40]
//       a random base model (saved as a Hugging Face directory), random adapters with non-zero
//       B (saved as a PEFT directory), a random token batch, and the adapted model's logits
//   lora_files read --base DIR --adapter DIR --tokens T.safetensors --logits-out L.safetensors
//       loads both directories (the rank from adapter_config.json) and writes the logits
//
// The base model's sizes are read at run time (a configuration of dyn sizes): `read` takes any
// Qwen2 or GPT-2 directory, `write` the sizes --sizes gives (d_model, layers, heads, kv heads,
// vocab, MLP width). Ranks are compile-time constants: this program carries ranks 1 and 4.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ranklens/io/hf_model.hpp"
#include "ranklens/io/peft.hpp"

using namespace ranklens;

namespace {


struct Options {
  std::string layout = "qwen2";
  index_t rank = 1;
  std::filesystem::path base, adapter, tokens, logits;
  std::uint64_t seed = 0;
  double alpha = 16;
  bool rslora = true;
  std::vector<index_t> sizes{};  // write: d_model, layers, heads, kv heads, vocab, MLP width
  bool tied = false;             // read: the base ties its embeddings (Qwen2)
};

// The base `write` builds: --sizes, or the small default of each layout (Qwen2: untied, 64
// positions; GPT-2: tied, 32 positions, an MLP 4× wide).
transformer_dims write_sizes(const Options& options) {
  const bool gpt2 = options.layout == "gpt2";
  std::vector<index_t> given = options.sizes;
  if (given.empty()) given = gpt2 ? std::vector<index_t>{32, 2, 4, 4, 64, 128} : std::vector<index_t>{32, 2, 4, 2, 64, 48};
  if (given.size() != 6) throw value_error("--sizes takes 6 numbers: d_model, layers, heads, kv heads, vocab, MLP width");
  return {.d_model = given[0], .n_layers = given[1], .n_heads = given[2], .n_kv_heads = given[3], .vocab_size = given[4],
          .mlp_width = given[5], .max_positions = gpt2 ? 32 : 64, .rope_theta = gpt2 ? 1e4 : 1e6, .norm_eps = gpt2 ? 1e-5 : 1e-6};
}

template <class Model>
auto logits_of(const Model& model, const Tensor<std::int32_t, Shape<dyn, dyn>>& tokens) {
  auto step = tape();
  auto guard = no_grad();
  return model(tokens.view()).to_tensor();
}

template <class Config, index_t Rank>
void write(const Options& options) {
  std::mt19937 rng(std::uint32_t(options.seed));
  Transformer<Config> model(rng, write_sizes(options));
  // Larger than the 0.02 initialisation, so that the logits vary and differences show.
  std::uniform_real_distribution<float> weight(-0.3f, 0.3f);
  for_each_parameter(model, [&](std::string_view, auto& p) {
    for (auto& v : p.value().span()) v = weight(rng);
  });
  io::save_pretrained(model, options.base);
  LoraAdapters<Rank, Transformer<Config>> adapters(model, {.options = {.alpha = options.alpha, .rslora = options.rslora}, .seed = options.seed});
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    for (auto& v : adapter.lora_B.value().span()) v = weight(rng);
  });
  io::save_peft_adapter(adapters, options.adapter, {.base_model_name_or_path = options.base.string()});

  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{2, 11});
  std::uniform_int_distribution<std::int32_t> token(0, std::int32_t(model.dims().vocab_size) - 1);
  for (auto& t : tokens.span()) t = token(rng);
  io::tensor_writer token_file;
  token_file.add("tokens", tokens);
  token_file.save(options.tokens);
  const auto logits = logits_of(model, tokens);
  io::tensor_writer logits_file;
  logits_file.add("logits", logits);
  logits_file.save(options.logits);
  std::printf("wrote %s, %s, %s and %s (%zu adapters of rank %lld)\n", options.base.c_str(), options.adapter.c_str(),
              options.tokens.c_str(), options.logits.c_str(), adapters.sites().size(), static_cast<long long>(Rank));
}

template <class Config, index_t Rank>
void read(const Options& options) {
  auto model = io::from_pretrained<Config>(options.base);
  LoraAdapters<Rank, Transformer<Config>> adapters(model, io::read_peft_config<Rank>(model, options.adapter));
  io::load_peft_adapter(adapters, options.adapter);
  const auto tokens = io::read_tensor<std::int32_t, Shape<dyn, dyn>>(options.tokens, "tokens");
  for (const std::int32_t t : tokens.span())
    if (t < 0 || t >= model.dims().vocab_size) throw value_error("token id " + std::to_string(t) + " is outside the vocabulary");
  const auto logits = logits_of(model, tokens);
  io::tensor_writer logits_file;
  logits_file.add("logits", logits);
  logits_file.save(options.logits);
  std::printf("read %s with %zu adapters of rank %lld; logits written to %s\n", options.adapter.c_str(), adapters.sites().size(),
              static_cast<long long>(Rank), options.logits.c_str());
}

template <class Config>
void with_rank(bool writing, const Options& options) {
  if (options.rank == 1) return writing ? write<Config, 1>(options) : read<Config, 1>(options);
  if (options.rank == 4) return writing ? write<Config, 4>(options) : read<Config, 4>(options);
  throw value_error("rank " + std::to_string(options.rank) + ": this program is compiled for ranks 1 and 4");
}

// The rank an adapter directory was saved with.
index_t rank_in(const std::filesystem::path& adapter) {
  const auto config = io::read_json_file(adapter / io::peft_config_file_name);
  if (!config.contains("r") || !config["r"].is_number_integer())
    throw value_error("'" + (adapter / io::peft_config_file_name).string() + "' has no integer 'r'");
  return config["r"].get<index_t>();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write or read LoRA adapters in PEFT's layout, with a small base model (for tools/peft_roundtrip.py)."};
  app.require_subcommand(1);
  Options options;
  auto* write_command = app.add_subcommand("write", "random base, adapters, tokens, and the adapted logits");
  auto* read_command = app.add_subcommand("read", "load a base and a PEFT adapter, write the logits of the given tokens");
  for (auto* command : {write_command, read_command}) {
    command->add_option("--base", options.base, "Hugging Face model directory")->required();
    command->add_option("--adapter", options.adapter, "PEFT adapter directory")->required();
    command->add_option("--logits-out", options.logits, "safetensors file for the logits")->required();
  }
  write_command->add_option("--layout", options.layout, "qwen2 or gpt2")->check(CLI::IsMember({"qwen2", "gpt2"}));
  write_command->add_option("--rank", options.rank, "1 or 4")->check(CLI::IsMember({1, 4}));
  write_command->add_option("--seed", options.seed, "random seed");
  write_command->add_option("--alpha", options.alpha, "lora_alpha");
  write_command->add_option("--rslora", options.rslora, "scale alpha/√r (true) or alpha/r (false)");
  write_command->add_option("--tokens-out", options.tokens, "safetensors file for the token batch")->required();
  write_command->add_option("--sizes", options.sizes, "d_model,layers,heads,kv heads,vocab,MLP width of the base")->delimiter(',');
  read_command->add_option("--tokens", options.tokens, "safetensors file with an int32 'tokens' (batch, seq)")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  try {
    const bool writing = write_command->parsed();
    if (!writing) {
      options.rank = rank_in(options.adapter);
      const auto config = io::read_json_file(options.base / io::hf_config_file_name);
      options.layout = config.value("model_type", "") == "gpt2" ? "gpt2" : "qwen2";
      options.tied = config.value("tie_word_embeddings", options.layout == "gpt2");
    }
    if (options.layout == "gpt2")
      with_rank<AnyGpt2Like>(writing, options);
    else if (options.tied)
      with_rank<AnyQwen2Like<true>>(writing, options);
    else
      with_rank<AnyQwen2Like<false>>(writing, options);
  } catch (const ranklens::error& failure) {
    std::fprintf(stderr, "lora_files: %s\n", failure.what());
    return 1;
  }
  return 0;
}
