// A kernel asked of a device that has none is refused at the switch point with one message
// that names the kernel, and the compiler's note names the device.
// expect: backend::softmax_forward has no kernel for device D
// expect: D = ranklens::cuda_t
#include <ranklens/backend/softmax.hpp>

void softmax_on_cuda(const float* x, float* y) {
  ranklens::backend::softmax_forward<float>(ranklens::cuda_t{}, x, y, ranklens::index_t(2), ranklens::index_t(3));
}
