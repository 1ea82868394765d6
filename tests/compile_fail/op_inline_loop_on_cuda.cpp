// An op that still runs a loop inline on the host says so, naming itself, when it is asked to
// run on another device.
// expect: affine runs its loop inline on the host: cpu_t only until
#include <ranklens/ops/arithmetic.hpp>

void affine_on_cuda(const ranklens::Var<float, ranklens::Shape<4>, ranklens::cuda_t>& x) {
  (void)ranklens::affine(x, 2.0f, 1.0f);
}
