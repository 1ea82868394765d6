// LoRA adapters need static widths: a model whose sizes are dyn cannot carry them yet.
// expect: LoraAdapters: adapters need a model whose sizes are all static
#include <random>

#include "ranklens/adapt/lora_adapters.hpp"

int main() {
  using AnyQwen2 = ranklens::Qwen2Like<ranklens::dyn, 2, 4, 2, ranklens::dyn, 64>;
  std::mt19937 rng(0);
  ranklens::Transformer<AnyQwen2> model(rng, ranklens::transformer_dims{});
  ranklens::LoraAdapters<1, ranklens::Transformer<AnyQwen2>> adapters(model);
}
