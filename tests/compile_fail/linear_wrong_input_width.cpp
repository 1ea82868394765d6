// Feeding a Linear<16, 8> an input whose static feature width is 12.
// expect: Linear<In, Out>: the input's last extent must equal In
#include <random>

#include "ranklens/nn/linear.hpp"

using namespace ranklens;

int main() {
  std::mt19937 rng(0);
  Linear<16, 8> layer(rng);
  auto step = tape();
  Tensor<float, Shape<dyn, 12>> x(Shape<dyn, 12>{4}, 0.0f);
  auto y = layer(constant(x));
  (void)y;
}
