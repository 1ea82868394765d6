// An op whose device work is all kernels, asked to run on a device that lacks one, is refused at
// the switch point with the kernel's name.
// expect: backend::softmax_forward has no kernel for device D
#include <ranklens/ops/softmax.hpp>

void softmax_on_cuda(const ranklens::Var<float, ranklens::Shape<4, 3>, ranklens::cuda_t>& scores) {
  (void)ranklens::softmax(scores);
}
