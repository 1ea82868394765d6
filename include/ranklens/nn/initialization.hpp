// How modules start, following Hugging Face's _init_weights for GPT-2 and Qwen2: weight
// matrices and embedding tables ~ N(0, std²) with std = initializer_range (0.02), biases 0,
// norm weights 1, norm biases 0. Every random draw comes from the generator the caller passes
// in, in the order the modules are declared, so one seed gives bit-identical weights (for one
// standard library: std::normal_distribution's algorithm is the implementation's).
// (HF's GPT-2 additionally scales c_proj weights by 1/√(2·n_layer); ranklens does not.)
#pragma once
#include <random>

#include "ranklens/core/tensor.hpp"

namespace ranklens {

// The initializer_range of HF's GPT-2 and Qwen2 configurations.
inline constexpr double default_init_std = 0.02;

// A tensor with entries drawn from N(0, std²).
template <class T, ShapeType S, class Generator>
Tensor<T, S> normal_tensor(const S& shape, double std, Generator& rng) {
  Tensor<T, S> t(shape);
  std::normal_distribution<T> dist(T(0), T(std));
  for (auto& v : t.span()) v = dist(rng);
  return t;
}

}  // namespace ranklens
