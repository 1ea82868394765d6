// Six query heads cannot be shared evenly by four key/value heads.
// expect: Transformer: n_heads must be divisible by n_kv_heads.
#include <random>

#include "ranklens/nn/transformer.hpp"

using namespace ranklens;

int main() {
  std::mt19937 rng(0);
  Transformer<Qwen2Like<48, 2, 6, 4, 100>> model(rng);
  (void)model;
}
