// Basic vocabulary shared by every layer: the index type and inlining hints.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ranklens {

// Signed, so that strides may be negative and loops may count down without surprises.
using index_t = std::ptrdiff_t;

// Marks an extent whose size is known only at run time (batch, sequence).
inline constexpr index_t dyn = -1;

// Every tensor buffer starts on a cache-line (and AVX-512 vector) boundary.
inline constexpr std::size_t tensor_alignment = 64;

}  // namespace ranklens

#if defined(__GNUC__) || defined(__clang__)
#define RANKLENS_ALWAYS_INLINE inline __attribute__((always_inline))
#define RANKLENS_RESTRICT __restrict__
#else
#define RANKLENS_ALWAYS_INLINE inline
#define RANKLENS_RESTRICT
#endif
