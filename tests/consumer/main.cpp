// Proves that an installed ranklens is usable: its headers are found, OpenBLAS (which
// ranklens::ranklens links for its users) both compiles and links, and the vector check says
// whether this build uses the CPU's widest vectors (install_and_consume.cmake reads the lines).
#include <ranklens/core/dtype.hpp>
#include <ranklens/cpu/vector_extensions.hpp>

#include <cblas.h>

#include <cstdio>

int main() {
  static_assert(ranklens::dtype_of<float> == ranklens::dtype::f32);
  const float ones[3] = {1.0f, 1.0f, 1.0f};
  const float weights[3] = {1.0f, 2.0f, 3.0f};
  const float dot = cblas_sdot(3, ones, 1, weights, 1);

  const auto name = ranklens::name_of(ranklens::dtype::f32);
  std::printf("ranklens %s: %.*s is %zu bytes; OpenBLAS sdot = %g\n", RANKLENS_FOUND_VERSION,
              static_cast<int>(name.size()), name.data(), ranklens::size_of(ranklens::dtype::f32),
              static_cast<double>(dot));
  std::printf("vectors: compiled for %d bits, the CPU has %d bits\n", ranklens::cpu::compiled_vector_bits(),
              ranklens::cpu::cpu_vector_bits());
  std::fflush(stdout);
  (void)ranklens::cpu::check_vector_extensions();  // the warning, on stderr, when they differ
  return dot == 6.0f ? 0 : 1;
}
