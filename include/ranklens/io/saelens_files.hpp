// A SparseAutoencoder as a SAELens (>= 6) directory, written and read: cfg.json and
// sae_weights.safetensors, which SAELens' load_from_disk reads and its save_model writes.
//
//   io::save_saelens(sae, "runs/sae");                      // architecture from sae.activation
//   io::save_saelens(sae, "runs/sae_inference", {.architecture = io::SaeLensArchitecture::jumprelu});
//   io::load_saelens(sae, "runs/sae");                      // into an existing SparseAutoencoder<K, DIn, DSae>
//
// Three of SAELens' architectures, chosen by what SAELens itself does with each:
//
//   "topk"       W_enc, b_enc, W_dec, b_dec; cfg k. SAE.load_from_disk gives a TopKSAE.
//   "batchtopk"  the same and "topk_threshold" (F64 scalar): SAELens registers BatchTopK only as a
//                training class, TrainingSAE.load_from_disk gives a BatchTopKTrainingSAE (whose
//                encode is the batch-dependent BatchTopK) and loads strictly, so the threshold
//                buffer must be there.
//   "jumprelu"   the same four and "threshold" (d_sae): BatchTopK's inference form, as SAELens'
//                save_inference_model writes it (a per-latent threshold, all equal to the estimate).
//
// Writing folds the input scale s into the weights (W_enc·s, W_dec/s, b_dec/s) and says
// normalize_activations "none", as SAELens' trainer does before saving, so the file maps raw
// activations to raw reconstructions. It writes rescale_acts_by_decoder_norm false and
// metadata.sae_lens_version 6.0.0 (below 6, SAELens takes its legacy path), and records the cfg in
// the weights' metadata, so that a cfg.json and weights from two different saves are refused.
// Each file is replaced atomically, the weights first.
//
// Reading checks everything before it changes the autoencoder, and refuses with one error naming
// the file and the key: a missing file, malformed JSON, an unknown or missing architecture, a
// version below 6, d_in / d_sae / k different from the template's, an unknown dtype, runtime
// normalisation ("constant_norm_rescale", "layer_norm"), hook_z reshaping, a missing or extra
// tensor, a wrong shape or a non-floating dtype, and NaN or infinite values. A file saved with
// rescale_acts_by_decoder_norm true is read by folding the decoder norms into the encoder, as
// SAELens' fold_W_dec_norm does (the same codes and reconstructions). "expected_average_only_in"
// is accepted and, as in SAELens' load_from_disk, applies no scale: the file's weights expect
// activations already scaled by the factor the file does not hold.
#pragma once
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/io/hf_config.hpp"
#include "ranklens/io/name_list.hpp"
#include "ranklens/io/tensor_io.hpp"
#include "ranklens/sae/sparse_autoencoder.hpp"

namespace ranklens::io {

enum class SaeLensArchitecture { topk, batchtopk, jumprelu };

constexpr std::string_view name_of(SaeLensArchitecture a) noexcept {
  switch (a) {
    case SaeLensArchitecture::topk: return "topk";
    case SaeLensArchitecture::batchtopk: return "batchtopk";
    case SaeLensArchitecture::jumprelu: return "jumprelu";
  }
  return "?";
}

inline constexpr std::string_view saelens_config_file_name = "cfg.json";
inline constexpr std::string_view saelens_weights_file_name = "sae_weights.safetensors";
inline constexpr std::string_view saelens_format_version = "6.0.0";
// Metadata key under which save_saelens records cfg.json's contents in the weights.
inline constexpr std::string_view saelens_config_record_key = "ranklens.saelens_cfg";

struct SaeLensSaveOptions {
  std::optional<SaeLensArchitecture> architecture{};  // default: topk / batchtopk / jumprelu for the SAE's activation
  std::optional<dtype> stored_as{};                 // F32 or F64; default the SAE's own
};

// What a cfg.json says, once checked (read_saelens_config).
struct SaeLensConfig {
  SaeLensArchitecture architecture{};
  index_t d_in = 0, d_sae = 0;
  std::optional<index_t> k;  // topk and batchtopk; jumprelu when metadata.training_architecture_details has it
  std::string dtype_name;
  bool apply_b_dec_to_input = true;
  std::string normalize_activations = "none";
  bool rescale_acts_by_decoder_norm = false;
  std::string hook_name;
  std::string sae_lens_version;
};

namespace saelens_detail {

inline std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

[[noreturn]] inline void fail(const std::filesystem::path& file, const std::string& key, const std::string& what) {
  throw io_error("load_saelens: " + quoted(file) + (key.empty() ? std::string() : ", key '" + key + "'") + ": " + what);
}

inline std::string dtype_name_for(dtype stored) {
  if (stored == dtype::f32) return "float32";
  if (stored == dtype::f64) return "float64";
  throw value_error("save_saelens: weights are stored as F32 or F64, not " + std::string(name_of(stored)));
}

// The leading integer of a version string ("6.54.12" → 6, "6.0.0-rc.0" → 6), if any.
inline std::optional<long> major_version(std::string_view version) {
  long major = 0;
  const auto [end, error] = std::from_chars(version.data(), version.data() + version.size(), major);
  if (error != std::errc() || end == version.data()) return std::nullopt;
  return major;
}

template <class Json>
index_t whole_number(const std::filesystem::path& file, const std::string& key, const Json& value) {
  if (value.is_number_integer()) return value.template get<index_t>();
  if (value.is_number_float()) {
    const double v = value.template get<double>();
    if (std::isfinite(v) && v == std::floor(v)) return index_t(v);
  }
  fail(file, key, "expected a whole number, found " + value.dump());
}

}  // namespace saelens_detail

// Reads and checks cfg.json of a SAELens directory (no weights).
inline SaeLensConfig read_saelens_config(const std::filesystem::path& directory) {
  using saelens_detail::fail;
  const std::filesystem::path file = directory / saelens_config_file_name;
  if (!std::filesystem::is_regular_file(file)) throw io_error("load_saelens: " + saelens_detail::quoted(directory) + " has no cfg.json");
  nlohmann::json cfg;
  try {
    cfg = read_json_file(file);
  } catch (const io_error& error) {
    throw io_error(std::string("load_saelens: ") + error.what());
  }
  if (!cfg.is_object()) fail(file, "", "expected a JSON object");
  const nlohmann::json no_metadata = nlohmann::json::object();
  const nlohmann::json& metadata = cfg.contains("metadata") && cfg["metadata"].is_object() ? cfg["metadata"] : no_metadata;
  SaeLensConfig out;

  // Version first: files from SAELens < 6 use other keys, which would make the later errors misleading.
  const nlohmann::json* version = cfg.contains("sae_lens_version") ? &cfg["sae_lens_version"]
                                  : metadata.contains("sae_lens_version") ? &metadata["sae_lens_version"]
                                                                         : nullptr;
  if (version == nullptr || !version->is_string())
    fail(file, "metadata.sae_lens_version", "missing: the file predates SAELens 6; load it with SAELens >= 6 and save it again");
  out.sae_lens_version = version->get<std::string>();
  const auto major = saelens_detail::major_version(out.sae_lens_version);
  if (!major || *major < 6)
    fail(file, "metadata.sae_lens_version", "'" + out.sae_lens_version + "' is below 6; load it with SAELens >= 6 and save it again");

  if (!cfg.contains("architecture") || !cfg["architecture"].is_string()) fail(file, "architecture", "missing or not a string");
  const std::string architecture = cfg["architecture"].get<std::string>();
  if (architecture == "topk") out.architecture = SaeLensArchitecture::topk;
  else if (architecture == "batchtopk") out.architecture = SaeLensArchitecture::batchtopk;
  else if (architecture == "jumprelu") out.architecture = SaeLensArchitecture::jumprelu;
  else fail(file, "architecture", "'" + architecture + "' is not one ranklens reads (topk, batchtopk, jumprelu)");

  for (const char* key : {"d_in", "d_sae"})
    if (!cfg.contains(key)) fail(file, key, "missing");
  out.d_in = saelens_detail::whole_number(file, "d_in", cfg["d_in"]);
  out.d_sae = saelens_detail::whole_number(file, "d_sae", cfg["d_sae"]);
  if (out.architecture != SaeLensArchitecture::jumprelu) {
    if (!cfg.contains("k")) fail(file, "k", "missing (a " + architecture + " SAE needs it)");
    out.k = saelens_detail::whole_number(file, "k", cfg["k"]);
  } else if (metadata.contains("training_architecture_details") && metadata["training_architecture_details"].is_object() &&
             metadata["training_architecture_details"].contains("k")) {
    out.k = saelens_detail::whole_number(file, "metadata.training_architecture_details.k", metadata["training_architecture_details"]["k"]);
  }

  out.dtype_name = cfg.value("dtype", std::string("float32"));
  static const std::set<std::string, std::less<>> dtypes{"float32", "float64", "float16", "bfloat16",
                                                        "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16"};
  if (!dtypes.contains(out.dtype_name)) fail(file, "dtype", "'" + out.dtype_name + "' is not a dtype SAELens knows");

  auto boolean = [&](const char* key, bool fallback) {
    if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
    if (!cfg[key].is_boolean()) fail(file, key, "expected true or false, found " + cfg[key].dump());
    return cfg[key].get<bool>();
  };
  out.apply_b_dec_to_input = boolean("apply_b_dec_to_input", true);
  // SAELens' defaults: false for the inference TopKSAE, true for the training classes (BatchTopK).
  out.rescale_acts_by_decoder_norm =
      out.architecture == SaeLensArchitecture::jumprelu ? false : boolean("rescale_acts_by_decoder_norm", out.architecture == SaeLensArchitecture::batchtopk);

  if (cfg.contains("normalize_activations") && !cfg["normalize_activations"].is_null()) {
    if (!cfg["normalize_activations"].is_string()) fail(file, "normalize_activations", "expected a string");
    out.normalize_activations = cfg["normalize_activations"].get<std::string>();
  }
  if (out.normalize_activations != "none" && out.normalize_activations != "expected_average_only_in")
    fail(file, "normalize_activations",
         "'" + out.normalize_activations + "' normalises at run time, which ranklens does not do (it reads \"none\" and \"expected_average_only_in\")");
  if (cfg.contains("reshape_activations") && cfg["reshape_activations"] != "none")
    fail(file, "reshape_activations", cfg["reshape_activations"].dump() + " is not \"none\": hook_z reshaping is not supported");

  const nlohmann::json* hook = metadata.contains("hook_name") ? &metadata["hook_name"] : cfg.contains("hook_name") ? &cfg["hook_name"] : nullptr;
  if (hook != nullptr && hook->is_string()) out.hook_name = hook->get<std::string>();
  return out;
}

// The cfg.json that save_saelens writes for `sae` as `architecture`, weights stored as `stored`.
template <index_t K, index_t DIn, index_t DSae, Real T, Device D>
nlohmann::ordered_json saelens_config_json(const SparseAutoencoder<K, DIn, DSae, T, D>& sae, SaeLensArchitecture architecture, dtype stored) {
  nlohmann::ordered_json cfg;
  cfg["d_in"] = DIn;
  cfg["d_sae"] = DSae;
  cfg["dtype"] = saelens_detail::dtype_name_for(stored);
  cfg["device"] = "cpu";
  cfg["apply_b_dec_to_input"] = sae.apply_b_dec_to_input;
  cfg["normalize_activations"] = "none";  // the input scale is folded into the weights
  cfg["reshape_activations"] = "none";
  nlohmann::ordered_json metadata;
  metadata["sae_lens_version"] = std::string(saelens_format_version);
  metadata["sae_lens_training_version"] = std::string(saelens_format_version);
  if (!sae.hook_name.empty()) metadata["hook_name"] = sae.hook_name;
  metadata["written_by"] = "ranklens";
  if (architecture == SaeLensArchitecture::jumprelu) {
    metadata["training_architecture"] = sae.activation == SaeActivation::top_k ? "topk" : "batchtopk";
    metadata["training_architecture_details"] = {{"k", K}};
  }
  cfg["metadata"] = metadata;
  if (architecture != SaeLensArchitecture::jumprelu) {
    cfg["k"] = K;
    cfg["rescale_acts_by_decoder_norm"] = false;
  }
  cfg["architecture"] = std::string(name_of(architecture));
  return cfg;
}

// An autoencoder on a device is saved from host copies of its parameters.
template <index_t K, index_t DIn, index_t DSae, Real T, Device D>
void save_saelens(const SparseAutoencoder<K, DIn, DSae, T, D>& sae, const std::filesystem::path& directory, const SaeLensSaveOptions& options = {}) {
  const SaeLensArchitecture architecture = options.architecture.value_or(sae.activation == SaeActivation::top_k         ? SaeLensArchitecture::topk
                                                                         : sae.activation == SaeActivation::batch_top_k ? SaeLensArchitecture::batchtopk
                                                                                                                         : SaeLensArchitecture::jumprelu);
  const dtype stored = options.stored_as.value_or(dtype_of<T>);
  const nlohmann::ordered_json cfg = saelens_config_json(sae, architecture, stored);  // also refuses a dtype other than F32 / F64
  const double s = sae.input_scale;
  if (!(s > 0) || !std::isfinite(s)) throw value_error("save_saelens: the input scale " + std::to_string(s) + " is not a positive number");
  const bool uniform_threshold = std::all_of(sae.threshold.data(), sae.threshold.data() + DSae, [&](T v) { return v == sae.threshold(0); });
  if (architecture == SaeLensArchitecture::batchtopk && !uniform_threshold)
    throw value_error("save_saelens: a batchtopk file holds one threshold for all latents, but this autoencoder's differ; save it as jumprelu");

  // The folded weights (copies, so the autoencoder is untouched).
  Tensor<T, Shape<DIn, DSae>> w_enc = to_host(sae.W_enc.value().view());
  Tensor<T, Shape<DSae, DIn>> w_dec = to_host(sae.W_dec.value().view());
  Tensor<T, Shape<DIn>> b_dec = to_host(sae.b_dec.value().view());
  const Tensor<T, Shape<DSae>> b_enc = to_host(sae.b_enc.value().view());
  if (s != 1.0) {
    for (T& v : w_enc.span()) v = T(double(v) * s);
    for (T& v : w_dec.span()) v = T(double(v) / s);
    for (T& v : b_dec.span()) v = T(double(v) / s);
  }
  const Tensor<double, Shape<>> topk_threshold(Shape<>{}, double(sae.threshold(0)));
  std::error_code failure;
  std::filesystem::create_directories(directory, failure);
  if (failure) throw io_error("save_saelens: cannot create the directory " + saelens_detail::quoted(directory) + ": " + failure.message());

  const std::string cfg_text = cfg.dump() + "\n";
  tensor_writer weights;
  weights.add("W_enc", w_enc, stored);
  weights.add("b_enc", b_enc, stored);
  weights.add("W_dec", w_dec, stored);
  weights.add("b_dec", b_dec, stored);
  if (architecture == SaeLensArchitecture::batchtopk) weights.add("topk_threshold", topk_threshold);
  if (architecture == SaeLensArchitecture::jumprelu) weights.add("threshold", sae.threshold, stored);
  weights.set_metadata("format", "pt");
  weights.set_metadata(std::string(saelens_config_record_key), cfg.dump());
  weights.save(directory / saelens_weights_file_name);
  write_text_atomically(directory / saelens_config_file_name, cfg_text);
}

// Reads a SAELens directory into `sae` (on any device: read on the host, then copied). Every
// check comes first: when one fails, sae is unchanged.
template <index_t K, index_t DIn, index_t DSae, Real T, Device D>
void load_saelens(SparseAutoencoder<K, DIn, DSae, T, D>& sae, const std::filesystem::path& directory) {
  using saelens_detail::fail;
  const SaeLensConfig cfg = read_saelens_config(directory);
  const std::filesystem::path cfg_file = directory / saelens_config_file_name;
  const std::filesystem::path weights_file = directory / saelens_weights_file_name;
  if (cfg.d_in != DIn) fail(cfg_file, "d_in", std::to_string(cfg.d_in) + ", but this SparseAutoencoder has d_in " + std::to_string(DIn));
  if (cfg.d_sae != DSae) fail(cfg_file, "d_sae", std::to_string(cfg.d_sae) + ", but this SparseAutoencoder has d_sae " + std::to_string(DSae));
  if (cfg.k && *cfg.k != K)
    fail(cfg_file, cfg.architecture == SaeLensArchitecture::jumprelu ? "metadata.training_architecture_details.k" : "k",
         std::to_string(*cfg.k) + ", but this SparseAutoencoder has K " + std::to_string(K));
  if (!std::filesystem::is_regular_file(weights_file))
    throw io_error("load_saelens: " + saelens_detail::quoted(directory) + " has no " + std::string(saelens_weights_file_name));

  const safetensors_reader reader = safetensors_reader::open(weights_file);
  if (const auto record = reader.metadata().find(saelens_config_record_key); record != reader.metadata().end()) {
    const auto recorded = nlohmann::json::parse(record->second, nullptr, /*allow_exceptions=*/false);
    if (recorded.is_discarded())
      fail(weights_file, std::string(saelens_config_record_key), "the recorded cfg is not JSON");
    if (recorded != read_json_file(cfg_file))
      throw io_error("load_saelens: " + saelens_detail::quoted(directory) +
                     ": cfg.json differs from the cfg recorded in sae_weights.safetensors; the two files come from different saves "
                     "(an interrupted save_saelens?)");
  }
  std::vector<std::string> expected{"W_enc", "b_enc", "W_dec", "b_dec"};
  if (cfg.architecture == SaeLensArchitecture::batchtopk) expected.push_back("topk_threshold");
  if (cfg.architecture == SaeLensArchitecture::jumprelu) expected.push_back("threshold");
  std::vector<std::string> missing, unexpected;
  for (const std::string& name : expected)
    if (!reader.contains(name)) missing.push_back(name);
  for (const safetensors_entry& entry : reader.entries())
    if (std::find(expected.begin(), expected.end(), entry.name) == expected.end()) unexpected.push_back(entry.name);
  if (!missing.empty())
    fail(weights_file, missing.front(), "missing; a " + std::string(name_of(cfg.architecture)) + " SAE needs " + quoted_names(expected) +
                                            " (missing: " + quoted_names(missing) + ")");
  if (!unexpected.empty())
    fail(weights_file, unexpected.front(), "not part of a " + std::string(name_of(cfg.architecture)) + " SAE, which holds exactly " +
                                               quoted_names(expected) + " (unexpected: " + quoted_names(unexpected) + ")");

  auto read_checked = [&](const std::string& name, auto& out) {
    const safetensors_entry& entry = reader.entry(name);
    const dtype t = entry.element_type;
    if (t != dtype::f16 && t != dtype::bf16 && t != dtype::f32 && t != dtype::f64)
      fail(weights_file, name, "has dtype " + std::string(name_of(t)) + "; expected F16, BF16, F32 or F64");
    try {
      require_stored_shape(reader, entry, out.shape());
    } catch (const io_error&) {
      fail(weights_file, name, "has shape " + safetensors_detail::shape_text(entry.shape) + ", expected " + to_string(out.shape()));
    }
    reader.read_into(name, out.span());
    for (index_t i = 0; i < out.numel(); ++i)
      if (!std::isfinite(double(out.data()[i]))) fail(weights_file, name, "element " + std::to_string(i) + " is " + std::to_string(double(out.data()[i])));
  };
  Tensor<T, Shape<DIn, DSae>> w_enc(Shape<DIn, DSae>{});
  Tensor<T, Shape<DSae>> b_enc(Shape<DSae>{});
  Tensor<T, Shape<DSae, DIn>> w_dec(Shape<DSae, DIn>{});
  Tensor<T, Shape<DIn>> b_dec(Shape<DIn>{});
  Tensor<T, Shape<DSae>> threshold = Tensor<T, Shape<DSae>>::zeros(Shape<DSae>{});
  read_checked("W_enc", w_enc);
  read_checked("b_enc", b_enc);
  read_checked("W_dec", w_dec);
  read_checked("b_dec", b_dec);
  if (cfg.architecture == SaeLensArchitecture::batchtopk) {
    Tensor<double, Shape<>> scalar(Shape<>{});
    read_checked("topk_threshold", scalar);
    std::fill(threshold.data(), threshold.data() + DSae, T(scalar.data()[0]));
  }
  if (cfg.architecture == SaeLensArchitecture::jumprelu) read_checked("threshold", threshold);
  if (cfg.rescale_acts_by_decoder_norm) {
    // SAELens' fold_W_dec_norm: pre·‖W_dec[j]‖ and z / ‖W_dec[j]‖ become plain weights.
    for (index_t j = 0; j < DSae; ++j) {
      double squares = 0;
      for (index_t i = 0; i < DIn; ++i) squares += double(w_dec(j, i)) * double(w_dec(j, i));
      const double norm = std::sqrt(squares);
      if (!(norm > 0)) fail(weights_file, "W_dec", "row " + std::to_string(j) + " is zero, so rescale_acts_by_decoder_norm cannot be folded");
      for (index_t i = 0; i < DIn; ++i) {
        w_dec(j, i) = T(double(w_dec(j, i)) / norm);
        w_enc(i, j) = T(double(w_enc(i, j)) * norm);
      }
      b_enc(j) = T(double(b_enc(j)) * norm);
    }
  }

  // Everything checked: replace.
  copy_from_host(sae.W_enc.value(), w_enc);
  copy_from_host(sae.b_enc.value(), b_enc);
  copy_from_host(sae.W_dec.value(), w_dec);
  copy_from_host(sae.b_dec.value(), b_dec);
  sae.threshold = threshold;
  sae.input_scale = 1.0;
  sae.apply_b_dec_to_input = cfg.apply_b_dec_to_input;
  sae.hook_name = cfg.hook_name;
  sae.activation = cfg.architecture == SaeLensArchitecture::topk        ? SaeActivation::top_k
                   : cfg.architecture == SaeLensArchitecture::batchtopk ? SaeActivation::batch_top_k
                                                                         : SaeActivation::jump_relu;
}

}  // namespace ranklens::io
