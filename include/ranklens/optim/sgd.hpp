// SGD with optional momentum, dampening, Nesterov and L2 weight decay, following
// torch.optim.SGD step for step (the first momentum step copies the gradient).
#pragma once
#include <vector>

#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

class SGD {
 public:
  SGD(ParameterList params, SGDOptions options = {}) : params_(std::move(params)), options_(options) {
    if (options_.nesterov && (options_.momentum <= 0 || options_.dampening != 0))
      throw value_error("SGD: Nesterov momentum requires momentum > 0 and dampening = 0");
    for (const auto& p : params_) momentum_.emplace_back(size_of(p.type) * std::size_t(p.numel), std::byte{0});
  }

  void step() {
    std::size_t i = 0;
    for (const auto& p : params_) {
      const std::size_t k = i++;
      if (*p.frozen) continue;
      if (p.type == dtype::f32)
        update(static_cast<float*>(p.value), static_cast<const float*>(p.grad), reinterpret_cast<float*>(momentum_[k].data()), p.numel);
      else if (p.type == dtype::f64)
        update(static_cast<double*>(p.value), static_cast<const double*>(p.grad), reinterpret_cast<double*>(momentum_[k].data()), p.numel);
      else
        throw value_error("SGD: parameter '" + std::string(p.name) + "' is not F32 or F64");
    }
    first_step_ = false;
  }

  void zero_grad() { ranklens::zero_grad(params_); }
  void set_lr(double lr) noexcept { options_.lr = lr; }
  double lr() const noexcept { return options_.lr; }
  const SGDOptions& options() const noexcept { return options_; }
  const ParameterList& parameters() const noexcept { return params_; }
  // Optimizer state for checkpoints: parameter i's momentum buffer as raw bytes, and whether a
  // step has run (the first step copies the gradient into the buffer instead of blending).
  std::vector<std::byte>& momentum_buffer(std::size_t i) { return momentum_.at(i); }
  bool has_stepped() const noexcept { return !first_step_; }
  void set_has_stepped(bool stepped) noexcept { first_step_ = !stepped; }

 private:
  template <class T>
  void update(T* value, const T* grad, T* buffer, index_t n) const {
    const T lr = T(options_.lr), mu = T(options_.momentum), damp = T(1 - options_.dampening), wd = T(options_.weight_decay);
    for (index_t j = 0; j < n; ++j) {
      T d = grad[j] + wd * value[j];
      if (options_.momentum != 0) {
        buffer[j] = first_step_ ? d : mu * buffer[j] + damp * d;
        d = options_.nesterov ? d + mu * buffer[j] : buffer[j];
      }
      value[j] -= lr * d;
    }
  }

  ParameterList params_;
  SGDOptions options_;
  std::vector<std::vector<std::byte>> momentum_;
  bool first_step_ = true;
};

}  // namespace ranklens
