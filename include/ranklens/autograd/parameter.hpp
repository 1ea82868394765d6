// Parameter<T, S, D>: trainable state that outlives every tape: an owning value, an owning
// gradient that backward() accumulates into, a Hugging Face style name, and a frozen flag
// (a frozen base model under LoRA gets no gradient buffer traffic at all).
#pragma once
#include <string>
#include <string_view>
#include <utility>

#include "ranklens/autograd/var.hpp"

namespace ranklens {

// What optimizers, checkpoints and adapters need of any parameter, whatever its shape type.
struct ParameterRef {
  std::string_view name;
  void* value;
  void* grad;
  index_t numel;
  dtype type;
  bool* frozen;
};

template <class T, ShapeType S, Device D = cpu_t>
class Parameter {
 public:
  using value_type = T;
  using shape_type = S;
  using device_type = D;

  Parameter() = default;
  explicit Parameter(Tensor<T, S, D> initial, std::string name = {})
      : value_(std::move(initial)), grad_(Tensor<T, S, D>::zeros(value_.shape())), name_(std::move(name)) {}

  // A leaf on the current tape that reads value() and accumulates into grad().
  Var<T, S, D> var() const {
    auto* node = Tape::current().new_node(const_cast<T*>(value_.data()), value_.numel(), dtype_of<T>,
                                          !frozen_ && grad_mode_enabled());
    if (node->requires_grad) node->grad = const_cast<T*>(grad_.data());
    return Var<T, S, D>(node, value_.shape());
  }

  Tensor<T, S, D>& value() noexcept { return value_; }
  const Tensor<T, S, D>& value() const noexcept { return value_; }
  Tensor<T, S, D>& grad() noexcept { return grad_; }
  const Tensor<T, S, D>& grad() const noexcept { return grad_; }
  const S& shape() const noexcept { return value_.shape(); }
  index_t numel() const noexcept { return value_.numel(); }

  const std::string& name() const noexcept { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  bool frozen() const noexcept { return frozen_; }
  void freeze(bool frozen = true) noexcept { frozen_ = frozen; }

  void zero_grad() noexcept { device_memory<D>::zero(grad_.data(), grad_.bytes()); }

  ParameterRef ref() noexcept { return {name_, value_.data(), grad_.data(), value_.numel(), dtype_of<T>, &frozen_}; }

 private:
  Tensor<T, S, D> value_;
  Tensor<T, S, D> grad_;
  std::string name_;
  bool frozen_ = false;
};

}  // namespace ranklens
