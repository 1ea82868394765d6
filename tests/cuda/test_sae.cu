// The sparse autoencoder on cuda_t (docs/architecture.md, "Ops on any device", step 5): its ops
// (sparse_encode with each selector, sparse_decode, their gradients) and a SparseAutoencoder
// trained by SaeTrainer, evaluated and saved as a SAELens directory, against the same on the CPU
// (sae_training.hpp; cpu_reference.cpp runs the CPU side).
#include <algorithm>
#include <concepts>
#include <filesystem>

#include "parity.hpp"
#include "sae_training.hpp"
#include "temporary_directory.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace sae = ranklens::test::sae;

static_assert(std::same_as<sae::trained_sae<cuda_t>::device_type, cuda_t>);
static_assert(std::same_as<decltype(sae::trained_sae<cuda_t>::W_dec)::device_type, cuda_t>);
using device_trainer = SaeTrainer<sae::trained_sae<cuda_t>>;
static_assert(std::same_as<device_of_t<std::remove_reference_t<decltype(std::declval<device_trainer&>().optimizer())>>, cuda_t>);

namespace {

// The positions of a dense code's nonzero entries.
std::vector<std::size_t> support(const std::vector<float>& dense) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < dense.size(); ++i)
    if (dense[i] != 0.0f) out.push_back(i);
  return out;
}

void check_ops(sae::selection which, const std::string& label) {
  const auto want = sae::cpu_run_ops(which, 17);
  const auto got = sae::run_ops<cuda_t>(which, 17);
  CHECK(got.entries == want.entries);
  CHECK(support(got.code) == support(want.code));  // the same latents chosen
  CHECK(!support(want.code).empty());
  check_close(label + ": code", got.code, want.code, tolerance<float>);
  check_close(label + ": reconstruction", got.reconstruction, want.reconstruction, tolerance<float>);
  check_close(label + ": gradient of x", got.gx, want.gx, tolerance<float>);
  check_close(label + ": gradient of the centre", got.gcentre, want.gcentre, tolerance<float>);
  check_close(label + ": gradient of W_enc", got.gw_enc, want.gw_enc, tolerance<float>);
  check_close(label + ": gradient of b_enc", got.gb_enc, want.gb_enc, tolerance<float>);
  check_close(label + ": gradient of W_dec", got.gw_dec, want.gw_dec, tolerance<float>);
  check_close(label + ": gradient of b_dec", got.gb_dec, want.gb_dec, tolerance<float>);
}

}  // namespace

TEST_CASE("cuda sparse_encode and sparse_decode match the CPU for every selector", "[cuda][sae]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const auto entries = sae::cpu_run_ops(sae::selection::top_k, 17).entries;
  CHECK(entries == sae::op_rows * 5);
  check_ops(sae::selection::top_k, "top_k 5");
  check_ops(sae::selection::top_k_among, "top_k 4 among every 7th latent");
  check_ops(sae::selection::batch_top_k, "batch_top_k 6");
  check_ops(sae::selection::jump_relu, "jump_relu");
  // BatchTopK keeps 6 per row on average, shared unevenly (so the compressed rows differ in length).
  const auto batch = sae::cpu_run_ops(sae::selection::batch_top_k, 17);
  CHECK(batch.entries == sae::op_rows * 6);
  bool uneven = false;
  for (index_t r = 0; r < sae::op_rows; ++r)
    uneven |= std::count_if(batch.code.begin() + r * sae::op_latents, batch.code.begin() + (r + 1) * sae::op_latents,
                            [](float v) { return v != 0.0f; }) != 6;
  CHECK(uneven);
}

TEST_CASE("cuda SaeTrainer steps, evaluates and saves like the CPU", "[cuda][sae]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  for (const SaeActivation rule : {SaeActivation::top_k, SaeActivation::batch_top_k}) {
    const std::string label(name_of(rule));
    const test::temporary_directory directory("sae-" + label);
    const auto want = sae::cpu_train(rule, 5);
    const auto got = sae::train<cuda_t>(rule, 5, directory.path);
    check_close(label + ": loss per step", got.losses, want.losses, tolerance<float>);
    check_close(label + ": AuxK loss per step", got.auxiliary, want.auxiliary, tolerance<float>);
    CHECK(got.l0 == want.l0);
    CHECK(got.dead == want.dead);
    CHECK(want.dead.back() > 0);       // AuxK took part
    CHECK(want.auxiliary.back() > 0);
    check_close(label + ": threshold estimate", got.thresholds, want.thresholds, tolerance<float>);
    // (Adam's ε is raised for this comparison: sae_training.hpp says why.)
    check_close(label + ": W_enc after the steps", got.w_enc, want.w_enc, tolerance<float>);
    check_close(label + ": b_enc after the steps", got.b_enc, want.b_enc, tolerance<float>);
    check_close(label + ": W_dec after the steps", got.w_dec, want.w_dec, tolerance<float>);
    check_close(label + ": b_dec after the steps", got.b_dec, want.b_dec, tolerance<float>);
    CHECK(got.evaluation.l0 == want.evaluation.l0);
    CHECK(got.evaluation.dead_fraction == want.evaluation.dead_fraction);
    check_close(label + ": evaluated FVU", std::vector<float>{float(got.evaluation.fvu)}, std::vector<float>{float(want.evaluation.fvu)},
                1e-4);

    // The directory written on cuda_t reads back the same on both devices; b_enc as it was trained
    // (the other three hold the input scale folded in).
    const auto on_device = sae::load<cuda_t>(directory.path);
    const auto on_host = sae::cpu_load(directory.path);
    CHECK(on_device == on_host);
    CHECK(on_device[1] == got.b_enc);
  }
}
