// The ranklens side of the SAELens round trip (tools/saelens_roundtrip.py): writes a SAELens
// directory of a random autoencoder, and runs any SAELens directory of that shape on inputs.
//
//   sae_files random --out DIR --architecture topk|batchtopk|jumprelu [--seed N]
//       a SparseAutoencoder<4, 16, 64> with random, untied weights, biases, an input scale of
//       1.7 (folded into the file) and a threshold of 0.3, saved as that architecture;
//   sae_files run --sae DIR --inputs IN.safetensors --out OUT.safetensors
//       loads DIR (any of the three architectures), reads "x" (tokens, 16) from IN and writes
//       "feature_acts" (tokens, 64), the dense code under the directory's own rule, and
//       "sae_out" (tokens, 16), the reconstruction, as SAELens' encode and decode give them.
//
// The shape is fixed at d_in 16, d_sae 64, k 4 (the committed fixtures'); other directories are
// refused with load_saelens' error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "ranklens/io/saelens_files.hpp"

using namespace ranklens;

namespace {

using Sae = SparseAutoencoder<4, 16, 64>;

io::SaeLensArchitecture parse_architecture(const std::string& name) {
  if (name == "topk") return io::SaeLensArchitecture::topk;
  if (name == "batchtopk") return io::SaeLensArchitecture::batchtopk;
  if (name == "jumprelu") return io::SaeLensArchitecture::jumprelu;
  throw value_error("--architecture '" + name + "': expected topk, batchtopk or jumprelu");
}

int write_random(const std::string& out, const std::string& architecture_name, std::uint64_t seed) {
  const io::SaeLensArchitecture architecture = parse_architecture(architecture_name);
  Rng gen(seed);
  Sae sae(gen, architecture == io::SaeLensArchitecture::topk ? SaeActivation::top_k : SaeActivation::batch_top_k);
  for (float* p : {sae.W_enc.value().data(), sae.W_dec.value().data()})
    for (index_t i = 0; i < 16 * 64; ++i) p[i] = float(0.4 * standard_normal(gen));
  for (float& v : sae.b_enc.value().span()) v = float(0.1 * standard_normal(gen));
  for (float& v : sae.b_dec.value().span()) v = float(0.5 * standard_normal(gen));
  for (float& v : sae.threshold.span()) v = 0.3f;
  sae.input_scale = 1.7;
  sae.hook_name = "blocks.0.hook_resid_post";
  io::save_saelens(sae, out, {.architecture = architecture, .stored_as = std::nullopt});
  return 0;
}

int run(const std::string& directory, const std::string& inputs, const std::string& out) {
  Rng gen(0);
  Sae sae(gen);
  io::load_saelens(sae, directory);
  const auto x = io::read_tensor<float, Shape<dyn, 16>>(io::safetensors_reader::open(inputs), "x");
  auto guard = no_grad();
  auto step = tape();
  const auto code = sae.encode(constant(x));
  const auto feature_acts = code.to_dense();
  const auto reconstruction = sae.decode(code).to_tensor();
  io::tensor_writer writer;
  writer.add("feature_acts", feature_acts);
  writer.add("sae_out", reconstruction);
  writer.save(out);
  std::printf("%s: %s, %lld tokens, L0 %.3f\n", directory.c_str(), std::string(name_of(sae.activation)).c_str(), (long long)x.extent(0),
              double(code.active()) / double(x.extent(0)));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write and run SAELens directories of a SparseAutoencoder<4, 16, 64> (the SAELens round trip)."};
  app.require_subcommand(1);
  std::string out, architecture = "topk", sae_dir, inputs;
  std::uint64_t seed = 0;
  auto* random = app.add_subcommand("random", "save a random autoencoder as a SAELens directory");
  random->add_option("--out", out, "directory to write")->required();
  random->add_option("--architecture", architecture, "topk, batchtopk or jumprelu");
  random->add_option("--seed", seed, "seed of the weights");
  auto* run_command = app.add_subcommand("run", "encode and decode inputs with a SAELens directory");
  run_command->add_option("--sae", sae_dir, "SAELens directory")->required();
  run_command->add_option("--inputs", inputs, "safetensors file holding x (tokens, 16)")->required();
  run_command->add_option("--out", out, "safetensors file to write feature_acts and sae_out to")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (random->parsed()) return write_random(out, architecture, seed);
    return run(sae_dir, inputs, out);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sae_files: %s\n", error.what());
    return 1;
  }
}
