// A (2, 3) matrix times a (4, 5) matrix: the inner widths 3 and 4 are both static, so the
// mistake must be caught by the compiler, in one sentence.
// expect: matmul: the inner dimensions differ
#include "ranklens/ops/matmul.hpp"

using namespace ranklens;

int main() {
  auto step = tape();
  Tensor<float, Shape<2, 3>> a(Shape<2, 3>{}, 0.0f);
  Tensor<float, Shape<4, 5>> b(Shape<4, 5>{}, 0.0f);
  auto c = matmul(constant(a), constant(b));
  (void)c;
}
