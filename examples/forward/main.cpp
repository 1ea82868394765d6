// Runs a Hugging Face model directory (Qwen2 or GPT-2) on a list of token ids and writes the
// logits to a safetensors file: the way to compare ranklens with transformers, or with any other
// implementation, number for number (docs/files.md has the full check).
//
//   forward --model DIR --tokens 1,2,3 --output logits.safetensors
//   forward --model DIR --tokens-file ids.txt --output logits.safetensors --save DIR2 --save-dtype bf16
//   forward --model DIR --tokens 1,2,3 --output logits.safetensors --run-time-sizes   # skip the presets
//
// The output holds one tensor, "logits", F32, of shape (1, T, vocab_size). --save writes the
// model back out with ranklens' save_pretrained, to check that transformers reads it.
//
// Any Qwen2 or GPT-2 directory runs, in every weight dtype transformers writes, sharded or not:
// where config.json matches one of the compiled configurations (`presets` below) that one runs,
// otherwise a configuration whose sizes are all dyn, read from config.json at load
// (nn/transformer_config.hpp). Both compute the same logits, bit for bit.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "ranklens/io/hf_model.hpp"

using namespace ranklens;

namespace {

// Sizes of the small random models that the check in docs/files.md builds with transformers.
using TinyQwen2 = Qwen2Like<64, 2, 4, 2, 1000, 256>;
using TinyQwen2Untied = Qwen2Like<64, 2, 4, 2, 1000, 256, /*TiedEmbeddings=*/false>;
using TinyGpt2 = Gpt2Like<64, 2, 4, 100, 32>;
// Released models, from their config.json on the Hugging Face hub.
using Gpt2Small = Gpt2Like<768, 12, 12, 50257, 1024>;                                  // openai-community/gpt2
using Qwen2HalfB = Qwen2Like<896, 24, 14, 2, 151936, 4864, true, 131072>;            // Qwen/Qwen2-0.5B
using Qwen25HalfB = Qwen2Like<896, 24, 14, 2, 151936, 4864, true, 32768>;            // Qwen/Qwen2.5-0.5B

template <class Config>
struct preset {
  using config = Config;
  std::string_view name;
};

constexpr auto presets = std::tuple{
    preset<TinyQwen2>{"tiny-qwen2"}, preset<TinyQwen2Untied>{"tiny-qwen2-untied"}, preset<TinyGpt2>{"tiny-gpt2"},
    preset<Gpt2Small>{"gpt2"},       preset<Qwen2HalfB>{"qwen2-0.5b"},             preset<Qwen25HalfB>{"qwen2.5-0.5b"}};

struct options {
  std::filesystem::path model;
  std::filesystem::path output;
  std::vector<std::int32_t> tokens;
  std::optional<std::filesystem::path> save;
  std::optional<dtype> save_dtype;
  bool run_time_sizes = false;  // the model of run-time sizes even where a preset matches
};

// "1,2,3" or "1 2 3" (any mix of commas and white space).
std::vector<std::int32_t> parse_token_ids(const std::string& text, const std::string& source) {
  std::string spaced = text;
  for (char& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<std::int32_t> ids;
  std::string word;
  while (in >> word) {
    std::size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || id < 0 || id > INT32_MAX)
      throw value_error(source + ": '" + word + "' is not a token id (a non-negative integer)");
    ids.push_back(static_cast<std::int32_t>(id));
  }
  if (ids.empty()) throw value_error(source + " holds no token ids");
  return ids;
}

template <class Config>
void run(std::string_view preset_name, const options& opts) {
  const auto load_start = std::chrono::steady_clock::now();
  const auto model = io::from_pretrained<Config>(opts.model);
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const transformer_dims& sizes = model.dims();
  std::printf("%.*s: loaded %s in %.3f s (d_model %lld, %lld layers, %lld/%lld heads, vocab %lld, mlp %lld)\n", int(preset_name.size()),
              preset_name.data(), opts.model.c_str(), load_seconds, static_cast<long long>(sizes.d_model),
              static_cast<long long>(sizes.n_layers), static_cast<long long>(sizes.n_heads), static_cast<long long>(sizes.n_kv_heads),
              static_cast<long long>(sizes.vocab_size), static_cast<long long>(sizes.mlp_width));

  const index_t vocab = sizes.vocab_size;
  const auto count = static_cast<index_t>(opts.tokens.size());
  for (const std::int32_t id : opts.tokens)
    if (id >= vocab)
      throw value_error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab) + " (" +
                        opts.model.string() + ")");
  if (Config::positions == position_kind::learned && count > sizes.max_positions)
    throw value_error(std::to_string(count) + " tokens exceed the " + std::to_string(sizes.max_positions) +
                      " positions of this GPT-2 (n_positions)");
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{1, count});
  std::copy(opts.tokens.begin(), opts.tokens.end(), tokens.data());

  const auto logits = [&] {
    auto step = tape();
    auto guard = no_grad();
    return model(tokens).to_tensor();  // a copy that outlives the tape
  }();
  io::tensor_writer out;
  out.add("logits", logits);
  out.set_metadata("preset", std::string(preset_name));
  out.set_metadata("model", opts.model.string());
  out.save(opts.output);
  std::printf("%.*s: %lld tokens -> logits (1, %lld, %lld) written to %s\n", int(preset_name.size()), preset_name.data(),
              static_cast<long long>(count), static_cast<long long>(count), static_cast<long long>(vocab), opts.output.c_str());

  if (opts.save) {
    io::save_pretrained(model, *opts.save, {.stored_as = opts.save_dtype});
    std::printf("model saved again by ranklens to %s\n", opts.save->c_str());
  }
}

// Runs the preset that config.json describes, or else the model of run-time sizes of its family.
void dispatch(const options& opts) {
  const auto config_path = opts.model / io::hf_config_file_name;
  if (!std::filesystem::is_regular_file(config_path))
    throw io_error("'" + opts.model.string() + "' has no config.json; expected a Hugging Face model directory");
  const nlohmann::json config = io::read_json_file(config_path);
  const std::string source = "'" + config_path.string() + "'";
  const auto type = config.find("model_type");
  const std::string model_type = type != config.end() && type->is_string() ? type->get<std::string>() : "";
  if (model_type != "qwen2" && model_type != "gpt2")
    throw value_error(source + ": model_type is " + (type == config.end() ? std::string("missing") : type->dump()) +
                      "; this program runs \"qwen2\" and \"gpt2\" models");
  const bool ran_preset = !opts.run_time_sizes && std::apply(
      [&](const auto&... each) {
        auto try_one = [&](const auto& candidate) {
          using Config = typename std::remove_cvref_t<decltype(candidate)>::config;
          if (io::hf_config_mismatch<Config>(config, source)) return false;
          run<Config>(candidate.name, opts);
          return true;
        };
        return (try_one(each) || ...);
      },
      presets);
  if (ran_preset) return;
  if (model_type == "gpt2") return run<AnyGpt2Like>("gpt2 (sizes from config.json)", opts);
  const bool tied = std::get<bool>(io::hf_config_values<AnyQwen2Like<>>(config, source).at("tied_embeddings"));
  if (tied) return run<AnyQwen2Like<true>>("qwen2 (sizes from config.json)", opts);
  run<AnyQwen2Like<false>>("qwen2 (sizes from config.json)", opts);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Run a Hugging Face model directory (Qwen2 or GPT-2) on token ids and write its logits to safetensors."};
  options opts;
  std::string token_text, token_file, save_dtype_name;
  std::string save_path;
  app.add_option("--model", opts.model, "directory with config.json and model.safetensors")->required()->check(CLI::ExistingDirectory);
  auto* token_option = app.add_option("--tokens", token_text, "token ids, e.g. 1,2,3");
  auto* file_option = app.add_option("--tokens-file", token_file, "file of token ids separated by commas or white space")
                          ->check(CLI::ExistingFile);
  token_option->excludes(file_option);
  app.add_option("--output", opts.output, "safetensors file to write: logits, F32, (1, T, vocab)")->required();
  app.add_option("--save", save_path, "also write the model back out, with ranklens' save_pretrained, to this directory");
  app.add_option("--save-dtype", save_dtype_name, "dtype of the weights --save writes: f32 (default), f16, bf16 or f64")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "f64"}));
  app.add_flag("--run-time-sizes", opts.run_time_sizes,
               "read every size from config.json even where a compiled preset matches (the same logits, bit for bit)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!token_text.empty()) {
      opts.tokens = parse_token_ids(token_text, "--tokens");
    } else if (!token_file.empty()) {
      std::ifstream in(token_file);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      opts.tokens = parse_token_ids(text, "'" + token_file + "'");
    } else {
      throw value_error("give the token ids with --tokens 1,2,3 or --tokens-file FILE");
    }
    if (!save_path.empty()) opts.save = save_path;
    if (save_dtype_name == "f16") opts.save_dtype = dtype::f16;
    else if (save_dtype_name == "bf16") opts.save_dtype = dtype::bf16;
    else if (save_dtype_name == "f64") opts.save_dtype = dtype::f64;
    dispatch(opts);
  } catch (const ranklens::error& failure) {
    std::fprintf(stderr, "forward: %s\n", failure.what());
    return 1;
  }
  return 0;
}
