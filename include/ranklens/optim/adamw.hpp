// AdamW (Loshchilov & Hutter, decoupled weight decay) exactly as torch.optim.AdamW computes it
// (non-amsgrad), fused into one pass over each parameter: decay, both moments, update. The pass
// is the vectorised, threaded kernel cpu/adamw.hpp.
//
// As in PyTorch, a parameter without a gradient (frozen, or never used in a forward pass that
// records gradients) is skipped: no update, no change to its state. Its moments are created at
// its first update, so frozen parameters cost no memory here. The bias correction uses the
// optimizer's step count: PyTorch's per-parameter step for every parameter that had a gradient
// at each step since the optimizer was built (a parameter unfrozen later starts its moments at
// zero with the larger count; PyTorch would count its steps from one).
//
// Its state (both moments of every parameter, the step count, the options) is saved and
// restored by name: AdamW is an OptimizerWithState (optim/optimizer_state.hpp).
//
// AdamW<D> updates parameters on device D (all of its list, checked when it is built) through
// the switch point backend/adamw.hpp; `AdamW optimizer(params)` is AdamW<cpu_t>. On cuda_t the
// moments live in device memory and parameters must be F32 (fp32 master weights); its state
// is not offered as host bytes yet, so checkpoints take cpu_t optimizers only.
#pragma once
#include <array>
#include <cmath>
#include <string_view>
#include <vector>

#include "ranklens/backend/adamw.hpp"
#include "ranklens/optim/optimizer_state.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

template <Device D = cpu_t>
class AdamW {
 public:
  using device_type = D;
  static constexpr std::string_view kind = "AdamW";
  static constexpr std::string_view key = "adamw";
  static constexpr std::array<std::string_view, 2> state_names = {"exp_avg", "exp_avg_sq"};  // m, v

  AdamW(ParameterList params, AdamWOptions options = {}) : params_(std::move(params)), options_(options), state_(params_) {
    require_device<D>(params_, "AdamW");
    if constexpr (!std::same_as<D, cpu_t>)
      for (const auto& p : params_)
        if (p.type != dtype::f32)
          throw value_error("AdamW<" + std::string(D::name) + ">: parameter '" + std::string(p.name) + "' is " + std::string(name_of(p.type)) +
                            "; on this device weights and moments are F32");
  }

  // One update with the gradients currently stored in the parameters.
  void step() {
    ++step_;
    const double bias1 = 1 - std::pow(options_.beta1, double(step_));
    const double bias2_sqrt = std::sqrt(1 - std::pow(options_.beta2, double(step_)));
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const ParameterRef& p = params_[i];
      if (*p.frozen || p.grad() == nullptr) continue;
      if (!state_.has(i)) state_.create(i);
      if (p.type == dtype::f32) {
        update<float>(p, i, bias1, bias2_sqrt);
      } else if constexpr (std::same_as<D, cpu_t>) {  // elsewhere F32 only, checked when built
        if (p.type != dtype::f64) throw value_error("AdamW: parameter '" + std::string(p.name) + "' is not F32 or F64");
        update<double>(p, i, bias1, bias2_sqrt);
      }
    }
  }

  void zero_grad() { ranklens::zero_grad(params_); }

  double lr() const noexcept { return options_.lr; }
  void set_lr(double lr) noexcept { options_.lr = lr; }
  long long steps_taken() const noexcept { return step_; }
  const AdamWOptions& options() const noexcept { return options_; }
  const ParameterList& parameters() const noexcept { return params_; }

  // State by name (optim/optimizer_state.hpp): bytes in D's memory (host bytes on cpu_t only;
  // checkpoints copy the others through the host).
  std::span<std::byte> state(std::size_t i, std::string_view name) {
    return state_.tensor(i, state_index(name));
  }
  void create_state(std::size_t i) { state_.create(i); }
  void release_state(std::size_t i) { state_.release(i); }
  OptimizerSettings settings() const {
    OptimizerSettings s;
    s.set("steps_taken", step_);
    s.set("lr", options_.lr);
    s.set("beta1", options_.beta1);
    s.set("beta2", options_.beta2);
    s.set("eps", options_.eps);
    s.set("weight_decay", options_.weight_decay);
    return s;
  }
  // The learning rate and step count continue from the saved settings; the other options must agree.
  void check_settings(const OptimizerSettings& saved) const {
    saved.require_equal(kind, "beta1", options_.beta1);
    saved.require_equal(kind, "beta2", options_.beta2);
    saved.require_equal(kind, "eps", options_.eps);
    saved.require_equal(kind, "weight_decay", options_.weight_decay);
    (void)saved.integer("steps_taken");
    (void)saved.real("lr");
  }
  void restore_settings(const OptimizerSettings& saved) {
    step_ = saved.integer("steps_taken");
    options_.lr = saved.real("lr");
  }

 private:
  static std::size_t state_index(std::string_view name) {
    for (std::size_t k = 0; k < state_names.size(); ++k)
      if (state_names[k] == name) return k;
    throw value_error("AdamW: no state tensor named '" + std::string(name) + "' (it keeps exp_avg and exp_avg_sq)");
  }

  template <class T>
  void update(const ParameterRef& p, std::size_t i, double bias1, double bias2_sqrt) {
    const cpu::adamw_coefficients<T> c{.decay = T(1 - options_.lr * options_.weight_decay),
                                       .beta1 = T(options_.beta1),
                                       .beta2 = T(options_.beta2),
                                       .step_size = T(options_.lr / bias1),
                                       .inv_bias2_sqrt = T(1 / bias2_sqrt),
                                       .eps = T(options_.eps)};
    backend::adamw_update<T>(D{}, static_cast<T*>(p.value), static_cast<const T*>(p.grad()), state_.template data<T>(i, 0),
                             state_.template data<T>(i, 1), p.numel, c);
  }

  ParameterList params_;
  AdamWOptions options_;
  LazyParameterState<2, D> state_;
  long long step_ = 0;
};

}  // namespace ranklens
