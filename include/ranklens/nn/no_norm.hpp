// NoNorm<Dim>: the identity, standing where a configuration with norm_kind::none would have a
// norm. It has no parameters, so a norm-free model lists none and saves none. Edelman et al.'s
// in-context Markov-chain transformers have no normalisation; with LayerNorm the same model
// learns the task without the long unigram-level plateau they study.
#pragma once
#include <vector>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"

namespace ranklens {

template <index_t Dim, Real T = float, Device D = cpu_t>
class NoNorm {
  static_assert(Dim > 0 || Dim == dyn, "NoNorm<Dim>: the width must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  static constexpr index_t width = Dim;  // a Norm (nn/contracts.hpp)

  explicit NoNorm(double /*eps, unused*/ = 0)
    requires(Dim != dyn)
      : width_(Dim) {}
  NoNorm(index_t width, double /*eps, unused*/) : width_(module_size(Dim, width, "NoNorm", "the width")) {}

  template <ShapeType S>
  Var<T, S, D> operator()(const Var<T, S, D>& x) const {
    static_assert(last_extent_may_be<S, Dim>, "NoNorm<Dim>: the input's last extent must equal Dim.");
    if constexpr (last_extent_may_be<S, Dim>) require_last_extent_is(x, width_, "NoNorm", Dim);
    return x;
  }

  template <class Self, class Visit>
  static void visit_parameters(Self&, Visit&&) {}
  std::vector<ParameterRef> parameters() { return {}; }

 private:
  index_t width_;
};

}  // namespace ranklens
