// Linear<In, Out>: y = x·Wᵀ + b over the last axis, with W stored (Out, In) as PyTorch and
// Hugging Face store it, so checkpoints exchange without transposes. Any leading (batch,
// sequence) extents pass through. A width may be dyn: Linear<dyn, dyn>(rng, 64, 32) takes it at
// construction and checks its input when it runs; a static width is checked at compile time.
// Linear<In, Out, T, cuda_t> keeps its parameters on the GPU (drawn on the host, then copied).
#pragma once
#include <array>
#include <cmath>
#include <optional>
#include <vector>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/adapter_slot.hpp"
#include "ranklens/nn/contracts.hpp"
#include "ranklens/nn/initialization.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/matmul_bias.hpp"

namespace ranklens {

struct LinearOptions {
  bool bias = true;
  // When set: weight ~ N(0, init_std²) and bias 0, as HF initialises transformer layers.
  // Otherwise PyTorch's nn.Linear default (below).
  std::optional<double> init_std{};
};

template <index_t In, index_t Out, Real T = float, Device D = cpu_t>
class Linear {
  static_assert((In > 0 || In == dyn) && (Out > 0 || Out == dyn), "Linear<In, Out>: both widths must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  using weight_shape = Shape<Out, In>;
  using bias_shape = Shape<Out>;
  static constexpr index_t in_features = In;
  static constexpr index_t out_features = Out;
  static constexpr WeightLayout weight_layout = WeightLayout::out_in;  // an AffineLayer (nn/contracts.hpp)

  // PyTorch's default initialisation: U(−1/√In, 1/√In) for weight and bias; or, with
  // options.init_std, N(0, init_std²) weights and zero bias.
  template <class Generator>
    requires(In != dyn && Out != dyn)
  explicit Linear(Generator& rng, LinearOptions options = {}) : Linear(rng, In, Out, options) {}

  // The same with the widths given at run time (each must equal its static one, if any).
  template <class Generator>
  Linear(Generator& rng, index_t in, index_t out, LinearOptions options = {}) {
    in = module_size(In, in, "Linear", "the input width");
    out = module_size(Out, out, "Linear", "the output width");
    const auto weight_dims = weight_shape::from_dims(std::array<index_t, 2>{out, in}, "Linear");
    const auto bias_dims = bias_shape::from_dims(std::array<index_t, 1>{out}, "Linear");
    if (options.init_std) {
      weight = Parameter<T, weight_shape, D>(on_device<D>(normal_tensor<T>(weight_dims, *options.init_std, rng)), "weight");
      if (options.bias) bias.emplace(Tensor<T, bias_shape, D>::zeros(bias_dims), "bias");
      return;
    }
    const T bound = T(1) / std::sqrt(T(in));
    weight = Parameter<T, weight_shape, D>(on_device<D>(uniform_tensor<T>(weight_dims, -bound, bound, rng)), "weight");
    if (options.bias) bias.emplace(on_device<D>(uniform_tensor<T>(bias_dims, -bound, bound, rng)), "bias");
  }

  index_t input_width() const noexcept { return weight.shape()[1]; }
  index_t output_width() const noexcept { return weight.shape()[0]; }

  template <ShapeType S>
  auto operator()(const Var<T, S, D>& x) const {
    static_assert(S::rank >= 2, "Linear: the input needs at least a batch axis and a feature axis.");
    static_assert(last_extent_may_be<S, In>, "Linear<In, Out>: the input's last extent must equal In.");
    if constexpr (last_extent_may_be<S, In>) {  // else: stop here, one message is enough
      require_last_extent_is(x, input_width(), "Linear", In, Out);
      return forward(x);
    }
  }

 private:
  template <ShapeType S>
  auto forward(const Var<T, S, D>& x) const {
    auto w = weight.var();
    const index_t in = input_width(), out = output_width();
    using transposed = Shape<In, Out>;
    auto wt = w.template with_layout<transposed>(0, transposed::from_dims(std::array<index_t, 2>{in, out}), {1, in});  // Wᵀ as a view
    if (adapter.attached())
      if (auto adapted = adapter.product(x, wt, bias ? std::optional(bias->var()) : std::nullopt)) return *adapted;
    if (bias) return adapter(x, matmul_bias(x, wt, bias->var()));  // bias filled in, then the GEMM adds onto it
    return adapter(x, matmul(x, wt));
  }

 public:
  // weight, then bias (if any), as PyTorch's named_parameters lists them.
  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
    visit("bias", self.bias);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape, D> weight;
  std::optional<Parameter<T, bias_shape, D>> bias;
  AdapterSlot<In, Out, T, D> adapter;  // empty unless a LoRA adapter is attached (adapt/)
};

}  // namespace ranklens
