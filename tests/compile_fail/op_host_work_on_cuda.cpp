// An op that still does part of its work on the host says so, naming itself, when it is asked
// to run on another device.
// expect: cross_entropy (mean or sum) reads its one-element gradient on the host: cpu_t only until
#include <cstdint>

#include <ranklens/ops/cross_entropy.hpp>

void loss_on_cuda(const ranklens::Var<float, ranklens::Shape<ranklens::dyn, 8>, ranklens::cuda_t>& logits,
                  ranklens::TensorView<const std::int32_t, ranklens::Shape<ranklens::dyn>, ranklens::cuda_t> targets) {
  (void)ranklens::cross_entropy(logits, targets);
}
