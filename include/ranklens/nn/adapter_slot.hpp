// AdapterSlot<In, Out, T, D>: the place in an affine layer (Linear, Conv1D) where an adapter can
// attach, as PEFT wraps a layer in place: once attached, the layer returns
//
//   adapter.adapt(x, layer's own output)
//
// instead of its own output. The slot holds a pointer and no ownership: the adapter lives
// elsewhere (adapt/), outlives its attachment, and detaches before it goes. An empty slot costs
// one branch. The adapter sees the input and output as (rows, In) and (rows, Out), whatever
// leading axes the layer was called with. A layer first offers the adapter its operands
// (product), so that a LoRA adapter can add itself inside the layer's own product.
#pragma once
#include <array>
#include <optional>
#include <utility>

#include "ranklens/autograd/var.hpp"
#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

// What an adapter provides. `base` is the frozen layer's fresh output: the adapter may take
// over its storage (ops/low_rank_update.hpp does).
template <index_t In, index_t Out, Real T, Device D = cpu_t>
class AffineAdapter {
 public:
  virtual ~AffineAdapter() = default;
  // x: (rows, In), base: (rows, Out) → (rows, Out).
  virtual Var<T, Shape<dyn, Out>, D> adapt(const Var<T, Shape<dyn, In>, D>& x, const Var<T, Shape<dyn, Out>, D>& base) const = 0;
  // The adapted output computed from the layer's own operands, y = x·w (+ bias) adapted, for an
  // adapter that adds itself as the product is stored (ops/low_rank_affine.hpp); nullopt where
  // it cannot, and the layer then computes its output and calls adapt. w: (In, Out), any layout.
  virtual std::optional<Var<T, Shape<dyn, Out>, D>> adapt_product(const Var<T, Shape<dyn, In>, D>& /*x*/, const Var<T, Shape<In, Out>, D>& /*w*/,
                                                                  const std::optional<Var<T, Shape<Out>, D>>& /*bias*/) const {
    return std::nullopt;
  }
};

template <index_t In, index_t Out, Real T, Device D = cpu_t>
class AdapterSlot {
 public:
  AdapterSlot() = default;
  // A copy of a layer starts without the adapter: two layers must not share one silently.
  AdapterSlot(const AdapterSlot&) noexcept {}
  AdapterSlot& operator=(const AdapterSlot&) noexcept { return *this; }
  AdapterSlot(AdapterSlot&& other) noexcept : adapter_(std::exchange(other.adapter_, nullptr)) {}
  AdapterSlot& operator=(AdapterSlot&& other) noexcept {
    adapter_ = std::exchange(other.adapter_, nullptr);
    return *this;
  }

  // The layer's output, adapted if an adapter is attached. x: (..., In), base: (..., Out).
  template <ShapeType SX, ShapeType SY>
  Var<T, SY, D> operator()(const Var<T, SX, D>& x, const Var<T, SY, D>& base) const {
    if (adapter_ == nullptr) [[likely]]
      return base;
    const index_t out = base.shape().dims[SY::rank - 1];
    const index_t rows = out == 0 ? 0 : base.numel() / out;
    const auto adapted =
        adapter_->adapt(as_rows(x, rows), reshape(base, Shape<dyn, Out>::from_dims(std::array<index_t, 2>{rows, out}, "AdapterSlot")));
    return reshape(adapted, base.shape());
  }

  // x·w (+ bias) adapted in one op when the attached adapter can do so (AffineAdapter::
  // adapt_product), else nullopt: then the layer computes x·w (+ bias) and calls operator().
  // x: (..., In), w: (In, Out).
  template <ShapeType SX>
  std::optional<Var<T, matmul_shape_t<SX, Shape<In, Out>>, D>> product(const Var<T, SX, D>& x, const Var<T, Shape<In, Out>, D>& w,
                                                                       const std::optional<Var<T, Shape<Out>, D>>& bias) const {
    using SY = matmul_shape_t<SX, Shape<In, Out>>;
    if (adapter_ == nullptr) [[likely]]
      return std::nullopt;
    const index_t in = x.shape().dims[SX::rank - 1];
    const auto adapted = adapter_->adapt_product(as_rows(x, in == 0 ? 0 : x.numel() / in), w, bias);
    if (!adapted) return std::nullopt;
    std::array<index_t, SX::rank> dims{};
    for (std::size_t i = 0; i < SX::rank; ++i) dims[i] = x.shape().dims[i];
    dims[SX::rank - 1] = w.extent(1);
    return reshape(*adapted, SY::from_dims(dims, "AdapterSlot"));
  }

  void attach(const AffineAdapter<In, Out, T, D>& adapter) {
    if (adapter_ != nullptr && adapter_ != &adapter)
      throw value_error("AdapterSlot: this layer already has an adapter; detach it first");
    adapter_ = &adapter;
  }
  void detach() noexcept { adapter_ = nullptr; }
  bool attached() const noexcept { return adapter_ != nullptr; }
  const AffineAdapter<In, Out, T, D>* adapter() const noexcept { return adapter_; }

 private:
  // x (..., In) as the (rows, In) matrix an adapter sees.
  template <ShapeType SX>
  static Var<T, Shape<dyn, In>, D> as_rows(const Var<T, SX, D>& x, index_t rows) {
    return reshape(x, Shape<dyn, In>::from_dims(std::array<index_t, 2>{rows, x.shape().dims[SX::rank - 1]}, "AdapterSlot"));
  }

  const AffineAdapter<In, Out, T, D>* adapter_ = nullptr;
};

}  // namespace ranklens
