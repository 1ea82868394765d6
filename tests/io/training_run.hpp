// A small training run and everything it needs to continue, for the checkpoint tests and for
// tools/make_checkpoint_fixtures.cpp, which wrote the committed checkpoints with it.
#pragma once
#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/core/distributions.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/io/checkpoint.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/sgd.hpp"

namespace ranklens::io::testing {

// A small training run and everything it needs to continue: model, optimizer, the data
// generator (a ranklens::Rng) and a standard engine that picks each step's sequence length, all
// registered in one training_state. It holds pointers to its own members: it never moves.
template <class Config, class Optimizer>
struct TrainingRun {
  static Optimizer make_optimizer(Transformer<Config>& model) {
    if constexpr (std::is_same_v<Optimizer, AdamW<>>)
      return AdamW(parameters(model), {.lr = 1e-2, .weight_decay = 0.01});
    else
      return SGD(parameters(model), {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-3});
  }

  explicit TrainingRun(std::uint64_t seed)
      : initialisation(unsigned(seed)), model(initialisation), optimizer(make_optimizer(model)), data(seed), lengths(unsigned(seed) + 7) {
    state.add_model(model).add_optimizer(optimizer).add_generator("data", data).add_generator("lengths", lengths);
  }
  TrainingRun(const TrainingRun&) = delete;

  // One step on random copy-the-previous-token sequences; returns the loss.
  float step() {
    const index_t batch = 3, sequence = 4 + index_t(lengths() % 4);
    Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{batch, sequence}), targets(Shape<dyn, dyn>{batch, sequence});
    for (index_t b = 0; b < batch; ++b)
      for (index_t t = 0; t < sequence; ++t) {
        tokens(b, t) = std::int32_t(uniform_below(data, Config::vocab_size));
        targets(b, t) = t == 0 ? -100 : tokens(b, t - 1);
      }
    auto scope = tape();
    optimizer.zero_grad();
    auto loss = cross_entropy(model(tokens), targets);
    backward(loss);
    optimizer.step();
    ++state.step;
    return loss.item();
  }

  std::vector<float> steps(int count) {
    std::vector<float> losses;
    for (int i = 0; i < count; ++i) losses.push_back(step());
    return losses;
  }

  std::vector<float> parameter_values() {
    std::vector<float> values;
    for_each_parameter(model, [&](std::string_view, const auto& p) {
      values.insert(values.end(), p.value().span().begin(), p.value().span().end());
    });
    return values;
  }

  std::mt19937 initialisation;
  Transformer<Config> model;
  Optimizer optimizer;
  Rng data;
  std::mt19937 lengths;
  training_state state;
};

}  // namespace ranklens::io::testing
