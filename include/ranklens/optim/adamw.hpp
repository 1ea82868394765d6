// AdamW (Loshchilov & Hutter, decoupled weight decay) exactly as torch.optim.AdamW computes it
// (non-amsgrad), fused into one pass over each parameter: decay, both moments, update. The pass
// is the vectorised, threaded kernel cpu/adamw.hpp.
#pragma once
#include <cmath>
#include <vector>

#include "ranklens/cpu/adamw.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

class AdamW {
 public:
  AdamW(ParameterList params, AdamWOptions options = {}) : params_(std::move(params)), options_(options) {
    for (const auto& p : params_) {
      const std::size_t bytes = size_of(p.type) * std::size_t(p.numel);
      first_moment_.emplace_back(bytes, std::byte{0});
      second_moment_.emplace_back(bytes, std::byte{0});
    }
  }

  // One update with the gradients currently stored in the parameters.
  void step() {
    ++step_;
    const double bias1 = 1 - std::pow(options_.beta1, double(step_));
    const double bias2_sqrt = std::sqrt(1 - std::pow(options_.beta2, double(step_)));
    std::size_t i = 0;
    for (const auto& p : params_) {
      const std::size_t k = i++;
      if (*p.frozen) continue;
      if (p.type == dtype::f32)
        update(static_cast<float*>(p.value), static_cast<const float*>(p.grad), reinterpret_cast<float*>(first_moment_[k].data()),
               reinterpret_cast<float*>(second_moment_[k].data()), p.numel, bias1, bias2_sqrt);
      else if (p.type == dtype::f64)
        update(static_cast<double*>(p.value), static_cast<const double*>(p.grad), reinterpret_cast<double*>(first_moment_[k].data()),
               reinterpret_cast<double*>(second_moment_[k].data()), p.numel, bias1, bias2_sqrt);
      else
        throw value_error("AdamW: parameter '" + std::string(p.name) + "' is not F32 or F64");
    }
  }

  void zero_grad() { ranklens::zero_grad(params_); }

  double lr() const noexcept { return options_.lr; }
  void set_lr(double lr) noexcept { options_.lr = lr; }
  long long steps_taken() const noexcept { return step_; }
  const AdamWOptions& options() const noexcept { return options_; }
  const ParameterList& parameters() const noexcept { return params_; }
  // Optimizer state as raw bytes per parameter (m then v), for checkpoints.
  std::vector<std::byte>& first_moment(std::size_t i) { return first_moment_.at(i); }
  std::vector<std::byte>& second_moment(std::size_t i) { return second_moment_.at(i); }
  void set_steps_taken(long long s) noexcept { step_ = s; }

 private:
  template <class T>
  void update(T* value, const T* grad, T* m, T* v, index_t n, double bias1, double bias2_sqrt) const {
    const cpu::adamw_coefficients<T> c{.decay = T(1 - options_.lr * options_.weight_decay),
                                       .beta1 = T(options_.beta1),
                                       .beta2 = T(options_.beta2),
                                       .step_size = T(options_.lr / bias1),
                                       .inv_bias2_sqrt = T(1 / bias2_sqrt),
                                       .eps = T(options_.eps)};
    cpu::adamw_update(value, grad, m, v, n, c);
  }

  ParameterList params_;
  AdamWOptions options_;
  std::vector<std::vector<std::byte>> first_moment_, second_moment_;
  long long step_ = 0;
};

}  // namespace ranklens
