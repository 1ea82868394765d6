// Runs a Hugging Face model directory (Qwen2 or GPT-2) on a list of token ids and writes the
// logits to a safetensors file: the way to compare ranklens with transformers, or with any other
// implementation, number for number (docs/files.md has the full check).
//
//   forward --model DIR --tokens 1,2,3 --output logits.safetensors
//   forward --model DIR --tokens-file ids.txt --output logits.safetensors --save DIR2 --save-dtype bf16
//
// The output holds one tensor, "logits", F32, of shape (1, T, vocab_size). --save writes the
// model back out with ranklens' save_pretrained, to check that transformers reads it.
//
// Model widths are compile-time constants in ranklens, so this program carries a fixed list of
// compiled configurations (`presets` below) and runs the one that config.json describes; for
// any other it names every field in which each preset differs, and prints the configuration
// line that would run the directory: add that to the list.
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
  constexpr index_t vocab = Config::vocab_size;
  const auto count = static_cast<index_t>(opts.tokens.size());
  for (const std::int32_t id : opts.tokens)
    if (id >= vocab)
      throw value_error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab) + " (" +
                        std::string(preset_name) + ")");
  if (Config::positions == position_kind::learned && count > Config::max_positions)
    throw value_error(std::to_string(count) + " tokens exceed the " + std::to_string(Config::max_positions) +
                      " positions of this GPT-2 (n_positions)");

  const auto load_start = std::chrono::steady_clock::now();
  const auto model = io::from_pretrained<Config>(opts.model);
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  std::printf("%.*s: loaded %s in %.3f s\n", int(preset_name.size()), preset_name.data(), opts.model.c_str(), load_seconds);
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

// The configuration line that would run `config`, a config.json of Family's layout (Family: a
// preset of that family, whose field table and defaults the line starts from), with the values
// transformers reads from it (io::hf_config_values).
template <class Family>
std::string preset_line(const nlohmann::json& config, const std::string& source) {
  const auto values = io::hf_config_values<Family>(config, source);
  const auto integer = [&](std::string_view field) { return std::get<long long>(values.find(field)->second); };
  const auto real = [&](std::string_view field) { return std::get<double>(values.find(field)->second); };
  const auto number = [](double value) {
    std::ostringstream text;
    text << value;
    return text.str();
  };
  std::ostringstream line;
  std::string overrides;
  if constexpr (Family::layout == checkpoint_layout::qwen2) {
    line << "Qwen2Like<" << integer("d_model") << ", " << integer("n_layers") << ", " << integer("n_heads") << ", "
         << integer("n_kv_heads") << ", " << integer("vocab_size") << ", " << integer("mlp_width") << ", "
         << (std::get<bool>(values.find("tied_embeddings")->second) ? "true" : "false") << ", " << integer("max_positions") << ">";
    if (real("rope_theta") != Family::rope_theta) overrides += " static constexpr double rope_theta = " + number(real("rope_theta")) + ";";
  } else {
    line << "Gpt2Like<" << integer("d_model") << ", " << integer("n_layers") << ", " << integer("n_heads") << ", "
         << integer("vocab_size") << ", " << integer("max_positions") << ">";
    if (integer("mlp_width") != 4 * integer("d_model"))
      overrides += " static constexpr index_t mlp_width = " + std::to_string(integer("mlp_width")) + ";";
  }
  if (real("norm_eps") != Family::norm_eps) overrides += " static constexpr double norm_eps = " + number(real("norm_eps")) + ";";
  if (overrides.empty()) return "using FileConfig = " + line.str() + ";";
  return "struct FileConfig : " + line.str() + " {" + overrides + " };";
}

// The line for `config` if it is a Qwen2 or GPT-2 config.json, else "".
std::string preset_for(const nlohmann::json& config, const std::string& source) {
  const auto type = config.find("model_type");
  if (type == config.end() || !type->is_string()) return "";
  if (*type == "qwen2") return preset_line<TinyQwen2>(config, source);
  if (*type == "gpt2") return preset_line<TinyGpt2>(config, source);
  return "";
}

// Runs the preset that config.json describes, or explains why none does.
void dispatch(const options& opts) {
  const auto config_path = opts.model / io::hf_config_file_name;
  if (!std::filesystem::is_regular_file(config_path))
    throw io_error("'" + opts.model.string() + "' has no config.json; expected a Hugging Face model directory");
  const nlohmann::json config = io::read_json_file(config_path);
  const std::string source = "'" + config_path.string() + "'";
  std::string reasons;
  const bool ran = std::apply(
      [&](const auto&... each) {
        auto try_one = [&](const auto& candidate) {
          using Config = typename std::remove_cvref_t<decltype(candidate)>::config;
          const auto mismatch = io::hf_config_mismatch<Config>(config, source);
          if (!mismatch) {
            run<Config>(candidate.name, opts);
            return true;
          }
          reasons += "\n  " + std::string(candidate.name) + ": " + *mismatch;
          return false;
        };
        return (try_one(each) || ...);
      },
      presets);
  if (!ran) {
    std::string advice = "add one to `presets` in examples/forward/main.cpp";
    if (const std::string line = preset_for(config, source); !line.empty()) advice += "; for this file: " + line;
    throw value_error(source + " matches none of the configurations compiled into this program (" + advice + "):" + reasons);
  }
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
