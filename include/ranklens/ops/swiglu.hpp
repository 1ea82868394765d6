// swiglu(gate, up) = silu(gate) ⊙ up, the gate of Qwen2's (and Llama's) MLP, as one op with
// broadcasting. The same values and gradients as silu(gate) * up, in one pass each way
// (cpu::swiglu_op) where the two ops took two, and without the silu(gate) tensor in between.
#pragma once
#include "ranklens/ops/arithmetic.hpp"

namespace ranklens {

template <class T, ShapeType SA, ShapeType SB, Device D>
auto swiglu(const Var<T, SA, D>& gate, const Var<T, SB, D>& up) {
  return binary_op<cpu::swiglu_op>("swiglu", gate, up);
}

}  // namespace ranklens
