// 30 features cannot be cut into 4 heads of equal width.
// expect: Transformer: d_model must be divisible by n_heads.
#include <random>

#include "ranklens/nn/transformer.hpp"

using namespace ranklens;

int main() {
  std::mt19937 rng(0);
  Transformer<Gpt2Like<30, 1, 4, 100, 64>> model(rng);
  auto step = tape();
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{1, 3}, 0);
  (void)model(tokens);
}
