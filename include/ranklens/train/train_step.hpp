// One optimizer step, the unit every training loop repeats:
//   zero the gradients, compute the loss in a fresh tape scope, backward, clip (optionally),
//   set the learning rate (optionally), step.
//
//   const auto result = train_step(optimizer, [&] { return cross_entropy(model(batch.tokens), batch.targets); },
//                                  {.lr = schedule(t), .max_grad_norm = 1.0, .parameters = &params});
//
// A non-finite loss throws value_error before any parameter changes, so the model keeps its
// last finite state for inspection.
#pragma once
#include <cmath>
#include <concepts>
#include <optional>
#include <string>
#include <type_traits>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/optim/clip_grad_norm.hpp"

namespace ranklens::train {

// What train_step needs of an optimizer (AdamW and SGD have it).
template <class O>
concept Optimizer = requires(O& optimizer, double lr) {
  optimizer.step();
  optimizer.zero_grad();
  optimizer.set_lr(lr);
};

struct StepOptions {
  std::optional<double> lr{};                // set before the step; empty: keep the optimizer's
  double max_grad_norm = 0;                  // > 0: clip the global gradient norm of `parameters` to it (on the optimizer's device)
  const ParameterList* parameters = nullptr; // what clipping measures: every parameter the optimizer updates
};

struct StepResult {
  double loss = 0;
  std::optional<double> grad_norm{};  // before clipping; measured only when clipping
};

// loss(): a one-element Var, computed in the tape scope train_step opens.
template <Optimizer O, class LossFunction>
StepResult train_step(O& optimizer, LossFunction&& loss, const StepOptions& options = {}) {
  if (options.max_grad_norm > 0 && options.parameters == nullptr)
    throw value_error("train_step: max_grad_norm > 0 needs the parameters to clip (StepOptions::parameters)");
  StepResult result;
  optimizer.zero_grad();
  {
    auto scope = tape();
    const auto value = loss();
    static_assert(is_var<std::remove_cvref_t<decltype(value)>>::value, "train_step: the loss function must return a Var.");
    result.loss = double(value.item());
    if (!std::isfinite(result.loss))
      throw value_error("train_step: the loss is " + std::to_string(result.loss) + "; the parameters were left unchanged");
    // Nothing reads an intermediate gradient once this scope closes, so each is released as
    // soon as its op's backward has run: the step's peak memory holds only the live ones.
    backward(value, {.keep_intermediate_grads = false});
  }
  if (options.max_grad_norm > 0) result.grad_norm = clip_grad_norm<device_of_t<O>>(*options.parameters, options.max_grad_norm);
  if (options.lr) optimizer.set_lr(*options.lr);
  optimizer.step();
  return result;
}

}  // namespace ranklens::train
