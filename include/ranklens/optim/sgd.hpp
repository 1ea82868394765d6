// SGD with optional momentum, dampening, Nesterov and L2 weight decay, following
// torch.optim.SGD step for step: a parameter without a gradient (frozen, or never used in a
// forward pass that records gradients) is skipped, with no update and no buffer; with momentum,
// a parameter's first update creates its buffer as a copy of the step direction. Its state (the
// momentum buffers, the options) is saved and restored by name: SGD is an OptimizerWithState
// (optim/optimizer_state.hpp).
//
// SGD<D> updates parameters on device D (all of its list, checked when it is built) through the
// switch point backend/sgd.hpp: on the CPU one fused pass per parameter, elsewhere every
// parameter in one call (backend::sgd_update_many, a launch or a few); `SGD optimizer(params)` is
// SGD<cpu_t>. zero_grad is one call too (GradientZeroing). On cuda_t the buffers live in device
// memory and parameters must be F32, and the learning rate lives there too (set_lr writes it;
// refused while a graph is being captured), so that a step captured into a CUDA graph
// (cuda/graph.hpp) replays with the current rate. The other options are fixed for the
// optimizer's life and passed to each launch.
#pragma once
#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "ranklens/backend/sgd.hpp"
#include "ranklens/optim/gradient_zeroing.hpp"
#include "ranklens/optim/optimizer_state.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

template <Device D = cpu_t>
class SGD {
 public:
  using device_type = D;
  static constexpr std::string_view kind = "SGD";
  static constexpr std::string_view key = "sgd";
  static constexpr std::array<std::string_view, 1> state_names = {"momentum_buffer"};

  SGD(ParameterList params, SGDOptions options = {}) : params_(std::move(params)), options_(options), state_(params_) {
    require_device<D>(params_, "SGD");
    if constexpr (!std::same_as<D, cpu_t>)
      for (const auto& p : params_)
        if (p.type != dtype::f32)
          throw value_error("SGD<" + std::string(D::name) + ">: parameter '" + std::string(p.name) + "' is " + std::string(name_of(p.type)) +
                            "; on this device weights and momentum buffers are F32");
    if (options_.nesterov && (options_.momentum <= 0 || options_.dampening != 0))
      throw value_error("SGD: Nesterov momentum requires momentum > 0 and dampening = 0");
    if constexpr (rate_on_device) {  // after the checks: a refused list allocates nothing on the device
      rate_.emplace(Shape<1>{});
      write_rate(options_.lr);
    }
  }

  void step() {
    if constexpr (rate_on_device) {
      updates_.clear();  // every parameter in a launch or a few
      for (std::size_t i = 0; i < params_.size(); ++i) {
        const ParameterRef& p = params_[i];
        if (*p.frozen || p.grad() == nullptr) continue;
        const bool first = make_buffer(i);
        updates_.push_back({static_cast<float*>(p.value), static_cast<const float*>(p.grad()), buffer_of<float>(i), p.numel, first});
      }
      backend::sgd_update_many<float>(D{}, std::span<const cpu::sgd_tensor<float>>(updates_), coefficients<float>(false), rate_->data());
    } else {
      for (std::size_t i = 0; i < params_.size(); ++i) {
        const ParameterRef& p = params_[i];
        if (*p.frozen || p.grad() == nullptr) continue;
        if (p.type == dtype::f32) {
          update<float>(p, i);
        } else {
          if (p.type != dtype::f64) throw value_error("SGD: parameter '" + std::string(p.name) + "' is not F32 or F64");
          update<double>(p, i);
        }
      }
    }
    has_stepped_ = true;
  }

  void zero_grad() { zero_gradients_(params_); }
  // The device first: a refused write (during a capture) leaves lr() as it was.
  void set_lr(double lr) {
    if constexpr (rate_on_device) write_rate(lr);
    options_.lr = lr;
  }
  double lr() const noexcept { return options_.lr; }
  bool has_stepped() const noexcept { return has_stepped_; }
  const SGDOptions& options() const noexcept { return options_; }
  const ParameterList& parameters() const noexcept { return params_; }

  // State by name (optim/optimizer_state.hpp): bytes in D's memory (host bytes on cpu_t only;
  // checkpoints copy the others through the host).
  std::span<std::byte> state(std::size_t i, std::string_view name) {
    if (name != state_names[0]) throw value_error("SGD: no state tensor named '" + std::string(name) + "' (it keeps momentum_buffer)");
    return state_.tensor(i, 0);
  }
  void create_state(std::size_t i) { state_.create(i); }
  void release_state(std::size_t i) { state_.release(i); }
  // has_stepped: whether a step has run. Files written before buffers were created per
  // parameter hold zero buffers for every parameter until then, which mean none.
  OptimizerSettings settings() const {
    OptimizerSettings s;
    s.set("has_stepped", has_stepped_);
    s.set("lr", options_.lr);
    s.set("momentum", options_.momentum);
    s.set("dampening", options_.dampening);
    s.set("weight_decay", options_.weight_decay);
    s.set("nesterov", options_.nesterov);
    return s;
  }
  // The learning rate continues from the saved settings; the other options must agree.
  void check_settings(const OptimizerSettings& saved) const {
    saved.require_equal(kind, "momentum", options_.momentum);
    saved.require_equal(kind, "dampening", options_.dampening);
    saved.require_equal(kind, "weight_decay", options_.weight_decay);
    saved.require_equal(kind, "nesterov", options_.nesterov);
    (void)saved.boolean("has_stepped");
    (void)saved.real("lr");
  }
  void restore_settings(const OptimizerSettings& saved) {
    options_.lr = saved.real("lr");
    if constexpr (rate_on_device) write_rate(options_.lr);
    has_stepped_ = saved.boolean("has_stepped");
    if (!has_stepped_)
      for (std::size_t i = 0; i < params_.size(); ++i) state_.release(i);
  }

 private:
  // Creates parameter i's momentum buffer at its first update; true when it did (the update
  // then writes the buffer whole, as torch's first step).
  bool make_buffer(std::size_t i) {
    const bool first = options_.momentum != 0 && !state_.has(i);
    if (first) state_.create(i);
    return first;
  }
  template <class T>
  T* buffer_of(std::size_t i) {
    return options_.momentum != 0 ? state_.template data<T>(i, 0) : nullptr;
  }
  template <class T>
  cpu::sgd_coefficients<T> coefficients(bool first) const {
    return {.lr = T(options_.lr),
            .momentum = T(options_.momentum),
            .dampening_complement = T(1 - options_.dampening),
            .weight_decay = T(options_.weight_decay),
            .nesterov = options_.nesterov,
            .first = first};
  }

  // On the CPU: one parameter's update.
  template <class T>
  void update(const ParameterRef& p, std::size_t i) {
    const bool first = make_buffer(i);
    backend::sgd_update<T>(D{}, static_cast<T*>(p.value), static_cast<const T*>(p.grad()), buffer_of<T>(i), p.numel, coefficients<T>(first));
  }

  static constexpr bool rate_on_device = !std::same_as<D, cpu_t>;

  // The rate as the F32 update reads it, into device memory: when built, set and restored.
  void write_rate(double rate) {
    const float lr = float(rate);
    device_memory<D>::copy_from_host(rate_->data(), &lr, sizeof(float));
  }

  ParameterList params_;
  SGDOptions options_;
  LazyParameterState<1, D> state_;
  bool has_stepped_ = false;
  std::vector<cpu::sgd_tensor<float>> updates_;  // off the CPU: this step's list, its storage kept between steps
  GradientZeroing<D> zero_gradients_;
  [[no_unique_address]] std::conditional_t<rate_on_device, std::optional<Tensor<float, Shape<1>, D>>, std::monostate> rate_;
};

}  // namespace ranklens
