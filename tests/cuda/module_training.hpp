// A small network of nn/ modules trained by AdamW, written once for every device: the CUDA test
// runs it on cuda_t (test_modules.cu, compiled by nvcc or the host emulation), cpu_reference.cpp
// on cpu_t, and the two must agree step by step. It goes through modules holding their
// parameters on the device (Embedding, LayerNorm, Linear with and without bias, RMSNorm), the
// type-erased parameter list, zero_grad on the device, AdamW<D> with its moments there, and a
// frozen parameter that must not move.
#pragma once
#include <cstdint>
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

// What a run leaves: the loss of each step, and every parameter's final value (host copies, in
// listing order, under its path).
struct training_result {
  std::vector<float> losses;
  std::vector<std::string> names;
  std::vector<std::vector<float>> parameters;
};

// `steps` AdamW steps on one batch; ids and targets are (batch, positions) in host memory
// (targets may hold -100, ignored). The network's weights come from Rng(seed) on every device.
template <Device D>
training_result train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                      const std::vector<std::int32_t>& targets) {
  using Tokens = Shape<dyn, dyn>;
  Rng rng(seed);
  network<D> net(rng);
  name_parameters(net);
  net.norm.bias.freeze();  // frozen: no gradient, no optimizer state, the same value at the end
  AdamW<D> optimizer(parameters(net), AdamWOptions{.lr = 1e-2, .weight_decay = 0.1});

  Tensor<std::int32_t, Tokens, cpu_t> host_targets(Tokens{batch, positions});
  std::copy(targets.begin(), targets.end(), host_targets.data());
  const Tensor<std::int32_t, Tokens, D> device_targets = on_device<D>(std::move(host_targets));
  const TensorView<const std::int32_t, Tokens, cpu_t> ids_view(ids.data(), Tokens{batch, positions});

  training_result result;
  for (int step = 0; step < steps; ++step) {
    auto scope = tape();
    optimizer.zero_grad();
    const auto logits = net.out(net.rms(gelu(net.up(net.norm(net.embed(ids_view))))));
    const auto loss = cross_entropy(logits, device_targets.view());
    backward(loss);
    result.losses.push_back(loss.item());
    optimizer.step();
  }
  for_each_parameter(net, [&](std::string_view path, const auto& p) {
    std::vector<float> host(std::size_t(p.numel()));
    device_memory<D>::copy_to_host(host.data(), p.value().data(), p.value().bytes());
    result.names.emplace_back(path);
    result.parameters.push_back(std::move(host));
  });
  return result;
}

// The same on cpu_t, compiled in cpu_reference.cpp.
training_result cpu_train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                          const std::vector<std::int32_t>& targets);

}  // namespace ranklens::test::modules
