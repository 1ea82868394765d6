// A LoRA adapter of rank 0 is not an adapter.
// expect: LowRankAdapter<Rank, In, Out>: the rank must be a positive compile-time constant.
#include <random>

#include "ranklens/adapt/low_rank_adapter.hpp"

int main() {
  std::mt19937 rng(0);
  ranklens::LowRankAdapter<0, 8, 8> adapter(rng);
  return int(adapter.scale());
}
