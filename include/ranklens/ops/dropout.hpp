// Inverted dropout (Srivastava et al., JMLR 2014): in training each element is zeroed with
// probability p and the survivors are scaled by 1/(1−p), so evaluation needs no rescaling.
// The keep/drop mask is saved in the tape arena and backward applies the very same mask.
//
// The random bits come from the counter-based generator of core/counter_generator.hpp, and the
// loops are cpu/dropout.hpp's.
#pragma once
#include <cstdint>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/dropout.hpp"
#include "ranklens/core/counter_generator.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

// x with each element zeroed with probability p and the rest scaled by 1/(1−p). Returns x
// itself (no copy, no key taken from the generator) when !training or p == 0; p == 1 gives
// zeros. Throws value_error unless 0 <= p <= 1.
template <class T, ShapeType S, Device D>
Var<T, S, D> dropout(const Var<T, S, D>& x, double p, CounterGenerator& generator, bool training = true) {
  if (!(p >= 0.0 && p <= 1.0))
    throw value_error("dropout: p must be in [0, 1], got " + std::to_string(p) + " (input shape " +
                      to_string(x.shape()) + ")");
  if (!training || p == 0.0) return x;

  const CounterKey key = backend::dropout_key(D{}, generator);
  const T scale = p < 1.0 ? T(1.0 / (1.0 - p)) : T(0);
  // Element i of the row-major order keys its random bits, whatever x's strides.
  const auto xc = contiguous(x);
  auto out = new_var<T, S, D>(xc.shape(), any_requires_grad(xc));
  // One byte per element, kept only if backward will need it.
  std::uint8_t* keep = out.requires_grad()
                           ? Tape::current().arena<D>().template allocate_array<std::uint8_t>(std::size_t(xc.numel()))
                           : nullptr;
  backend::dropout_forward(D{}, xc.value().data(), out.mutable_data(), keep, xc.numel(), key, p, scale);

  record(
      "dropout", out,
      [keep, scale](const auto& result, const auto& input) {
        const auto gx = input.grad_sink();
        backend::dropout_backward(D{}, keep, result.grad().data(), gx.data(), input.numel(), scale, gx.mode);
      },
      xc);
  return out;
}

}  // namespace ranklens
