// An embedding table must be a (vocabulary, width) matrix, not a rank-3 tensor.
// expect: embedding: the weight must be a (vocabulary, width) matrix.
#include <ranklens/ops/embedding.hpp>

void not_a_table(ranklens::Var<float, ranklens::Shape<4, 2, 3>> w,
                 ranklens::TensorView<const std::int32_t, ranklens::Shape<ranklens::dyn>> ids) {
  (void)ranklens::embedding(w, ids);
}
