// One optimizer step of a model on a batch held in device buffers, the loss copied into a device
// scalar: nothing here waits for the device or reads from the host, so a cuda::graph can capture
// it (test_transformer.cu and test_lora.cu replay it against eager steps). With max_grad_norm > 0
// the gradients are clipped by clip_grad_norm_into, which leaves the norm in `norm`.
#pragma once
#include <cstdint>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/clip_grad_norm.hpp"

namespace ranklens::test {

using device_tokens = Tensor<std::int32_t, Shape<dyn, dyn>, cuda_t>;

template <class Model, class Optimizer>
void device_step(const Model& model, Optimizer& optimizer, const device_tokens& ids, const device_tokens& targets,
                 Tensor<float, Shape<>, cuda_t>& loss, double max_grad_norm = 0, Tensor<float, Shape<>, cuda_t>* norm = nullptr) {
  optimizer.zero_grad();
  {
    auto scope = tape();
    const auto value = cross_entropy(model(TensorView<const std::int32_t, Shape<dyn, dyn>, cuda_t>(ids.data(), ids.shape())), targets.view());
    backward(value, {.keep_intermediate_grads = false});
    device_memory<cuda_t>::copy(loss.data(), value.value().data(), sizeof(float));
  }
  if (max_grad_norm > 0) clip_grad_norm_into<cuda_t>(optimizer.parameters(), max_grad_norm, *norm);
  optimizer.step();
}

}  // namespace ranklens::test
