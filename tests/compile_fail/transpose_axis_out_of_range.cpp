// transpose names an axis that a rank-2 tensor does not have.
// expect: transpose: an axis is out of range for the tensor's rank.
#include <ranklens/ops/views.hpp>

void swap_missing_axis(ranklens::Var<float, ranklens::Shape<ranklens::dyn, 8>> x) { (void)ranklens::transpose<0, 2>(x); }
