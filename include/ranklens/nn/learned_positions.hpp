// LearnedPositions<MaxPositions, Dim>: GPT-2's absolute position table (wpe), one learned row
// per position. Looking up a run of consecutive positions is a slice of the table: a view, so
// it copies nothing and its gradient lands in the table's rows directly.
#pragma once
#include <array>
#include <string>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/initialization.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

template <index_t MaxPositions, index_t Dim, Real T = float, Device D = cpu_t>
class LearnedPositions {
  static_assert((MaxPositions > 0 || MaxPositions == dyn) && (Dim > 0 || Dim == dyn),
                "LearnedPositions<MaxPositions, Dim>: both sizes must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  using weight_shape = Shape<MaxPositions, Dim>;
  static constexpr index_t max_positions = MaxPositions;

  template <class Generator>
    requires(MaxPositions != dyn && Dim != dyn)
  explicit LearnedPositions(Generator& rng, double init_std = default_init_std) : LearnedPositions(rng, MaxPositions, Dim, init_std) {}

  // The same with the sizes given at run time (each must equal its static one, if any).
  template <class Generator>
  LearnedPositions(Generator& rng, index_t positions, index_t dim, double init_std = default_init_std)
      : weight(on_device<D>(normal_tensor<T>(
                   weight_shape::from_dims(std::array<index_t, 2>{module_size(MaxPositions, positions, "LearnedPositions", "max_positions"),
                                                                  module_size(Dim, dim, "LearnedPositions", "the width")},
                                           "LearnedPositions"),
                   init_std, rng)),
               "weight") {}

  index_t positions() const noexcept { return weight.shape()[0]; }

  // Rows position_offset, ..., position_offset + count − 1: a (count, Dim) view of the table.
  // Throws value_error past MaxPositions: a learned table has nothing to say there.
  Var<T, Shape<dyn, Dim>, D> operator()(index_t count, index_t position_offset = 0) const {
    if (count < 0 || position_offset < 0 || position_offset + count > positions())
      throw value_error("LearnedPositions: positions [" + std::to_string(position_offset) + ", " +
                        std::to_string(position_offset + count) + ") do not fit a table of " + std::to_string(positions()) +
                        " positions (max_positions)");
    return slice<0>(weight.var(), position_offset, position_offset + count);
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape, D> weight;
};

}  // namespace ranklens
