// A static extent of 6 cannot be split into 4 equal parts.
// expect: split: the axis's static extent is not divisible by the number of parts.
#include <ranklens/ops/concat.hpp>

void uneven(ranklens::Var<float, ranklens::Shape<2, 6>> x) { (void)ranklens::split<1, 4>(x); }
