// Specification of io/utf8.hpp: exactly the well-formed byte sequences of Unicode Table 3-7.
#include <string_view>

#include <catch2/catch.hpp>

#include "ranklens/io/utf8.hpp"

namespace io_test_utf8 {  // the unity build compiles test files together: names stay per file

using ranklens::io::first_invalid_utf8;
using namespace std::string_view_literals;

TEST_CASE("well-formed UTF-8 passes, from one byte to four", "[io][utf8]") {
  CHECK_FALSE(first_invalid_utf8(""sv));
  CHECK_FALSE(first_invalid_utf8("plain ASCII, with \x7f and \0 inside"sv));
  CHECK_FALSE(first_invalid_utf8("\xC2\x80 \xDF\xBF"sv));                  // U+0080, U+07FF
  CHECK_FALSE(first_invalid_utf8("\xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80"sv));  // U+0800, U+D7FF, U+E000
  CHECK_FALSE(first_invalid_utf8("\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"sv));  // U+10000, U+10FFFF
}

TEST_CASE("ill-formed UTF-8 is found at the start of the bad sequence", "[io][utf8]") {
  CHECK(first_invalid_utf8("ab\x80"sv) == 2u);              // continuation without a lead
  CHECK(first_invalid_utf8("a\xC0\xAF"sv) == 1u);           // overlong '/'
  CHECK(first_invalid_utf8("\xC1\xBF"sv) == 0u);            // overlong
  CHECK(first_invalid_utf8("\xE0\x9F\xBF"sv) == 0u);        // overlong three-byte form
  CHECK(first_invalid_utf8("\xF0\x8F\xBF\xBF"sv) == 0u);    // overlong four-byte form
  CHECK(first_invalid_utf8("x\xED\xA0\x80"sv) == 1u);       // surrogate U+D800
  CHECK(first_invalid_utf8("\xF4\x90\x80\x80"sv) == 0u);    // U+110000
  CHECK(first_invalid_utf8("\xF5\x80\x80\x80"sv) == 0u);    // lead byte that never occurs
  CHECK(first_invalid_utf8("\xFF"sv) == 0u);
  CHECK(first_invalid_utf8("ok\xE2\x98"sv) == 2u);          // cut short at the end
  CHECK(first_invalid_utf8("\xE2\x98x"sv) == 0u);           // cut short by ASCII
  CHECK(first_invalid_utf8("\xC3\xA9\xC3"sv) == 2u);        // valid, then cut short
}

}  // namespace io_test_utf8
