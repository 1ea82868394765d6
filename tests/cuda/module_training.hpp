// A small network of nn/ modules trained by AdamW or SGD, written once for every device: the CUDA test
// runs it on cuda_t (test_modules.cu, compiled by nvcc or the host emulation), cpu_reference.cpp
// on cpu_t, and the two must agree step by step. It goes through modules holding their
// parameters on the device (Embedding, LayerNorm, Linear with and without bias, RMSNorm), the
// type-erased parameter list, train_step with gradient clipping on the optimizer's device,
// zero_grad on the device, AdamW<D> with its moments there (or SGD<D> with its momentum
// buffers), and a frozen parameter that must not move.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/nn/embedding.hpp"
#include "ranklens/nn/layer_norm.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/rms_norm.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/sgd.hpp"
#include "ranklens/train/train_step.hpp"

namespace ranklens::test::modules {

inline constexpr index_t vocabulary = 11, width = 24, hidden = 40;

template <Device D>
struct network {
  explicit network(Rng& rng) : embed(rng), up(rng), out(rng, LinearOptions{.bias = false, .init_std = 0.05}) {}

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("embed", self.embed);
    visit("norm", self.norm);
    visit("up", self.up);
    visit("rms", self.rms);
    visit("out", self.out);
  }

  Embedding<vocabulary, width, float, D> embed;
  LayerNorm<width, float, D> norm;
  Linear<width, hidden, float, D> up;
  RMSNorm<hidden, float, D> rms;
  Linear<hidden, vocabulary, float, D> out;
};

// What a run leaves: the loss of each step (and, where clipped, the gradient norm before
// clipping), and every parameter's final value (host copies, in listing order, under its path).
struct training_result {
  std::vector<float> losses;
  std::vector<float> grad_norms;
  std::vector<std::string> names;
  std::vector<std::vector<float>> parameters;
};

// (batch, positions) targets from host memory, as a tensor on D (the loss reads them there).
template <Device D>
Tensor<std::int32_t, Shape<dyn, dyn>, D> targets_on(index_t batch, index_t positions, const std::vector<std::int32_t>& targets) {
  Tensor<std::int32_t, Shape<dyn, dyn>, cpu_t> host(Shape<dyn, dyn>{batch, positions});
  std::copy(targets.begin(), targets.end(), host.data());
  return on_device<D>(std::move(host));
}

// Every parameter of `model`, copied to the host, and its path, appended to `result`.
template <class Model>
void add_host_parameters(const Model& model, training_result& result) {
  for_each_parameter(model, [&](std::string_view path, const auto& p) {
    const auto host = to_host(p.value().view());
    result.names.emplace_back(path);
    result.parameters.emplace_back(host.data(), host.data() + host.numel());
  });
}

// `steps` train::train_step calls on loss() (clipping the gradient norm of `params` to
// max_grad_norm when it is positive), then every parameter of `model` copied to the host.
template <class Model, class Optimizer, class Loss>
training_result run_steps(Model& model, Optimizer& optimizer, const ParameterList& params, int steps, double max_grad_norm, Loss&& loss) {
  training_result result;
  for (int step = 0; step < steps; ++step) {
    const auto stepped = train::train_step(optimizer, loss, {.max_grad_norm = max_grad_norm, .parameters = &params});
    result.losses.push_back(float(stepped.loss));
    if (stepped.grad_norm) result.grad_norms.push_back(float(*stepped.grad_norm));
  }
  add_host_parameters(model, result);
  return result;
}

// `steps` AdamW steps of the network on one batch (SGD<D> steps with `sgd`'s options when given),
// clipping the gradient norm to max_grad_norm (when positive); ids and targets are (batch,
// positions) in host memory (targets may hold -100, ignored). The network's weights come from
// Rng(seed) on every device.
template <Device D>
training_result train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                      const std::vector<std::int32_t>& targets, double max_grad_norm, const std::optional<SGDOptions>& sgd = std::nullopt) {
  Rng rng(seed);
  network<D> net(rng);
  name_parameters(net);
  net.norm.bias.freeze();  // frozen: no gradient, no optimizer state, the same value at the end
  const ParameterList params = parameters(net);
  const auto device_targets = targets_on<D>(batch, positions, targets);
  const TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> tokens(ids.data(), Shape<dyn, dyn>{batch, positions});
  const auto loss = [&] { return cross_entropy(net.out(net.rms(gelu(net.up(net.norm(net.embed(tokens)))))), device_targets.view()); };
  if (sgd) {
    SGD<D> optimizer(params, *sgd);
    return run_steps(net, optimizer, params, steps, max_grad_norm, loss);
  }
  AdamW<D> optimizer(params, AdamWOptions{.lr = 1e-2, .weight_decay = 0.1});
  return run_steps(net, optimizer, params, steps, max_grad_norm, loss);
}

// The same on cpu_t, compiled in cpu_reference/modules.cpp.
training_result cpu_train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                          const std::vector<std::int32_t>& targets, double max_grad_norm, const std::optional<SGDOptions>& sgd = std::nullopt);

}  // namespace ranklens::test::modules
