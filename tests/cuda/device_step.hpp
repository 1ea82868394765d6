// One optimizer step of a model on a batch held in device buffers, the loss copied into a device
// scalar: nothing here waits for the device or reads from the host, so a cuda::graph can capture
// it (test_transformer.cu and test_lora.cu replay it against eager steps).
#pragma once
#include <cstdint>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/ops/cross_entropy.hpp"

namespace ranklens::test {

using device_tokens = Tensor<std::int32_t, Shape<dyn, dyn>, cuda_t>;

template <class Model, class Optimizer>
void device_step(const Model& model, Optimizer& optimizer, const device_tokens& ids, const device_tokens& targets,
                 Tensor<float, Shape<>, cuda_t>& loss) {
  optimizer.zero_grad();
  {
    auto scope = tape();
    const auto value = cross_entropy(model(TensorView<const std::int32_t, Shape<dyn, dyn>, cuda_t>(ids.data(), ids.shape())), targets.view());
    backward(value, {.keep_intermediate_grads = false});
    device_memory<cuda_t>::copy(loss.data(), value.value().data(), sizeof(float));
  }
  optimizer.step();
}

}  // namespace ranklens::test
