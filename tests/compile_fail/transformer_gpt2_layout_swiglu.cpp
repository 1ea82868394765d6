// HF's GPT-2 module tree has no gated MLP: a GPT-2 layout with SwiGLU has no names to save under.
// expect: Transformer: the GPT-2 layout has a GELU MLP (c_fc, c_proj) and the Qwen2 layout a SwiGLU MLP
#include <random>

#include "ranklens/nn/transformer.hpp"

using namespace ranklens;

struct GatedGpt2 : Gpt2Like<32, 1, 4, 100, 64> {
  static constexpr mlp_kind mlp = mlp_kind::swiglu;
};

int main() {
  std::mt19937 rng(0);
  Transformer<GatedGpt2> model(rng);
  auto step = tape();
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{1, 3}, 0);
  (void)model(tokens);
}
