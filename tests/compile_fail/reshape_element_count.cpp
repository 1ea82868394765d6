// Reshaping a static (2, 6) tensor to (5, 2): the element counts differ.
// expect: reshape: the new shape must have as many elements as the old one.
#include <ranklens/ops/views.hpp>

void wrong_count(ranklens::Var<float, ranklens::Shape<2, 6>> x) { (void)ranklens::reshape(x, ranklens::Shape<5, 2>{}); }
