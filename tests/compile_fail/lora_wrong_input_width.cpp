// An adapter for a 16-wide layer fed a 12-wide input.
// expect: LowRankAdapter<Rank, In, Out>: the input's last extent must equal In.
#include <random>

#include "ranklens/adapt/low_rank_adapter.hpp"

int main() {
  using namespace ranklens;
  std::mt19937 rng(0);
  LowRankAdapter<1, 16, 8> adapter(rng);
  auto step = tape();
  Tensor<float, Shape<dyn, 12>> x(Shape<dyn, 12>{2}, 0.0f);
  Tensor<float, Shape<dyn, 8>> base(Shape<dyn, 8>{2}, 0.0f);
  auto y = adapter(constant(x), constant(base));
  return int(y.numel());
}
