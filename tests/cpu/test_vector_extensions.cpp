#include <catch2/catch.hpp>

#include "ranklens/cpu/vector_extensions.hpp"

namespace cpu_test_vector_extensions {  // the unity build compiles test files together: names stay per file

using namespace ranklens::cpu;

TEST_CASE("vector_extension_warning names both widths and the fix when the CPU has wider vectors", "[cpu][vectors]") {
  const std::string warning = vector_extension_warning(128, 512);
  CHECK_THAT(warning, Catch::Contains("compiled for SSE2 but the CPU running it has AVX-512"));
  CHECK_THAT(warning, Catch::Contains("ranklens::native"));
  CHECK_THAT(warning, Catch::Contains("-march=native"));
  CHECK_THAT(warning, Catch::Contains("RANKLENS_NO_VECTOR_WARNING=1"));
  CHECK_THAT(vector_extension_warning(256, 512), Catch::Contains("compiled for AVX2 but the CPU running it has AVX-512"));
  CHECK_THAT(vector_extension_warning(128, 256), Catch::Contains("compiled for SSE2 but the CPU running it has AVX2"));
}

TEST_CASE("vector_extension_warning is empty when the build uses the CPU's widest vectors", "[cpu][vectors]") {
  CHECK(vector_extension_warning(512, 512).empty());
  CHECK(vector_extension_warning(256, 256).empty());
  CHECK(vector_extension_warning(512, 256).empty());  // runs elsewhere, the build's choice
}

TEST_CASE("the process-wide check reports this build against this CPU", "[cpu][vectors]") {
  CHECK(check_vector_extensions() == vector_extension_warning(compiled_vector_bits(), cpu_vector_bits()));
#if defined(RANKLENS_TESTS_BUILT_NATIVE)
  // With -march=native (RANKLENS_NATIVE) nothing is left unused, so the thread pool's check
  // printed nothing.
  CHECK(compiled_vector_bits() >= cpu_vector_bits());
  CHECK(check_vector_extensions().empty());
#endif
}

}  // namespace cpu_test_vector_extensions
