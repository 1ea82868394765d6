// AdapterSlot<In, Out, T>: the place in an affine layer (Linear, Conv1D) where an adapter can
// attach, as PEFT wraps a layer in place: once attached, the layer returns
//
//   adapter.adapt(x, layer's own output)
//
// instead of its own output. The slot holds a pointer and no ownership: the adapter lives
// elsewhere (adapt/), outlives its attachment, and detaches before it goes. An empty slot costs
// one branch. The adapter sees the input and output as (rows, In) and (rows, Out), whatever
// leading axes the layer was called with.
#pragma once
#include <array>
#include <utility>

#include "ranklens/autograd/var.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

// What an adapter provides. `base` is the frozen layer's fresh output: the adapter may take
// over its storage (ops/low_rank_update.hpp does).
template <index_t In, index_t Out, Real T>
class AffineAdapter {
 public:
  virtual ~AffineAdapter() = default;
  // x: (rows, In), base: (rows, Out) → (rows, Out).
  virtual Var<T, Shape<dyn, Out>> adapt(const Var<T, Shape<dyn, In>>& x, const Var<T, Shape<dyn, Out>>& base) const = 0;
};

template <index_t In, index_t Out, Real T>
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
  Var<T, SY> operator()(const Var<T, SX>& x, const Var<T, SY>& base) const {
    if (adapter_ == nullptr) [[likely]]
      return base;
    const index_t in = x.shape().dims[SX::rank - 1], out = base.shape().dims[SY::rank - 1];
    const index_t rows = out == 0 ? 0 : base.numel() / out;
    const auto adapted = adapter_->adapt(reshape(x, Shape<dyn, In>::from_dims(std::array<index_t, 2>{rows, in}, "AdapterSlot")),
                                         reshape(base, Shape<dyn, Out>::from_dims(std::array<index_t, 2>{rows, out}, "AdapterSlot")));
    return reshape(adapted, base.shape());
  }

  void attach(const AffineAdapter<In, Out, T>& adapter) {
    if (adapter_ != nullptr && adapter_ != &adapter)
      throw value_error("AdapterSlot: this layer already has an adapter; detach it first");
    adapter_ = &adapter;
  }
  void detach() noexcept { adapter_ = nullptr; }
  bool attached() const noexcept { return adapter_ != nullptr; }
  const AffineAdapter<In, Out, T>* adapter() const noexcept { return adapter_; }

 private:
  const AffineAdapter<In, Out, T>* adapter_ = nullptr;
};

}  // namespace ranklens
