// Synthetic activations with a known sparse structure, for the sparse-autoencoder tests: every
// token is b + Σ c_j d_j over `active` directions drawn from a dictionary of unit vectors, with
// coefficients c_j in [0.5, 1.5]. A good autoencoder with k >= active recovers it almost exactly.
#pragma once
#include <cmath>
#include <vector>

#include "ranklens/core/tensor.hpp"
#include "ranklens/data/random.hpp"

namespace sae_test {

using namespace ranklens;

template <index_t Width, class T = float>
struct SparseSource {
  index_t atoms = 0, active = 0;
  std::vector<double> dictionary;  // (atoms, Width), unit rows
  std::vector<double> offset;      // (Width)

  SparseSource(index_t atoms, index_t active, std::uint64_t seed) : atoms(atoms), active(active), dictionary(std::size_t(atoms * Width)), offset(Width) {
    Rng gen(seed);
    for (index_t a = 0; a < atoms; ++a) {
      double norm = 0;
      for (index_t i = 0; i < Width; ++i) norm += std::pow(dictionary[std::size_t(a * Width + i)] = standard_normal(gen), 2);
      for (index_t i = 0; i < Width; ++i) dictionary[std::size_t(a * Width + i)] /= std::sqrt(norm);
    }
    for (double& v : offset) v = 0.5 * standard_normal(gen);
  }

  // `rows` tokens from stream `stream` (the same stream gives the same tokens).
  Tensor<T, Shape<dyn, Width>> sample(index_t rows, std::uint64_t stream) const {
    Tensor<T, Shape<dyn, Width>> x(Shape<dyn, Width>{rows});
    Rng gen = Rng::for_stream(1234, stream);
    std::vector<double> token(Width);
    for (index_t r = 0; r < rows; ++r) {
      token = offset;
      for (index_t a = 0; a < active; ++a) {
        const index_t atom = index_t(uniform_below(gen, std::uint64_t(atoms)));
        const double c = 0.5 + unit_uniform(gen);
        for (index_t i = 0; i < Width; ++i) token[std::size_t(i)] += c * dictionary[std::size_t(atom * Width + i)];
      }
      for (index_t i = 0; i < Width; ++i) x(r, i) = T(token[std::size_t(i)]);
    }
    return x;
  }
};

}  // namespace sae_test
