// Embedding<Vocab, Dim>: a learned (Vocab, Dim) table whose row `id` represents token `id`
// (torch.nn.Embedding; HF's embed_tokens and GPT-2's wte). Its weight doubles as the output
// projection when a model ties its embeddings.
#pragma once
#include <array>
#include <cstdint>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/initialization.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/embedding.hpp"

namespace ranklens {

template <index_t Vocab, index_t Dim, Real T = float, Device D = cpu_t>
class Embedding {
  static_assert((Vocab > 0 || Vocab == dyn) && (Dim > 0 || Dim == dyn), "Embedding<Vocab, Dim>: both sizes must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  using weight_shape = Shape<Vocab, Dim>;
  static constexpr index_t vocabulary = Vocab;
  static constexpr index_t width = Dim;

  // weight ~ N(0, init_std²), as HF initialises embeddings.
  template <class Generator>
    requires(Vocab != dyn && Dim != dyn)
  explicit Embedding(Generator& rng, double init_std = default_init_std) : Embedding(rng, Vocab, Dim, init_std) {}

  // The same with the sizes given at run time (each must equal its static one, if any).
  template <class Generator>
  Embedding(Generator& rng, index_t vocabulary_size, index_t dim, double init_std = default_init_std)
      : weight(on_device<D>(normal_tensor<T>(
                   weight_shape::from_dims(std::array<index_t, 2>{module_size(Vocab, vocabulary_size, "Embedding", "the vocabulary"),
                                                                  module_size(Dim, dim, "Embedding", "the width")},
                                           "Embedding"),
                   init_std, rng)),
               "weight") {}

  // ids of any shape (int32, each in [0, Vocab)) → (ids..., Dim). The ids are host memory on
  // every device: the op checks them there, then copies them to D.
  template <class I, index_t... E>
    requires std::same_as<std::remove_const_t<I>, std::int32_t>
  auto operator()(TensorView<I, Shape<E...>, cpu_t> ids) const {
    return embedding(weight.var(), ids);
  }
  template <ShapeType S>
  auto operator()(const Tensor<std::int32_t, S, cpu_t>& ids) const {
    return embedding(weight.var(), ids.view());
  }
  // ids already in D's memory (D not the CPU; contiguous): what a step captured into a CUDA graph
  // reads (ops/embedding.hpp).
  template <class I, index_t... E>
    requires(std::same_as<std::remove_const_t<I>, std::int32_t> && !std::same_as<D, cpu_t>)
  auto operator()(TensorView<I, Shape<E...>, D> ids) const {
    return embedding(weight.var(), ids);
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape, D> weight;
};

}  // namespace ranklens
