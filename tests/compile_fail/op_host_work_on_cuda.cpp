// An op that still does part of its work on the host says so, naming itself, when it is asked
// to run on another device.
// expect: sparse_decode keeps its sparsity pattern on the host: cpu_t only until
#include <ranklens/ops/sparse_decode.hpp>

void decode_on_cuda(const ranklens::SparseActivations<float, ranklens::cuda_t>& code,
                    const ranklens::Var<float, ranklens::Shape<16, 8>, ranklens::cuda_t>& weight) {
  (void)ranklens::sparse_decode(code, weight);
}
