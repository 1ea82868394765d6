// The CPU side of the autograd-graph and module training tests, declared in those headers.
#include "../autograd_graph.hpp"
#include "../module_training.hpp"

namespace ranklens::test::graph {

float cpu_loss_and_gradients(const sizes& s, const float* const* params, const std::int32_t* ids, const std::int32_t* targets,
                             float* const* grads) {
  return loss_and_gradients<cpu_t>(s, params, ids, targets, grads);
}

}  // namespace ranklens::test::graph

namespace ranklens::test::modules {

training_result cpu_train(std::uint64_t seed, int steps, index_t batch, index_t positions, const std::vector<std::int32_t>& ids,
                          const std::vector<std::int32_t>& targets, double max_grad_norm, const std::optional<SGDOptions>& sgd) {
  return train<cpu_t>(seed, steps, batch, positions, ids, targets, max_grad_norm, sgd);
}

}  // namespace ranklens::test::modules
