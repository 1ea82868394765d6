// Linear<In, Out>: y = x·Wᵀ + b over the last axis, with W stored (Out, In) as PyTorch and
// Hugging Face store it, so checkpoints exchange without transposes. The widths are static;
// any leading (batch, sequence) extents pass through.
#pragma once
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

template <index_t In, index_t Out, Real T = float>
class Linear {
  static_assert(In > 0 && Out > 0, "Linear<In, Out>: both widths must be positive compile-time constants.");

 public:
  using value_type = T;
  using weight_shape = Shape<Out, In>;
  using bias_shape = Shape<Out>;
  static constexpr index_t in_features = In;
  static constexpr index_t out_features = Out;
  static constexpr WeightLayout weight_layout = WeightLayout::out_in;  // an AffineLayer (nn/contracts.hpp)

  // PyTorch's default initialisation: U(−1/√In, 1/√In) for weight and bias; or, with
  // options.init_std, N(0, init_std²) weights and zero bias.
  template <class Generator>
  explicit Linear(Generator& rng, LinearOptions options = {}) {
    if (options.init_std) {
      weight = Parameter<T, weight_shape>(normal_tensor<T>(weight_shape{}, *options.init_std, rng), "weight");
      if (options.bias) bias.emplace(Tensor<T, bias_shape>::zeros(bias_shape{}), "bias");
      return;
    }
    const T bound = T(1) / std::sqrt(T(In));
    weight = Parameter<T, weight_shape>(uniform_tensor<T>(weight_shape{}, -bound, bound, rng), "weight");
    if (options.bias) bias.emplace(uniform_tensor<T>(bias_shape{}, -bound, bound, rng), "bias");
  }

  template <ShapeType S>
  auto operator()(const Var<T, S, cpu_t>& x) const {
    static_assert(S::rank >= 2, "Linear: the input needs at least a batch axis and a feature axis.");
    static_assert(last_extent_may_be<S, In>, "Linear<In, Out>: the input's last extent must equal In.");
    if constexpr (last_extent_may_be<S, In>) {  // else: stop here, one message is enough
      require_last_extent<In>(x, "Linear", In, Out);
      return forward(x);
    }
  }

 private:
  template <ShapeType S>
  auto forward(const Var<T, S, cpu_t>& x) const {
    auto w = weight.var();
    auto wt = w.template with_layout<Shape<In, Out>>(0, Shape<In, Out>{}, {1, In});  // Wᵀ as a view
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

  Parameter<T, weight_shape> weight;
  std::optional<Parameter<T, bias_shape>> bias;
  AdapterSlot<In, Out, T> adapter;  // empty unless a LoRA adapter is attached (adapt/)
};

}  // namespace ranklens
