// Joining (2, 6) and (3, 6) along axis 1: axis 0 differs statically.
// expect: concat: the tensors' static extents differ on an axis other than the one joined.
#include <ranklens/ops/concat.hpp>

void mismatched(ranklens::Var<float, ranklens::Shape<2, 6>> a, ranklens::Var<float, ranklens::Shape<3, 6>> b) {
  (void)ranklens::concat<1>(a, b);
}
