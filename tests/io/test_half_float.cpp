// Specification of io/half_float.hpp, checked on every one of the 65536 bit patterns of each
// format against values computed independently with ordinary float/double arithmetic.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include <catch2/catch.hpp>

#include "ranklens/io/half_float.hpp"

namespace io_test_half_float {  // the unity build compiles test files together: names stay per file

using namespace ranklens::io;

namespace {

// The value a bit pattern denotes, from the format's definition (sign, biased exponent,
// mantissa with an implicit leading 1 for normal numbers), without any bit tricks.
double decode_by_definition(std::uint16_t bits, int exponent_bits, int mantissa_bits) {
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const bool negative = (bits >> (exponent_bits + mantissa_bits)) & 1;
  const int exponent = (bits >> mantissa_bits) & ((1 << exponent_bits) - 1);
  const int mantissa = bits & ((1 << mantissa_bits) - 1);
  double magnitude = 0;
  if (exponent == (1 << exponent_bits) - 1) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), 1 - bias - mantissa_bits);
  } else {
    magnitude = std::ldexp(static_cast<double>((1 << mantissa_bits) + mantissa), exponent - bias - mantissa_bits);
  }
  return negative ? -magnitude : magnitude;
}

double f16_by_definition(std::uint16_t bits) { return decode_by_definition(bits, 5, 10); }
double bf16_by_definition(std::uint16_t bits) { return decode_by_definition(bits, 8, 7); }

bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

}  // namespace

// Spot values, also proving the conversions usable at compile time.
static_assert(float_to_f16_bits(1.0f) == 0x3C00);
static_assert(float_to_f16_bits(-2.0f) == 0xC000);
static_assert(f16_bits_to_float(0x7BFF) == 65504.0f);
static_assert(float_to_bf16_bits(1.0f) == 0x3F80);
static_assert(bf16_bits_to_float(0xC040) == -3.0f);

TEST_CASE("f16 widens every bit pattern to the exact float it denotes", "[io][half_float]") {
  for (std::uint32_t pattern = 0; pattern <= 0xFFFF; ++pattern) {
    const auto bits = static_cast<std::uint16_t>(pattern);
    const double expected = f16_by_definition(bits);
    const float actual = f16_bits_to_float(bits);
    INFO("f16 bits 0x" << std::hex << pattern);
    REQUIRE(std::signbit(actual) == std::signbit(expected));
    if (std::isnan(expected)) {
      REQUIRE(std::isnan(actual));
    } else {
      REQUIRE(static_cast<double>(actual) == expected);
    }
  }
}

TEST_CASE("bf16 widens every bit pattern to the exact float it denotes", "[io][half_float]") {
  for (std::uint32_t pattern = 0; pattern <= 0xFFFF; ++pattern) {
    const auto bits = static_cast<std::uint16_t>(pattern);
    const double expected = bf16_by_definition(bits);
    const float actual = bf16_bits_to_float(bits);
    INFO("bf16 bits 0x" << std::hex << pattern);
    REQUIRE(std::signbit(actual) == std::signbit(expected));
    if (std::isnan(expected)) {
      REQUIRE(std::isnan(actual));
    } else {
      REQUIRE(static_cast<double>(actual) == expected);
    }
  }
}

TEST_CASE("narrowing a widened f16 gives back the same bits, and NaN stays NaN of the same sign",
          "[io][half_float]") {
  for (std::uint32_t pattern = 0; pattern <= 0xFFFF; ++pattern) {
    const auto bits = static_cast<std::uint16_t>(pattern);
    const std::uint16_t back = float_to_f16_bits(f16_bits_to_float(bits));
    INFO("f16 bits 0x" << std::hex << pattern << " came back as 0x" << back);
    if (std::isnan(f16_by_definition(bits))) {
      REQUIRE((back & 0x7C00) == 0x7C00);
      REQUIRE((back & 0x03FF) != 0);
      REQUIRE((back & 0x8000) == (bits & 0x8000));
    } else {
      REQUIRE(back == bits);
    }
  }
}

TEST_CASE("narrowing a widened bf16 gives back the same bits, and NaN stays NaN of the same sign",
          "[io][half_float]") {
  for (std::uint32_t pattern = 0; pattern <= 0xFFFF; ++pattern) {
    const auto bits = static_cast<std::uint16_t>(pattern);
    const std::uint16_t back = float_to_bf16_bits(bf16_bits_to_float(bits));
    INFO("bf16 bits 0x" << std::hex << pattern << " came back as 0x" << back);
    if (std::isnan(bf16_by_definition(bits))) {
      REQUIRE((back & 0x7F80) == 0x7F80);
      REQUIRE((back & 0x007F) != 0);
      REQUIRE((back & 0x8000) == (bits & 0x8000));
    } else {
      REQUIRE(back == bits);
    }
  }
}

namespace {

// For every pair of neighbouring finite values of a format (both signs, subnormals included,
// and the largest finite value next to infinity), the exact midpoint must round to the
// neighbour with the even bit pattern and the floats just either side of it to the nearer
// one. Positive patterns are ordered like their values, so neighbours are k and k + 1.
template <class Decode, class Narrow>
void check_rounding_between_all_neighbours(std::uint16_t largest_finite, Decode decode, Narrow narrow) {
  for (std::uint32_t k = 0; k <= largest_finite; ++k) {
    const double low = decode(static_cast<std::uint16_t>(k));
    // Past the largest finite value, rounding treats infinity as the next step up, one ulp on.
    const double high = k < largest_finite ? decode(static_cast<std::uint16_t>(k + 1))
                                           : low + (low - decode(static_cast<std::uint16_t>(k - 1)));
    const double midpoint_exact = (low + high) / 2;
    const auto midpoint = static_cast<float>(midpoint_exact);
    REQUIRE(static_cast<double>(midpoint) == midpoint_exact);  // representable, so truly a tie
    const float just_below = std::nextafter(midpoint, -std::numeric_limits<float>::infinity());
    const float just_above = std::nextafter(midpoint, std::numeric_limits<float>::infinity());
    const auto even = static_cast<std::uint16_t>(k % 2 == 0 ? k : k + 1);
    for (const std::uint16_t sign : {std::uint16_t{0}, std::uint16_t{0x8000}}) {
      const float s = sign ? -1.0f : 1.0f;
      INFO("between patterns 0x" << std::hex << k << " and 0x" << k + 1 << ", sign 0x" << sign);
      REQUIRE(narrow(s * midpoint) == (even | sign));
      REQUIRE(narrow(s * just_below) == (k | sign));
      REQUIRE(narrow(s * just_above) == ((k + 1) | sign));
    }
  }
}

}  // namespace

TEST_CASE("float to f16 rounds to nearest with ties to even, into subnormals and up to infinity",
          "[io][half_float]") {
  check_rounding_between_all_neighbours(0x7BFF, f16_by_definition, float_to_f16_bits);
}

TEST_CASE("float to bf16 rounds to nearest with ties to even, into subnormals and up to infinity",
          "[io][half_float]") {
  check_rounding_between_all_neighbours(0x7F7F, bf16_by_definition, float_to_bf16_bits);
}

TEST_CASE("float to f16 handles the edges of the format", "[io][half_float]") {
  const float infinity = std::numeric_limits<float>::infinity();
  CHECK(float_to_f16_bits(0.0f) == 0x0000);
  CHECK(float_to_f16_bits(-0.0f) == 0x8000);
  CHECK(float_to_f16_bits(infinity) == 0x7C00);
  CHECK(float_to_f16_bits(-infinity) == 0xFC00);
  CHECK(float_to_f16_bits(std::numeric_limits<float>::max()) == 0x7C00);
  CHECK(float_to_f16_bits(65519.99f) == 0x7BFF);
  CHECK(float_to_f16_bits(65520.0f) == 0x7C00);
  // Float subnormals and anything up to half the smallest f16 subnormal become signed zero.
  CHECK(float_to_f16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(float_to_f16_bits(-std::numeric_limits<float>::denorm_min()) == 0x8000);
  CHECK(float_to_f16_bits(0x1p-25f) == 0x0000);
  CHECK(float_to_f16_bits(std::nextafter(0x1p-25f, 1.0f)) == 0x0001);
  CHECK(float_to_f16_bits(std::numeric_limits<float>::quiet_NaN()) == 0x7E00);
  CHECK(float_to_f16_bits(-std::numeric_limits<float>::quiet_NaN()) == 0xFE00);
  // A NaN whose payload is only in the low float bits must not collapse into infinity.
  const float low_payload_nan = std::bit_cast<float>(std::uint32_t{0x7F800001});
  CHECK(std::isnan(f16_bits_to_float(float_to_f16_bits(low_payload_nan))));
  CHECK(same_bits(f16_bits_to_float(0x8000), -0.0f));
}

TEST_CASE("float to bf16 handles the edges of the format", "[io][half_float]") {
  const float infinity = std::numeric_limits<float>::infinity();
  CHECK(float_to_bf16_bits(-0.0f) == 0x8000);
  CHECK(float_to_bf16_bits(infinity) == 0x7F80);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::max()) == 0x7F80);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::quiet_NaN()) == 0x7FC0);
  const float low_payload_nan = std::bit_cast<float>(std::uint32_t{0xFF800001});
  CHECK(float_to_bf16_bits(low_payload_nan) == 0xFFC0);
}

}  // namespace io_test_half_float
