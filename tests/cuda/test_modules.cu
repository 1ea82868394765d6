// Modules and the optimizers on cuda_t (docs/architecture.md, "Ops on any device", step 5): the
// network of module_training.hpp trained by AdamW<cuda_t> and by SGD<cuda_t> against the same
// network on the CPU, and the optimizers' refusals. This file is compiled by nvcc (or the host emulation);
// cpu_reference/ runs the CPU side.
#include "module_training.hpp"
#include "parity.hpp"
#include "ranklens/nn/contracts.hpp"
#include "ranklens/nn/no_norm.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace modules = ranklens::test::modules;

// The module contracts take a module's device from its device_type (nn/contracts.hpp).
static_assert(AffineLayer<Linear<24, 40, float, cuda_t>> && AffineLayer<Linear<dyn, dyn, float, cuda_t>>);
static_assert(Norm<RMSNorm<40, float, cuda_t>> && Norm<LayerNorm<24, float, cuda_t>> && Norm<NoNorm<24, float, cuda_t>>);
static_assert(std::same_as<module_device_t<Embedding<11, 24, float, cuda_t>>, cuda_t>);

namespace {

// Trains the network of module_training.hpp on both devices (by AdamW, or by SGD with `sgd`'s
// options) and compares them step by step.
void check_training_matches_cpu(double max_grad_norm, const std::optional<SGDOptions>& sgd = std::nullopt) {
  const index_t batch = 3, positions = sized(33, 7);
  std::vector<std::int32_t> ids, targets;
  std::mt19937_64 gen(5);
  for (index_t i = 0; i < batch * positions; ++i) {
    ids.push_back(std::int32_t(gen() % std::uint64_t(modules::vocabulary)));
    targets.push_back(i % 7 == 3 ? std::int32_t(-100) : std::int32_t(gen() % std::uint64_t(modules::vocabulary)));
  }
  const int steps = 4;
  const auto want = modules::cpu_train(17, steps, batch, positions, ids, targets, max_grad_norm, sgd);
  const auto got = modules::train<cuda_t>(17, steps, batch, positions, ids, targets, max_grad_norm, sgd);
  const std::string optimizer = sgd ? "SGD" : "AdamW";

  REQUIRE(got.losses.size() == std::size_t(steps));
  check_close("module training: loss per step", got.losses, want.losses, tolerance<float>);
  CHECK(want.losses.back() < want.losses.front());  // it trains at all
  if (max_grad_norm > 0) {
    // clip_grad_norm<cuda_t> measured the same norms, and clipped: every norm is above the limit.
    REQUIRE(got.grad_norms.size() == std::size_t(steps));
    check_close("module training: gradient norm before clipping, per step", got.grad_norms, want.grad_norms, tolerance<float>);
    for (float norm : want.grad_norms) CHECK(norm > max_grad_norm);
  }
  REQUIRE(got.names == want.names);
  for (std::size_t p = 0; p < got.parameters.size(); ++p)
    check_close("module training: " + got.names[p] + " after " + std::to_string(steps) + " " + optimizer + " steps", got.parameters[p],
                want.parameters[p], tolerance<float>);

  // The frozen bias kept its initial zeros on both devices.
  const auto frozen = std::find(got.names.begin(), got.names.end(), "norm.bias") - got.names.begin();
  REQUIRE(std::size_t(frozen) < got.names.size());
  CHECK(got.parameters[std::size_t(frozen)] == std::vector<float>(std::size_t(modules::width), 0.0f));
}

}  // namespace

TEST_CASE("modules on cuda_t trained by AdamW<cuda_t> follow the CPU step by step", "[cuda][modules]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_training_matches_cpu(0.0);
}

TEST_CASE("train_step clips the gradient norm on cuda_t as on the CPU", "[cuda][modules]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  check_training_matches_cpu(0.25);
}

TEST_CASE("clip_grad_norm_into on cuda_t clips as clip_grad_norm does, leaving the norm on the device", "[cuda][modules][clip]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  using Flat = Shape<dyn>;
  const auto on_device = [](const std::vector<float>& values) {
    Tensor<float, Flat, cpu_t> host(Flat{index_t(values.size())});
    std::copy(values.begin(), values.end(), host.data());
    return to_device(host);
  };
  const auto host_of = [](const auto& device) {
    const auto h = to_host(device.view());
    return std::vector<float>(h.data(), h.data() + h.numel());
  };
  const std::vector<std::vector<float>> grads = {random_values(5003, 71), random_values(33, 72), random_values(1, 73)};
  std::vector<Parameter<float, Flat, cuda_t>> into, waiting;
  for (const auto& grad : grads)
    for (auto* list : {&into, &waiting}) {
      list->emplace_back(on_device(std::vector<float>(grad.size(), 0.0f)), "p");
      list->back().gradient_buffer() = on_device(grad);
    }
  const auto refs = [](std::vector<Parameter<float, Flat, cuda_t>>& list) {
    ParameterList out;
    for (auto& p : list) out.push_back(p.ref());
    return out;
  };
  Tensor<float, Shape<>, cuda_t> norm(Shape<>{});
  clip_grad_norm_into<cuda_t>(refs(into), 2.5, norm);
  const double want = clip_grad_norm<cuda_t>(refs(waiting), 2.5);
  CHECK(want > 2.5);  // clipped
  double sum_of_squares = 0;  // both paths share the device's sums of squares: the host's too
  for (const auto& grad : grads)
    for (float g : grad) sum_of_squares += double(g) * double(g);
  CHECK(want == Approx(std::sqrt(sum_of_squares)).epsilon(1e-5));
  check_close("clip_grad_norm_into: the norm", host_of(norm), std::vector<float>{float(want)}, tolerance<float>);
  for (std::size_t i = 0; i < grads.size(); ++i)
    check_close("clip_grad_norm_into: gradient " + std::to_string(i), host_of(into[i].grad()), host_of(waiting[i].grad()), tolerance<float>);

  // Under the limit: every gradient keeps its bits.
  const std::vector<float> before = host_of(into[0].grad());
  clip_grad_norm_into<cuda_t>(refs(into), 1e6, norm);
  CHECK(host_of(into[0].grad()) == before);
}

TEST_CASE("SGD<cuda_t> with momentum, dampening, weight decay or Nesterov follows the CPU step by step", "[cuda][modules]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  SECTION("plain") { check_training_matches_cpu(0.0, SGDOptions{.lr = 0.2}); }
  SECTION("momentum, dampening, weight decay, clipped") {
    check_training_matches_cpu(0.25, SGDOptions{.lr = 0.2, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.05});
  }
  SECTION("Nesterov") { check_training_matches_cpu(0.0, SGDOptions{.lr = 0.1, .momentum = 0.8, .weight_decay = 0.01, .nesterov = true}); }
}

TEST_CASE("SGD<cuda_t> refuses a parameter on the CPU or in float64, naming it", "[cuda][modules]") {
  // As AdamW's below: refused when built, so this case runs without a device too.
  Parameter<float, Shape<4>, cpu_t> host(Tensor<float, Shape<4>, cpu_t>(Shape<4>{}, 1.0f), "host.weight");
  REQUIRE_THROWS_WITH(SGD<cuda_t>(ParameterList{host.ref()}), Catch::Matchers::Contains("SGD: parameter 'host.weight' lives on cpu, not cuda"));
  Parameter<double, Shape<dyn>, cuda_t> wide;
  wide.set_name("wide.weight");
  REQUIRE_THROWS_WITH(SGD<cuda_t>(ParameterList{wide.ref()}),
                      Catch::Matchers::Contains("'wide.weight' is F64; on this device weights and momentum buffers are F32"));
}

TEST_CASE("AdamW<cuda_t> refuses a parameter on the CPU or in float64, naming it", "[cuda][modules]") {
  // Refused when the optimizer is built, before any device work (the float64 parameter is
  // empty, so nothing is allocated): this case runs without a device too.
  Parameter<float, Shape<4>, cpu_t> host(Tensor<float, Shape<4>, cpu_t>(Shape<4>{}, 1.0f), "host.weight");
  REQUIRE_THROWS_WITH(AdamW<cuda_t>(ParameterList{host.ref()}), Catch::Matchers::Contains("'host.weight' lives on cpu, not cuda"));
  Parameter<double, Shape<dyn>, cuda_t> wide;
  wide.set_name("wide.weight");
  REQUIRE_THROWS_WITH(AdamW<cuda_t>(ParameterList{wide.ref()}),
                      Catch::Matchers::Contains("'wide.weight' is F64; on this device weights and moments are F32"));
}
