// Tensor<T, S, D>: owning, contiguous, 64-byte aligned storage with a typed shape. Parameters,
// optimizer state, datasets and results live in Tensors; per-step intermediates live in the
// autograd arena instead (ranklens/autograd/tape.hpp).
#pragma once
#include <algorithm>
#include <initializer_list>
#include <string>
#include <span>
#include <utility>

#include "ranklens/core/tensor_view.hpp"

namespace ranklens {

template <class T, ShapeType S, Device D = cpu_t>
class Tensor {
  static_assert(!std::is_const_v<T> && !std::is_reference_v<T>, "Tensor element type must be a plain object type.");

 public:
  using value_type = T;
  using shape_type = S;
  using device_type = D;
  static constexpr std::size_t rank = S::rank;

  Tensor() = default;
  // Uninitialised storage of the given shape (use zeros()/filled() when contents matter).
  explicit Tensor(const S& shape) : shape_(shape), data_(allocate(shape.numel())) {}
  Tensor(const S& shape, T value)
    requires std::same_as<D, cpu_t>
      : Tensor(shape) {
    std::fill_n(data_, numel(), value);
  }
  // A CPU tensor with the given values in row-major order.
  Tensor(const S& shape, std::initializer_list<T> values)
    requires std::same_as<D, cpu_t>
      : Tensor(shape) {
    if (index_t(values.size()) != numel())
      throw shape_error("Tensor: shape " + to_string(shape) + " needs " + std::to_string(numel()) + " values, got " +
                        std::to_string(values.size()));
    std::copy(values.begin(), values.end(), data_);
  }

  static Tensor zeros(const S& shape) {
    Tensor t(shape);
    device_memory<D>::zero(t.data_, t.bytes());
    return t;
  }

  Tensor(const Tensor& other) : Tensor(other.shape_) { device_memory<D>::copy(data_, other.data_, bytes()); }
  Tensor(Tensor&& other) noexcept
      : shape_(other.shape_), data_(std::exchange(other.data_, nullptr)) {}
  // Assigning a tensor of the same shape copies into the existing storage, so views of this
  // tensor and parameter references (optimizers hold raw pointers) stay valid.
  Tensor& operator=(const Tensor& other) {
    if (this == &other) return *this;
    if (shape_ == other.shape_ && data_) {
      device_memory<D>::copy(data_, other.data_, bytes());
      return *this;
    }
    Tensor copy(other);
    swap(copy);
    return *this;
  }
  Tensor& operator=(Tensor&& other) noexcept {
    if (this == &other) return *this;
    if (shape_ == other.shape_ && data_) {
      device_memory<D>::copy(data_, other.data_, bytes());
      return *this;
    }
    swap(other);
    return *this;
  }
  ~Tensor() { device_memory<D>::deallocate(data_); }

  void swap(Tensor& other) noexcept {
    std::swap(shape_, other.shape_);
    std::swap(data_, other.data_);
  }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  const S& shape() const noexcept { return shape_; }
  index_t extent(std::size_t i) const noexcept { return shape_.dims[i]; }
  index_t numel() const noexcept { return shape_.numel(); }
  std::size_t bytes() const noexcept { return sizeof(T) * std::size_t(numel()); }

  TensorView<T, S, D> view() noexcept { return {data_, shape_}; }
  TensorView<const T, S, D> view() const noexcept { return {data_, shape_}; }
  operator TensorView<T, S, D>() noexcept { return view(); }
  operator TensorView<const T, S, D>() const noexcept { return view(); }

  std::span<T> span() noexcept
    requires std::same_as<D, cpu_t>
  {
    return {data_, std::size_t(numel())};
  }
  std::span<const T> span() const noexcept
    requires std::same_as<D, cpu_t>
  {
    return {data_, std::size_t(numel())};
  }

  template <std::integral... I>
    requires(sizeof...(I) == S::rank && std::same_as<D, cpu_t>)
  T& operator()(I... idx) noexcept {
    return view()(idx...);
  }
  template <std::integral... I>
    requires(sizeof...(I) == S::rank && std::same_as<D, cpu_t>)
  const T& operator()(I... idx) const noexcept {
    return view()(idx...);
  }

 private:
  static T* allocate(index_t n) { return static_cast<T*>(device_memory<D>::allocate(sizeof(T) * std::size_t(n))); }

  S shape_{};
  T* data_ = nullptr;
};

// An owning contiguous copy of any CPU view.
template <class T, ShapeType S>
Tensor<std::remove_const_t<T>, S, cpu_t> to_tensor(TensorView<T, S, cpu_t> v) {
  Tensor<std::remove_const_t<T>, S, cpu_t> out(v.shape());
  gather_contiguous<std::remove_const_t<T>, S>(v, out.data());
  return out;
}

// A host tensor on device D: the tensor itself for cpu_t, a copy in device memory otherwise
// (modules draw their initial weights on the host, then place them). Waits for the copy.
template <Device D, class T, ShapeType S>
Tensor<T, S, D> on_device(Tensor<T, S, cpu_t> host) {
  if constexpr (std::same_as<D, cpu_t>) {
    return host;
  } else {
    Tensor<T, S, D> placed(host.shape());
    device_memory<D>::copy_from_host(placed.data(), host.data(), host.bytes());
    return placed;
  }
}

// target's elements = host's, in place (whoever holds target's memory sees the new values),
// whatever target's device. The shapes must be equal. Waits for the copy.
template <class T, ShapeType S, Device D>
void copy_from_host(Tensor<T, S, D>& target, const Tensor<T, S, cpu_t>& host) {
  if (target.shape() != host.shape())
    throw shape_error("copy_from_host: a host tensor of shape " + to_string(host.shape()) + " cannot fill one of shape " +
                      to_string(target.shape()));
  if constexpr (std::same_as<D, cpu_t>)
    std::copy_n(host.data(), host.numel(), target.data());
  else
    device_memory<D>::copy_from_host(target.data(), host.data(), host.bytes());
}

// A host copy of a view on device D: the CPU's gathered in row-major order (any strides),
// another device's copied, which must be contiguous (contiguous() of a Var makes it so). Waits
// for the copy.
template <class T, ShapeType S, Device D>
Tensor<std::remove_const_t<T>, S, cpu_t> to_host(TensorView<T, S, D> v) {
  if constexpr (std::same_as<D, cpu_t>) {
    return to_tensor(v);
  } else {
    if (!v.is_contiguous())
      throw value_error("to_host: the view " + to_string(v.shape()) + " on " + std::string(D::name) +
                        " is not contiguous (copy it with contiguous() first)");
    Tensor<std::remove_const_t<T>, S, cpu_t> host(v.shape());
    device_memory<D>::copy_to_host(host.data(), v.data(), host.bytes());
    return host;
  }
}

}  // namespace ranklens
