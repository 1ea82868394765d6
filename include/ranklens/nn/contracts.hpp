// The contracts of the parts a transformer is built from, written down once, apart from the
// classes that fulfil them (as dlib's layers_abstract.h does for its layers), and checked as
// C++20 concepts. A part written to its contract can stand in for another: an adapted linear map
// for a Linear, a new norm for RMSNorm. Every part is also a Module (nn/module.hpp): it lists its
// parameters in visit_parameters, under their Hugging Face names. A part's device is its
// device_type (module_device_t, nn/module.hpp; cpu_t where it names none): the Vars below live
// there, Var<T, S> meaning Var<T, S, D>.
//
// ---------------------------------------------------------------------------------------------
// AffineLayer<L>: y = x·Mᵀ + b over the last axis, for an (Out, In) matrix M.
//
//   L::value_type               T, float or double
//   L::in_features              In, static or dyn
//   L::out_features             Out, static or dyn
//   layer.input_width(), layer.output_width()   In and Out at run time
//   L::weight_layout            how `weight` stores M:
//                                 WeightLayout::out_in  weight is (Out, In), weight = M:  y = x·Wᵀ + b
//                                                       (Linear; PyTorch's nn.Linear, HF's Qwen2)
//                                 WeightLayout::in_out  weight is (In, Out), weight = Mᵀ: y = x·W + b
//                                                       (Conv1D; HF's GPT-2)
//   layer.weight                Parameter<T, Shape<Out, In>> or Parameter<T, Shape<In, Out>>, as weight_layout says
//   layer.bias                  Parameter<T, Shape<Out>>, or a std::optional of one for a layer
//                               that may have none
//   layer(x)                    x: Var<T, Shape<dyn, dyn, In>> → Var<T, Shape<dyn, dyn, Out>>; any
//                               other leading extents pass through as well. A static last extent
//                               other than In does not compile, a dynamic one throws shape_error
//                               (nn/input_width.hpp).
//
//   affine_weight(layer)        M as a TensorView<T, Shape<Out, In>> whatever the layout (strided
//                               for in_out), so that code editing the map, such as a LoRA merge
//                               W += s·B·A, is written once for both layouts
//   affine_bias(layer)          a pointer to the bias parameter, or nullptr
//
// ---------------------------------------------------------------------------------------------
// Norm<N>: a map over the last axis of width N::width that keeps the shape.
//
//   N::value_type, N::width     T and the width, static
//   N(width, eps)               a fresh norm of that width (eps is ignored by norms without one)
//   norm(x)                     Var<T, S> → Var<T, S> for any S whose last extent is the width
//                               (checked with S = Shape<dyn, dyn, width>)
//
// LayerNorm, RMSNorm and NoNorm (the identity of norm_kind::none) fulfil it.
//
// ---------------------------------------------------------------------------------------------
// CausalSelfAttention<A, C, T>: causal self-attention for configuration C over the residual
// stream, residual = activation_types<C, T>::residual = Var<T, Shape<dyn, dyn, d_model>>.
//
//   A(generator, dims)          draws its weights from a uniform random bit generator
//                               (core/distributions.hpp; checked with Rng), its sizes from the
//                               model's transformer_dims (nn/transformer_config.hpp)
//   attention(x, offset)        x: residual → residual; x's first token sits at position `offset`
//   attention(x, cache)         x: residual → residual; x's tokens continue the sequence whose
//                               keys and values cache (a KvCacheLayer<C, T>) holds; their keys and
//                               values are appended to it and they attend to every cached position
//
// Both call forms give the rows a forward over the whole sequence would. GroupedQueryAttention
// (Qwen2) and FusedQkvAttention (GPT-2) fulfil it, and list TransformerLens's hook points
// (hook_q, hook_k, hook_v, hook_attn_scores, hook_pattern, hook_z).
//
// ---------------------------------------------------------------------------------------------
// Mlp<M, T, Width>: a position-wise map of the residual stream.
//
//   M(generator, dims)          draws its weights (checked with Rng); sizes from dims
//   mlp(x)                      Var<T, Shape<dyn, dyn, Width>> → the same type
//
// SwiGluMlp (Qwen2) and GeluMlp (GPT-2) fulfil it.
#pragma once
#include <concepts>
#include <optional>
#include <type_traits>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/nn/activation_types.hpp"
#include "ranklens/nn/kv_cache.hpp"
#include "ranklens/nn/module.hpp"

namespace ranklens {

// How an affine layer stores its (Out, In) map (see AffineLayer above).
enum class WeightLayout { out_in, in_out };

namespace contract_detail {

template <class P, class T, class S, class D>
inline constexpr bool is_parameter_of = std::is_same_v<P, Parameter<T, S, D>>;
template <class P, class T, class S, class D>
inline constexpr bool is_parameter_of<std::optional<P>, T, S, D> = is_parameter_of<P, T, S, D>;

template <class L>
using affine_input = Var<typename L::value_type, Shape<dyn, dyn, L::in_features>, module_device_t<L>>;
template <class L>
using affine_output = Var<typename L::value_type, Shape<dyn, dyn, L::out_features>, module_device_t<L>>;
template <class L>
using stored_weight_shape =
    std::conditional_t<L::weight_layout == WeightLayout::out_in, Shape<L::out_features, L::in_features>, Shape<L::in_features, L::out_features>>;

}  // namespace contract_detail

template <class L>
concept AffineLayer =
    Module<L> && Real<typename L::value_type> && requires {
      { L::in_features } -> std::convertible_to<index_t>;
      { L::out_features } -> std::convertible_to<index_t>;
      { L::weight_layout } -> std::convertible_to<WeightLayout>;
    } && requires(const L& layer) {
      { layer.input_width() } -> std::convertible_to<index_t>;
      { layer.output_width() } -> std::convertible_to<index_t>;
    } && contract_detail::is_parameter_of<decltype(L::weight), typename L::value_type, contract_detail::stored_weight_shape<L>, module_device_t<L>> &&
    contract_detail::is_parameter_of<decltype(L::bias), typename L::value_type, Shape<L::out_features>, module_device_t<L>> &&
    requires(const L& layer, const contract_detail::affine_input<L>& x) {
      { layer(x) } -> std::same_as<contract_detail::affine_output<L>>;
    };

// The layer's map as an (Out, In) matrix: its weight, or a transposed view of it.
template <AffineLayer L>
auto affine_weight(L& layer) {
  using T = std::conditional_t<std::is_const_v<L>, const typename L::value_type, typename L::value_type>;
  using matrix = Shape<L::out_features, L::in_features>;
  const index_t in = layer.input_width(), out = layer.output_width();
  const auto shape = matrix::from_dims(std::array<index_t, 2>{out, in}, "affine_weight");
  T* data = layer.weight.value().data();
  using D = module_device_t<std::remove_const_t<L>>;
  if constexpr (L::weight_layout == WeightLayout::out_in)
    return TensorView<T, matrix, D>(data, shape);
  else
    return TensorView<T, matrix, D>(data, shape, {1, out});
}

// The layer's bias parameter, or nullptr when it has none.
template <AffineLayer L>
auto affine_bias(L& layer) {
  if constexpr (detail::is_optional<std::remove_cvref_t<decltype(layer.bias)>>::value)
    return layer.bias ? &*layer.bias : nullptr;
  else
    return &layer.bias;
}

template <class N>
concept Norm = Module<N> && Real<typename N::value_type> && requires {
  { N::width } -> std::convertible_to<index_t>;
} && std::constructible_from<N, index_t, double> &&
                 requires(const N& norm, const Var<typename N::value_type, Shape<dyn, dyn, N::width>, module_device_t<N>>& x) {
                   { norm(x) } -> std::same_as<Var<typename N::value_type, Shape<dyn, dyn, N::width>, module_device_t<N>>>;
                 };

template <class A, class C, class T>
concept CausalSelfAttention =
    TransformerConfig<C> && Module<A> && std::constructible_from<A, Rng&, const transformer_dims&> &&
    requires(const A& attention, const typename activation_types<C, T, module_device_t<A>>::residual& x, index_t offset,
             const KvCacheLayer<C, T, module_device_t<A>>& cache) {
      { attention(x, offset) } -> std::same_as<typename activation_types<C, T, module_device_t<A>>::residual>;
      { attention(x, cache) } -> std::same_as<typename activation_types<C, T, module_device_t<A>>::residual>;
    };

template <class M, class T, index_t Width>
concept Mlp = Module<M> && std::constructible_from<M, Rng&, const transformer_dims&> &&
              requires(const M& mlp, const Var<T, Shape<dyn, dyn, Width>, module_device_t<M>>& x) {
                { mlp(x) } -> std::same_as<Var<T, Shape<dyn, dyn, Width>, module_device_t<M>>>;
              };

}  // namespace ranklens
