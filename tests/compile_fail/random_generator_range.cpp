// Drawing weights from std::minstd_rand, whose outputs (1 to 2^31 − 2) are not whole words: its
// bits could not give the same draws as other engines.
// expect: A random generator must return every 32-bit or every 64-bit value
#include <random>

#include "ranklens/core/distributions.hpp"

int main() {
  std::minstd_rand generator(1);
  return ranklens::unit_uniform<double>(generator) < 0.5;
}
