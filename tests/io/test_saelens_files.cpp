#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "ranklens/cpu/unit_norm_rows.hpp"
#include "ranklens/io/saelens_files.hpp"

namespace io_test_saelens_files {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using io::testing::scratch_directory;
namespace fs = std::filesystem;

namespace {

constexpr index_t K = 4, DIn = 16, DSae = 64;
using Sae = SparseAutoencoder<K, DIn, DSae>;
using Inputs = Tensor<float, Shape<dyn, DIn>>;

// Weights far from any special case: an untied encoder, decoder rows of various norms, biases.
Sae random_sae(std::uint64_t seed, SaeActivation activation) {
  Rng gen(seed);
  Sae sae(gen, activation);
  for (auto* p : {sae.W_enc.value().data(), sae.W_dec.value().data()})
    for (index_t i = 0; i < DIn * DSae; ++i) p[i] = float(standard_normal(gen) * 0.4);
  for (float& v : sae.b_enc.value().span()) v = float(standard_normal(gen) * 0.1);
  for (float& v : sae.b_dec.value().span()) v = float(standard_normal(gen) * 0.5);
  for (float& v : sae.threshold.span()) v = 0.3f;
  sae.hook_name = "blocks.1.hook_resid_post";
  return sae;
}

Inputs random_inputs(index_t rows, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Inputs x(Shape<dyn, DIn>{rows});
  for (float& v : x.span()) v = normal(rng);
  return x;
}

// Dense codes and reconstructions of x under the autoencoder's own rule.
std::pair<Tensor<float, Shape<dyn, dyn>>, Tensor<float, Shape<dyn, DIn>>> run(const Sae& sae, const Inputs& x) {
  auto guard = no_grad();
  auto step = tape();
  const auto code = sae.encode(constant(x));
  return {code.to_dense(), sae.decode(code).to_tensor()};
}

template <class A, class B>
double max_difference(const A& a, const B& b) {
  double worst = 0;
  for (index_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(double(a.data()[i]) - double(b.data()[i])));
  return worst;
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(io::testing::read_text_file(path)); }
void write_json(const fs::path& path, const nlohmann::json& j) { io::testing::write_whole_file(path, j.dump()); }

// Rewrites sae_weights.safetensors with the tensors `edit` leaves in `tensors` (no cfg record).
template <class Edit>
void rewrite_weights(const fs::path& dir, Edit edit) {
  const auto reader = io::safetensors_reader::open(dir / "sae_weights.safetensors");
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>> tensors;
  for (const auto& e : reader.entries()) tensors[e.name] = {e.shape, reader.read_as<float>(e.name)};
  edit(tensors);
  io::safetensors_writer writer;
  for (auto& [name, t] : tensors) writer.add(name, t.first, std::span<const float>(t.second));
  writer.save(dir / "sae_weights.safetensors");
}

void drop_record(const fs::path& dir) {
  rewrite_weights(dir, [](auto&) {});
}

}  // namespace

TEST_CASE("save_saelens writes SAELens' cfg.json and exactly the tensors its loader expects", "[io][saelens]") {
  scratch_directory dir;
  const Sae sae = random_sae(1, SaeActivation::top_k);
  for (const auto architecture : {io::SaeLensArchitecture::topk, io::SaeLensArchitecture::batchtopk, io::SaeLensArchitecture::jumprelu}) {
    const fs::path out = dir.path() / std::string(io::name_of(architecture));
    io::save_saelens(sae, out, {.architecture = architecture});
    const nlohmann::json cfg = read_json(out / "cfg.json");
    CHECK(cfg["architecture"] == std::string(io::name_of(architecture)));
    CHECK(cfg["d_in"] == DIn);
    CHECK(cfg["d_sae"] == DSae);
    CHECK(cfg["dtype"] == "float32");
    CHECK(cfg["apply_b_dec_to_input"] == true);
    CHECK(cfg["normalize_activations"] == "none");
    CHECK(cfg["metadata"]["sae_lens_version"] == "6.0.0");
    CHECK(cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post");
    if (architecture == io::SaeLensArchitecture::jumprelu) {
      CHECK_FALSE(cfg.contains("k"));
      CHECK(cfg["metadata"]["training_architecture_details"]["k"] == K);
    } else {
      CHECK(cfg["k"] == K);
      CHECK(cfg["rescale_acts_by_decoder_norm"] == false);
    }
    const auto reader = io::safetensors_reader::open(out / "sae_weights.safetensors");
    std::vector<std::string> names;
    for (const auto& e : reader.entries()) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    std::vector<std::string> expected{"W_dec", "W_enc", "b_dec", "b_enc"};
    if (architecture == io::SaeLensArchitecture::batchtopk) expected.push_back("topk_threshold");
    if (architecture == io::SaeLensArchitecture::jumprelu) expected.push_back("threshold");
    std::sort(expected.begin(), expected.end());
    CHECK(names == expected);
    CHECK(reader.entry("W_enc").shape == std::vector<std::int64_t>{DIn, DSae});
    CHECK(reader.entry("W_dec").shape == std::vector<std::int64_t>{DSae, DIn});
    if (architecture == io::SaeLensArchitecture::batchtopk) {
      CHECK(reader.entry("topk_threshold").element_type == dtype::f64);
      CHECK(reader.entry("topk_threshold").shape.empty());
    }
  }
}

TEST_CASE("an autoencoder saved and loaded gives the same codes and reconstructions, input scale folded in", "[io][saelens]") {
  scratch_directory dir;
  const Inputs x = random_inputs(40, 2);
  for (const SaeActivation rule : {SaeActivation::top_k, SaeActivation::batch_top_k, SaeActivation::jump_relu}) {
    INFO("rule " << name_of(rule));
    Sae sae = random_sae(3, rule);
    sae.input_scale = 2.5;
    sae.apply_b_dec_to_input = rule != SaeActivation::batch_top_k;
    io::save_saelens(sae, dir.path() / "sae");
    Rng gen(99);
    Sae loaded(gen, SaeActivation::top_k);
    io::load_saelens(loaded, dir.path() / "sae");
    CHECK(loaded.activation == rule);
    CHECK(loaded.input_scale == 1.0);
    CHECK(loaded.apply_b_dec_to_input == sae.apply_b_dec_to_input);
    CHECK(loaded.hook_name == sae.hook_name);
    const auto [code, reconstruction] = run(sae, x);
    const auto [loaded_code, loaded_reconstruction] = run(loaded, x);
    CHECK(max_difference(code, loaded_code) < 1e-5);
    CHECK(max_difference(reconstruction, loaded_reconstruction) < 1e-5);
  }
}

TEST_CASE("a file saved with rescale_acts_by_decoder_norm is read by folding the decoder norms", "[io][saelens]") {
  scratch_directory dir;
  Sae sae = random_sae(4, SaeActivation::top_k);
  // SAELens with rescaling computes pre·‖W_dec[j]‖ and decodes z / ‖W_dec[j]‖: with unit rows the
  // flag changes nothing, so save unit rows, then scale W_dec rows by c_j and the encoder by 1/c_j.
  cpu::normalize_rows(sae.W_dec.value().data(), DSae, DIn);
  const Inputs x = random_inputs(20, 5);
  const auto expected = run(sae, x);
  io::save_saelens(sae, dir.path() / "sae");
  const fs::path d = dir.path() / "sae";
  rewrite_weights(d, [](auto& t) {
    for (index_t j = 0; j < DSae; ++j) {
      const float c = 0.5f + 0.05f * float(j);
      for (index_t i = 0; i < DIn; ++i) {
        t["W_dec"].second[std::size_t(j * DIn + i)] *= c;
        t["W_enc"].second[std::size_t(i * DSae + j)] /= c;
      }
      t["b_enc"].second[std::size_t(j)] /= c;
    }
  });
  nlohmann::json cfg = read_json(d / "cfg.json");
  cfg["rescale_acts_by_decoder_norm"] = true;
  write_json(d / "cfg.json", cfg);
  Rng gen(6);
  Sae loaded(gen);
  io::load_saelens(loaded, d);
  const auto got = run(loaded, x);
  CHECK(max_difference(expected.first, got.first) < 1e-5);
  CHECK(max_difference(expected.second, got.second) < 1e-5);
}

TEST_CASE("bad SAELens directories are refused with one error naming the file and the key, the autoencoder unchanged", "[io][saelens]") {
  scratch_directory dir;
  const Sae source = random_sae(7, SaeActivation::top_k);
  Rng gen(8);
  Sae target(gen);
  const auto before = to_tensor(target.W_enc.value().view());
  const fs::path d = dir.path() / "sae";
  auto fresh = [&] {
    fs::remove_all(d);
    io::save_saelens(source, d);
  };
  auto refused = [&](const std::string& needle1, const std::string& needle2) {
    REQUIRE_THROWS_WITH(io::load_saelens(target, d), Catch::Contains(needle1) && Catch::Contains(needle2));
    for (index_t i = 0; i < before.numel(); ++i) REQUIRE(target.W_enc.value().data()[i] == before.data()[i]);
  };
  auto edit_cfg = [&](auto change) {
    fresh();
    drop_record(d);
    nlohmann::json cfg = read_json(d / "cfg.json");
    change(cfg);
    write_json(d / "cfg.json", cfg);
  };
  auto edit_weights = [&](auto change) {
    fresh();
    rewrite_weights(d, change);
  };

  SECTION("missing files") {
    fresh();
    fs::remove(d / "cfg.json");
    refused("has no cfg.json", d.string());
    fresh();
    fs::remove(d / "sae_weights.safetensors");
    refused("has no sae_weights.safetensors", d.string());
  }
  SECTION("the configuration") {
    edit_cfg([](auto& c) { c["architecture"] = "gated"; });
    refused("key 'architecture'", "'gated' is not one ranklens reads");
    edit_cfg([](auto& c) { c.erase("architecture"); });
    refused("cfg.json", "key 'architecture'");
    edit_cfg([](auto& c) { c["metadata"].erase("sae_lens_version"); });
    refused("key 'metadata.sae_lens_version'", "predates SAELens 6");
    edit_cfg([](auto& c) { c["metadata"]["sae_lens_version"] = "5.9.1"; });
    refused("key 'metadata.sae_lens_version'", "below 6");
    edit_cfg([](auto& c) { c["d_in"] = 32; });
    refused("key 'd_in'", "32, but this SparseAutoencoder has d_in 16");
    edit_cfg([](auto& c) { c["d_sae"] = 128; });
    refused("key 'd_sae'", "128");
    edit_cfg([](auto& c) { c["k"] = 8; });
    refused("key 'k'", "8, but this SparseAutoencoder has K 4");
    edit_cfg([](auto& c) { c["k"] = 4.5; });
    refused("key 'k'", "whole number");
    edit_cfg([](auto& c) { c["dtype"] = "int8"; });
    refused("key 'dtype'", "'int8'");
    edit_cfg([](auto& c) { c["normalize_activations"] = "layer_norm"; });
    refused("key 'normalize_activations'", "layer_norm");
    edit_cfg([](auto& c) { c["reshape_activations"] = "hook_z"; });
    refused("key 'reshape_activations'", "hook_z");
    fresh();
    io::testing::write_whole_file(d / "cfg.json", "{\"d_in\": 16,");
    refused("cfg.json", "not valid JSON");
  }
  SECTION("the weights") {
    edit_weights([](auto& t) { t.erase("b_dec"); });
    refused("key 'b_dec'", "missing");
    edit_weights([](auto& t) { t["scaling_factor"] = {{DSae}, std::vector<float>(DSae, 1.0f)}; });
    refused("key 'scaling_factor'", "not part of a topk SAE");
    edit_weights([](auto& t) { t["b_enc"] = {{DSae - 1}, std::vector<float>(DSae - 1, 0.0f)}; });
    refused("key 'b_enc'", "has shape [63], expected (64)");
    edit_weights([](auto& t) { t["W_dec"].second[17] = std::numeric_limits<float>::quiet_NaN(); });
    refused("key 'W_dec'", "element 17 is nan");
    fresh();
    {  // an integer tensor under a weight's name
      const auto reader = io::safetensors_reader::open(d / "sae_weights.safetensors");
      std::vector<std::vector<float>> kept;
      io::safetensors_writer writer;
      for (const char* name : {"W_enc", "W_dec", "b_dec"}) {
        kept.push_back(reader.read_as<float>(name));
        writer.add(name, reader.entry(name).shape, std::span<const float>(kept.back()));
      }
      const std::vector<std::int32_t> ints(DSae, 1);
      writer.add("b_enc", {DSae}, std::span<const std::int32_t>(ints));
      writer.save(d / "sae_weights.safetensors");
    }
    refused("key 'b_enc'", "dtype I32");
  }
  SECTION("files from two different saves") {
    fresh();
    nlohmann::json cfg = read_json(d / "cfg.json");
    cfg["apply_b_dec_to_input"] = false;
    write_json(d / "cfg.json", cfg);
    refused("different saves", d.string());
  }
}

// Fixtures written by tools/saelens_roundtrip.py with SAELens (versions in versions.json).
TEST_CASE("directories SAELens wrote load and reproduce SAELens' codes and reconstructions", "[io][saelens][fixtures]") {
  const auto x = io::read_tensor<float, Shape<dyn, DIn>>(io::testing::fixture_path("saelens/inputs.safetensors"), "x");
  for (const std::string architecture : {"topk", "batchtopk", "jumprelu"}) {
    INFO("saelens_" << architecture);
    Rng gen(0);
    Sae sae(gen);
    io::load_saelens(sae, io::testing::fixture_path("saelens/saelens_" + architecture));
    CHECK(sae.hook_name == "blocks.0.hook_resid_post");
    const auto expected = io::safetensors_reader::open(io::testing::fixture_path("saelens/saelens_" + architecture + ".expected.safetensors"));
    const auto [code, reconstruction] = run(sae, x);
    const auto acts = io::read_tensor<float, Shape<dyn, dyn>>(expected, "feature_acts");
    const auto out = io::read_tensor<float, Shape<dyn, DIn>>(expected, "sae_out");
    index_t active = 0;
    for (const float v : acts.span()) active += v > 0;
    CHECK(active > 0);
    CHECK(max_difference(code, acts) < 1e-5);
    CHECK(max_difference(reconstruction, out) < 1e-5);
  }
}

TEST_CASE("directories ranklens wrote are what SAELens read, and the writer still writes them byte for byte", "[io][saelens][fixtures]") {
  const auto x = io::read_tensor<float, Shape<dyn, DIn>>(io::testing::fixture_path("saelens/inputs.safetensors"), "x");
  scratch_directory dir;
  for (const std::string architecture : {"topk", "batchtopk", "jumprelu"}) {
    INFO("ranklens_" << architecture);
    const fs::path fixture = io::testing::fixture_path("saelens/ranklens_" + architecture);
    Rng gen(0);
    Sae sae(gen);
    io::load_saelens(sae, fixture);
    const auto expected = io::safetensors_reader::open(io::testing::fixture_path("saelens/ranklens_" + architecture + ".expected.safetensors"));
    const auto [code, reconstruction] = run(sae, x);
    CHECK(max_difference(code, io::read_tensor<float, Shape<dyn, dyn>>(expected, "feature_acts")) < 1e-5);
    CHECK(max_difference(reconstruction, io::read_tensor<float, Shape<dyn, DIn>>(expected, "sae_out")) < 1e-5);
    const fs::path again = dir.path() / architecture;
    io::save_saelens(sae, again);
    for (const char* file : {"cfg.json", "sae_weights.safetensors"})
      CHECK(io::testing::read_whole_file(again / file) == io::testing::read_whole_file(fixture / file));
  }
}

}  // namespace io_test_saelens_files
