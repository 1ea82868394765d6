// How modules start, following Hugging Face's _init_weights for GPT-2 and Qwen2: weight
// matrices and embedding tables ~ N(0, std²) with std = initializer_range (0.02), biases 0,
// norm weights 1, norm biases 0; Linear without init_std as PyTorch's nn.Linear, U(±1/√In).
// Every random draw comes from the generator the caller passes in, in the order the modules
// are declared, through core/distributions.hpp, which uses only the engine's raw outputs: one
// seed gives the same weights with every compiler and standard library.
// (HF's GPT-2 additionally scales c_proj weights by 1/√(2·n_layer); ranklens does not.)
#pragma once
#include "ranklens/core/distributions.hpp"
#include "ranklens/core/tensor.hpp"

namespace ranklens {

// The initializer_range of HF's GPT-2 and Qwen2 configurations.
inline constexpr double default_init_std = 0.02;

// A tensor with entries drawn from N(0, std²), in row-major order.
template <class T, ShapeType S, class Generator>
Tensor<T, S> normal_tensor(const S& shape, double std, Generator& generator) {
  Tensor<T, S> t(shape);
  for (auto& v : t.span()) v = normal<T>(generator, 0.0, std);
  return t;
}

// A tensor with entries drawn from U[low, high), in row-major order.
template <class T, ShapeType S, class Generator>
Tensor<T, S> uniform_tensor(const S& shape, T low, T high, Generator& generator) {
  Tensor<T, S> t(shape);
  for (auto& v : t.span()) v = uniform<T>(generator, low, high);
  return t;
}

// In place of a generator, for a model that a load will overwrite (io::from_pretrained): every
// weight starts at zero and nothing is drawn. Building a Qwen2.5-0.5B-shaped model took 18.4 s
// drawing its 0.5 billion weights from std::mt19937 and 0.9 s with this (docs/files.md), where
// reading its weights file takes about 1 s.
//
//   skip_initialization none;
//   Transformer<Config> model(none);   // all zeros until loaded
struct skip_initialization {};

template <class T, ShapeType S>
Tensor<T, S> normal_tensor(const S& shape, double /*std*/, skip_initialization& /*none*/) {
  return Tensor<T, S>::zeros(shape);
}

template <class T, ShapeType S>
Tensor<T, S> uniform_tensor(const S& shape, T /*low*/, T /*high*/, skip_initialization& /*none*/) {
  return Tensor<T, S>::zeros(shape);
}

}  // namespace ranklens
