// LearnedPositions<MaxPositions, Dim>: GPT-2's absolute position table (wpe), one learned row
// per position. Looking up a run of consecutive positions is a slice of the table: a view, so
// it copies nothing and its gradient lands in the table's rows directly.
#pragma once
#include <string>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/initialization.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

template <index_t MaxPositions, index_t Dim, Real T = float>
class LearnedPositions {
  static_assert(MaxPositions > 0 && Dim > 0, "LearnedPositions<MaxPositions, Dim>: both sizes must be positive compile-time constants.");

 public:
  using weight_shape = Shape<MaxPositions, Dim>;
  static constexpr index_t max_positions = MaxPositions;

  template <class Generator>
  explicit LearnedPositions(Generator& rng, double init_std = default_init_std)
      : weight(normal_tensor<T>(weight_shape{}, init_std, rng), "weight") {}

  // Rows position_offset, ..., position_offset + count − 1: a (count, Dim) view of the table.
  // Throws value_error past MaxPositions: a learned table has nothing to say there.
  Var<T, Shape<dyn, Dim>, cpu_t> operator()(index_t count, index_t position_offset = 0) const {
    if (count < 0 || position_offset < 0 || position_offset + count > MaxPositions)
      throw value_error("LearnedPositions: positions [" + std::to_string(position_offset) + ", " +
                        std::to_string(position_offset + count) + ") do not fit a table of " + std::to_string(MaxPositions) +
                        " positions (max_positions)");
    return slice<0>(weight.var(), position_offset, position_offset + count);
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape> weight;
};

}  // namespace ranklens
