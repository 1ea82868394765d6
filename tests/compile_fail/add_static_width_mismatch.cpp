// Adding a (batch, 64) tensor to a (batch, 32) tensor: static widths that cannot broadcast.
// expect: the two tensors have static widths that differ and cannot be broadcast together
#include "ranklens/ops/arithmetic.hpp"

using namespace ranklens;

int main() {
  auto step = tape();
  Tensor<float, Shape<dyn, 64>> a(Shape<dyn, 64>{2}, 0.0f);
  Tensor<float, Shape<dyn, 32>> b(Shape<dyn, 32>{2}, 0.0f);
  auto c = constant(a) + constant(b);
  (void)c;
}
