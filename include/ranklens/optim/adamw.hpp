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
// moments live in device memory and parameters must be F32 (fp32 master weights); checkpoints
// copy them through the host. There the step count and the settings live in device memory too,
// and each step's coefficients are computed on the device (backend::adamw_advance), as
// PyTorch's capturable AdamW keeps its step: a step captured into a CUDA graph (cuda/graph.hpp)
// then counts its own replays. steps_taken() and settings() read them back (waiting for the
// device); set_lr writes the rate (refused while a graph is being captured). Off the CPU all
// parameters are updated by one call, backend::adamw_update_many: a launch or a few per step
// (as torch's fused AdamW), not one per parameter; zero_grad is one call too (GradientZeroing).
#pragma once
#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "ranklens/backend/adamw.hpp"
#include "ranklens/optim/gradient_zeroing.hpp"
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
    if constexpr (schedule_on_device) {  // after the checks: a refused list allocates nothing on the device
      schedule_.emplace();
      write_schedule();
    }
  }

  // One update with the gradients currently stored in the parameters.
  void step() {
    if constexpr (schedule_on_device) {
      auto* c = reinterpret_cast<cpu::adamw_coefficients<float>*>(schedule_->coefficients.data());
      backend::adamw_advance<float>(D{}, schedule_->values.data(), c);
      updates_.clear();  // every parameter in a launch or a few
      for_each_update([&](const ParameterRef& p, std::size_t i) {
        updates_.push_back({static_cast<float*>(p.value), static_cast<const float*>(p.grad()), state_.template data<float>(i, 0),
                            state_.template data<float>(i, 1), p.numel});
      });
      backend::adamw_update_many<float>(D{}, std::span<const cpu::adamw_tensor<float>>(updates_), c);
    } else {
      ++step_;
      const auto f32 = coefficients<float>(), f64 = coefficients<double>();
      for_each_update([&](const ParameterRef& p, std::size_t i) {
        if (p.type == dtype::f32) {
          update<float>(p, i, &f32);
        } else {
          if (p.type != dtype::f64) throw value_error("AdamW: parameter '" + std::string(p.name) + "' is not F32 or F64");
          update<double>(p, i, &f64);
        }
      });
    }
  }

  void zero_grad() { zero_gradients_(params_); }

  double lr() const noexcept { return options_.lr; }
  // The device first: a refused write (during a capture) leaves lr() as it was.
  void set_lr(double lr) {
    if constexpr (schedule_on_device)  // the rate only: the device's step count runs ahead of step_
      device_memory<D>::copy_from_host(schedule_->values.data() + cpu::adamw_schedule::lr, &lr, sizeof(double));
    options_.lr = lr;
  }
  long long steps_taken() const {
    if constexpr (schedule_on_device) {
      double steps = 0;
      device_memory<D>::copy_to_host(&steps, schedule_->values.data() + cpu::adamw_schedule::steps, sizeof(double));
      return static_cast<long long>(steps);
    } else {
      return step_;
    }
  }
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
    s.set("steps_taken", steps_taken());
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
    if constexpr (schedule_on_device) write_schedule();
  }

 private:
  static std::size_t state_index(std::string_view name) {
    for (std::size_t k = 0; k < state_names.size(); ++k)
      if (state_names[k] == name) return k;
    throw value_error("AdamW: no state tensor named '" + std::string(name) + "' (it keeps exp_avg and exp_avg_sq)");
  }

  static constexpr bool schedule_on_device = !std::same_as<D, cpu_t>;

  // Calls f(p, i) for each parameter this step updates, making its moments at its first update.
  template <class F>
  void for_each_update(F&& f) {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const ParameterRef& p = params_[i];
      if (*p.frozen || p.grad() == nullptr) continue;
      if (!state_.has(i)) state_.create(i);
      f(p, i);
    }
  }

  template <class T>
  cpu::adamw_coefficients<T> coefficients() const {
    return cpu::adamw_coefficients_at<T>(double(step_), options_.lr, options_.beta1, options_.beta2, options_.eps, options_.weight_decay);
  }

  template <class T>
  void update(const ParameterRef& p, std::size_t i, const cpu::adamw_coefficients<T>* c) {
    backend::adamw_update<T>(D{}, static_cast<T*>(p.value), static_cast<const T*>(p.grad()), state_.template data<T>(i, 0),
                             state_.template data<T>(i, 1), p.numel, c);
  }

  // The step count and settings (host numbers) into device memory: when built and restored.
  void write_schedule() {
    using slot = cpu::adamw_schedule;
    double values[slot::slots] = {};
    values[slot::steps] = double(step_);
    values[slot::lr] = options_.lr;
    values[slot::beta1] = options_.beta1;
    values[slot::beta2] = options_.beta2;
    values[slot::eps] = options_.eps;
    values[slot::weight_decay] = options_.weight_decay;
    device_memory<D>::copy_from_host(schedule_->values.data(), values, sizeof(values));
  }

  // Off the CPU: the schedule (cpu/adamw_coefficients.hpp's slots) and the coefficients that
  // backend::adamw_advance writes from it each step, in D's memory.
  struct device_schedule {
    Tensor<double, Shape<cpu::adamw_schedule::slots>, D> values{Shape<cpu::adamw_schedule::slots>{}};
    Tensor<float, Shape<6>, D> coefficients{Shape<6>{}};
  };
  static_assert(sizeof(cpu::adamw_coefficients<float>) == 6 * sizeof(float));

  ParameterList params_;
  AdamWOptions options_;
  LazyParameterState<2, D> state_;
  long long step_ = 0;  // on the CPU the count; elsewhere the count last written to the device
  std::vector<cpu::adamw_tensor<float>> updates_;  // off the CPU: this step's list, its storage kept between steps
  GradientZeroing<D> zero_gradients_;
  [[no_unique_address]] std::conditional_t<schedule_on_device, std::optional<device_schedule>, std::monostate> schedule_;
};

}  // namespace ranklens
