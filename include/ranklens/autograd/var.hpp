// Var<T, S, D>: a value that takes part in reverse-mode autodiff. It is a small handle (node,
// offset, shape, strides) on a StorageNode in the tape's arena; copying it copies the handle.
#pragma once
#include <string>

#include "ranklens/autograd/tape.hpp"
#include "ranklens/core/grad_write.hpp"
#include "ranklens/core/tensor.hpp"

namespace ranklens {

template <class T, ShapeType S, Device D = cpu_t>
class Var {
 public:
  using value_type = T;
  using shape_type = S;
  using device_type = D;
  using strides_type = std::array<index_t, S::rank>;
  static constexpr std::size_t rank = S::rank;

  Var() = default;
  Var(StorageNode* node, index_t offset, const S& shape, const strides_type& strides)
      : node_(node), offset_(offset), shape_(shape), strides_(strides) {}
  Var(StorageNode* node, const S& shape) : Var(node, 0, shape, contiguous_strides(shape)) {}

  const S& shape() const noexcept { return shape_; }
  const strides_type& strides() const noexcept { return strides_; }
  index_t extent(std::size_t i) const noexcept { return shape_.dims[i]; }
  index_t numel() const noexcept { return shape_.numel(); }
  index_t offset() const noexcept { return offset_; }
  bool is_contiguous() const noexcept { return TensorView<const T, S, D>::is_contiguous_layout(shape_, strides_); }
  StorageNode* node() const noexcept { return node_; }
  bool requires_grad() const noexcept { return node_ && node_->requires_grad; }
  bool has_grad() const noexcept { return node_ && node_->grad; }

  TensorView<const T, S, D> value() const noexcept { return {base_value() + offset_, shape_, strides_}; }

  // The gradient that backward() left here; throws if none reached this value.
  TensorView<const T, S, D> grad() const {
    if (!has_grad())
      throw value_error("Var::grad: no gradient reached this value of shape " + to_string(shape_) +
                        (requires_grad() ? "" : " (it does not require grad)"));
    return {static_cast<T*>(node_->grad) + offset_, shape_, strides_};
  }

  // For op authors: writable output values of a freshly created result.
  T* mutable_data() const noexcept { return base_value() + offset_; }

  // For op authors: the gradient buffer to accumulate into, created (zeroed) on first use.
  TensorView<T, S, D> grad_accumulator() const {
    if (!node_->grad) {
      node_->grad = new_gradient_buffer();
      device_memory<D>::zero(node_->grad, sizeof(T) * std::size_t(node_->numel));
    }
    return {static_cast<T*>(node_->grad) + offset_, shape_, strides_};
  }

  // For op authors whose kernel can store as well as add: the gradient buffer, and `store`
  // when this call created it for exactly this value (the whole node, contiguous). Its
  // contents are then undefined and the op must write every element; otherwise it adds.
  struct GradientSink {
    TensorView<T, S, D> view;
    grad_write mode = grad_write::add;
    T* data() const noexcept { return view.data(); }
  };
  GradientSink grad_sink() const {
    if (!node_->grad && offset_ == 0 && numel() == node_->numel && is_contiguous()) {
      node_->grad = new_gradient_buffer();
      return {{static_cast<T*>(node_->grad), shape_, strides_}, grad_write::store};
    }
    return {grad_accumulator(), grad_write::add};
  }

  // The single value of a one-element Var (a loss); from a GPU, this waits for the stream.
  T item() const {
    if (numel() != 1) throw shape_error("Var::item: needs exactly one element, shape is " + to_string(shape_));
    T v;
    device_memory<D>::copy_to_host(&v, base_value() + offset_, sizeof(T));
    return v;
  }

  // An owning copy of the value, on the Var's device, that outlives the tape scope. Off the CPU
  // the value must be contiguous (contiguous(v).to_tensor() copies a strided view).
  Tensor<T, S, D> to_tensor() const {
    if constexpr (std::same_as<D, cpu_t>) {
      return ranklens::to_tensor(value());
    } else {
      if (!is_contiguous())
        throw shape_error(std::string("Var::to_tensor: the value of shape ") + to_string(shape_) + " on " + D::name +
                          " is a strided view; contiguous(v).to_tensor() copies it");
      Tensor<T, S, D> out(shape_);
      device_memory<D>::copy(out.data(), base_value() + offset_, sizeof(T) * std::size_t(numel()));
      return out;
    }
  }

  // The same storage seen with another layout: the building block of every view op.
  template <ShapeType S2>
  Var<T, S2, D> with_layout(index_t offset, const S2& shape, const std::array<index_t, S2::rank>& strides) const {
    return Var<T, S2, D>(node_, offset, shape, strides);
  }

 private:
  T* base_value() const noexcept { return static_cast<T*>(node_->value); }

  // Uninitialised memory for this node's gradient: one released earlier in this backward pass,
  // if any, else fresh from the arena.
  void* new_gradient_buffer() const {
    auto& tape = Tape::current();
    const std::size_t bytes = sizeof(T) * std::size_t(node_->numel);
    void* g = tape.template reuse_gradient_buffer<D>(bytes);
    return g != nullptr ? g : tape.template arena<D>().allocate(bytes);
  }

  StorageNode* node_ = nullptr;
  index_t offset_ = 0;
  S shape_{};
  strides_type strides_{};
};

template <class V> struct is_var : std::false_type {};
template <class T, class S, class D> struct is_var<Var<T, S, D>> : std::true_type {};
template <class V>
concept VarType = is_var<std::remove_cvref_t<V>>::value;

// A leaf whose value is the caller's memory (no copy; a temporary Tensor's is copied, below) and
// whose gradient the tape owns: inputs to differentiate with respect to, as in
// torch.tensor(..., requires_grad=True).
template <class T, ShapeType S, Device D>
Var<std::remove_const_t<T>, S, D> variable(TensorView<T, S, D> value, bool requires_grad = true) {
  using U = std::remove_const_t<T>;
  if (!value.is_contiguous()) throw shape_error("variable: the value must be contiguous, shape " + to_string(value.shape()));
  auto* node = Tape::current().new_node(const_cast<U*>(value.data()), value.numel(), dtype_of<U>,
                                        requires_grad && grad_mode_enabled());
  return Var<U, S, D>(node, value.shape());
}
template <class T, ShapeType S, Device D>
Var<T, S, D> variable(const Tensor<T, S, D>& value, bool requires_grad = true) {
  return variable(value.view(), requires_grad);
}

// A temporary tensor's values, copied into the tape's arena: a temporary (`variable(to_device(x))`,
// `constant(make_mask())`, `cross_entropy(logits, to_device(targets))`) ends with its statement,
// while what the tape records of it is read until the tape scope ends.
template <class T, ShapeType S, Device D>
TensorView<T, S, D> kept_by_tape(const Tensor<T, S, D>& temporary) {
  T* kept = Tape::current().template arena<D>().template allocate_array<T>(std::size_t(temporary.numel()));
  device_memory<D>::copy(kept, temporary.data(), temporary.bytes());
  return {kept, temporary.shape()};
}
template <class T, ShapeType S, Device D>
Var<T, S, D> variable(Tensor<T, S, D>&& value, bool requires_grad = true) {
  return variable(kept_by_tape(value), requires_grad);
}

// Data that no gradient flows to (inputs, targets, masks).
template <class T, ShapeType S, Device D>
Var<std::remove_const_t<T>, S, D> constant(TensorView<T, S, D> value) {
  return variable(value, false);
}
template <class T, ShapeType S, Device D>
Var<T, S, D> constant(const Tensor<T, S, D>& value) {
  return variable(value.view(), false);
}
template <class T, ShapeType S, Device D>
Var<T, S, D> constant(Tensor<T, S, D>&& value) {
  return variable(kept_by_tape(value), false);
}

// The same values, cut off from the graph.
template <class T, ShapeType S, Device D>
Var<T, S, D> detach(const Var<T, S, D>& v) {
  auto* node = Tape::current().new_node(v.node()->value, v.node()->numel, v.node()->type, false);
  return Var<T, S, D>(node, v.offset(), v.shape(), v.strides());
}

// A fresh contiguous result in the arena; op authors fill mutable_data().
template <class T, ShapeType S, Device D = cpu_t>
Var<T, S, D> new_var(const S& shape, bool requires_grad) {
  auto& tape = Tape::current();
  void* data = tape.arena<D>().allocate(sizeof(T) * std::size_t(shape.numel()));
  StorageNode* node = tape.new_node(data, shape.numel(), dtype_of<T>, requires_grad);
  node->is_result = true;
  return Var<T, S, D>(node, shape);
}

}  // namespace ranklens
