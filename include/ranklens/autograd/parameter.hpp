// Parameter<T, S, D>: trainable state that outlives every tape: an owning value, a Hugging Face
// style name, a frozen flag, and a gradient buffer that backward() accumulates into. The buffer
// is created (zeroed) when a gradient first needs it: at the first var() that takes part in
// training (not frozen, grad mode on). A frozen parameter, such as the base model under LoRA,
// never gets one, and neither costs optimizer state (optim/).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ranklens/autograd/var.hpp"

namespace ranklens {

// What optimizers, checkpoints and adapters need of any parameter, whatever its shape type and
// device. It refers to the parameter itself, so a gradient buffer created after the reference
// was taken is seen; like a pointer, it dangles if the parameter moves.
struct ParameterRef {
  std::string_view name;
  void* value;                                    // on `device`, as is the gradient
  index_t numel;
  dtype type;
  bool* frozen;
  const void* parameter;                          // the Parameter<T, S, D> this refers to
  void* (*gradient_of)(const void* parameter);    // its gradient buffer, or nullptr
  void (*zero_gradient_of)(const void* parameter);  // zeroes that buffer on the device, if there is one
  std::string_view device;                        // D::name: "cpu", "cuda"

  // The gradient buffer (numel elements of type), or nullptr while the parameter has none.
  void* grad() const noexcept { return gradient_of(parameter); }
  // Zeroes the gradient buffer with the parameter's device; a parameter without one stays without.
  void zero_grad() const { zero_gradient_of(parameter); }
  template <Device D>
  bool is_on() const noexcept {
    return device == D::name;
  }
};

template <class T, ShapeType S, Device D = cpu_t>
class Parameter {
 public:
  using value_type = T;
  using shape_type = S;
  using device_type = D;

  Parameter() = default;
  explicit Parameter(Tensor<T, S, D> initial, std::string name = {}) : value_(std::move(initial)), name_(std::move(name)) {}

  // A leaf on the current tape that reads value(). When it takes part in training (not frozen,
  // grad mode on), its gradient accumulates into the gradient buffer, created here if need be.
  Var<T, S, D> var() const {
    const bool trainable = !frozen_ && grad_mode_enabled();
    auto* node = Tape::current().new_node(const_cast<T*>(value_.data()), value_.numel(), dtype_of<T>, trainable);
    if (trainable) node->grad = ensure_gradient().data();
    return Var<T, S, D>(node, value_.shape());
  }

  Tensor<T, S, D>& value() noexcept { return value_; }
  const Tensor<T, S, D>& value() const noexcept { return value_; }
  const S& shape() const noexcept { return value_.shape(); }
  index_t numel() const noexcept { return value_.numel(); }

  // Whether a gradient buffer exists (PyTorch: p.grad is not None).
  bool has_grad() const noexcept { return grad_.has_value(); }
  // The gradient; throws value_error when the parameter has no gradient buffer yet.
  Tensor<T, S, D>& grad() {
    require_grad();
    return *grad_;
  }
  const Tensor<T, S, D>& grad() const {
    require_grad();
    return *grad_;
  }
  // The gradient buffer, created zeroed if the parameter has none: for setting a gradient by hand.
  Tensor<T, S, D>& gradient_buffer() { return ensure_gradient(); }

  const std::string& name() const noexcept { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  bool frozen() const noexcept { return frozen_; }
  void freeze(bool frozen = true) noexcept { frozen_ = frozen; }

  // Zeroes the gradient buffer; a parameter without one stays without.
  void zero_grad() { zero_gradient_of(this); }

  ParameterRef ref() noexcept {
    return {name_, value_.data(), value_.numel(), dtype_of<T>, &frozen_, this, &gradient_of, &zero_gradient_of, D::name};
  }

 private:
  static void* gradient_of(const void* parameter) noexcept {
    const auto& self = *static_cast<const Parameter*>(parameter);
    return self.grad_ ? self.grad_->data() : nullptr;
  }
  static void zero_gradient_of(const void* parameter) {
    const auto& self = *static_cast<const Parameter*>(parameter);
    if (self.grad_) device_memory<D>::zero(self.grad_->data(), self.grad_->bytes());
  }

  // The buffer is part of how the parameter trains, not of its value: var() const creates it.
  Tensor<T, S, D>& ensure_gradient() const {
    if (!grad_) grad_.emplace(Tensor<T, S, D>::zeros(value_.shape()));
    return *grad_;
  }

  void require_grad() const {
    if (!grad_)
      throw value_error("Parameter '" + name_ + "' of shape " + to_string(value_.shape()) +
                        " has no gradient: it is frozen, or has not yet been used in a forward pass that records gradients");
  }

  Tensor<T, S, D> value_;
  mutable std::optional<Tensor<T, S, D>> grad_;  // created by var() when training needs it
  std::string name_;
  bool frozen_ = false;
};

}  // namespace ranklens
