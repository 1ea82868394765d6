// Which vector width the kernels were compiled for, against the widest the CPU running them has.
// ranklens is header-only: its xsimd kernels are compiled with the flags of the program that
// includes them, so a program built without -march=native (or -mavx2 -mfma / -mavx512f) runs
// the 128-bit SSE2 kernels on a CPU with AVX-512, a training step up to 1.8x slower
// (docs/performance.md). The first kernel call warns once on stderr when that happens (link
// ranklens::native in CMake, or compile with -march=native, to fix it;
// RANKLENS_NO_VECTOR_WARNING=1 silences it for builds that are portable on purpose).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace ranklens::cpu {

// Vector width, in bits, of the instructions this translation unit may use: 512 (AVX-512F),
// 256 (AVX2 with FMA), 128 (SSE2 or NEON, the baseline), 0 where none of them applies.
inline constexpr int compiled_vector_bits() {
#if defined(__AVX512F__)
  return 512;
#elif defined(__AVX2__) && defined(__FMA__)
  return 256;
#elif defined(__SSE2__) || defined(__ARM_NEON)
  return 128;
#else
  return 0;
#endif
}

// The same measure for the CPU running the program (x86 only; elsewhere the compiled width).
inline int cpu_vector_bits() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
  return __builtin_cpu_supports("sse2") ? 128 : 0;
#else
  return compiled_vector_bits();
#endif
}

// The warning for a program compiled for `compiled_bits` on a CPU with `cpu_bits`; empty when
// the program uses the CPU's widest vectors.
inline std::string vector_extension_warning(int compiled_bits, int cpu_bits) {
  if (cpu_bits <= compiled_bits) return {};
  const auto name = [](int bits) -> std::string {
    switch (bits) {
      case 512: return "AVX-512";
      case 256: return "AVX2";
      case 128: return "SSE2";
      default: return "no vector extensions";
    }
  };
  return "ranklens: this program was compiled for " + name(compiled_bits) + " but the CPU running it has " + name(cpu_bits) +
         ", so ranklens' kernels use " + std::to_string(compiled_bits) + "-bit vectors where " + std::to_string(cpu_bits) +
         "-bit ones would be faster. Fix: link ranklens::native in CMake, or compile with -march=native "
         "(set RANKLENS_NO_VECTOR_WARNING=1 to silence this for a build that is portable on purpose).\n";
}

// Prints the warning above once per process (unless RANKLENS_NO_VECTOR_WARNING is set to
// something other than 0) and returns it; the thread pool and the matrix products call it.
inline const std::string& check_vector_extensions() {
  static const std::string warning = [] {
    std::string text = vector_extension_warning(compiled_vector_bits(), cpu_vector_bits());
    const char* quiet = std::getenv("RANKLENS_NO_VECTOR_WARNING");
    const bool silenced = quiet != nullptr && std::string_view(quiet) != "" && std::string_view(quiet) != "0";
    if (!text.empty() && !silenced) std::fputs(text.c_str(), stderr);
    return text;
  }();
  return warning;
}

}  // namespace ranklens::cpu
