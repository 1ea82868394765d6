// Specification of io/content_hash.hpp: the fingerprint that tells a damaged checkpoint from an
// intact one.
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "ranklens/io/content_hash.hpp"

namespace io_test_content_hash {  // the unity build compiles test files together: names stay per file

using namespace ranklens::io;

namespace {

std::vector<std::byte> counting_bytes(std::size_t count) {
  std::vector<std::byte> bytes(count);
  for (std::size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::byte>((i * 37 + 11) & 0xFF);
  return bytes;
}

std::uint64_t hash_of(const std::vector<std::byte>& bytes) { return content_hash().add(bytes).value(); }

}  // namespace

TEST_CASE("the same bytes give the same fingerprint, wherever they lie in memory", "[io][content_hash]") {
  const auto bytes = counting_bytes(1001);
  CHECK(hash_of(bytes) == hash_of(bytes));
  // An unaligned start (checkpoint data need not be 8-byte aligned) reads the same words.
  std::vector<std::byte> shifted(bytes.size() + 3);
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 3);
  CHECK(content_hash().add(std::span<const std::byte>(shifted).subspan(3)).value() == hash_of(bytes));
}

TEST_CASE("fingerprints are those of earlier releases, bit for bit", "[io][content_hash]") {
  // Recorded before the mixer moved to core/random.hpp: checksums stored in saved checkpoints
  // must still match.
  CHECK(content_hash().hex() == "e9e0033e3badaf36");
  CHECK(content_hash().add("ranklens").hex() == "d8e8da81b8f5f07e");
}

TEST_CASE("changing any single byte, or any single bit, changes the fingerprint", "[io][content_hash]") {
  const auto original = counting_bytes(203);  // whole words and a tail
  const std::uint64_t reference = hash_of(original);
  for (std::size_t i = 0; i < original.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = original;
      damaged[i] ^= static_cast<std::byte>(1 << bit);
      REQUIRE(hash_of(damaged) != reference);
    }
}

TEST_CASE("lengths and piece boundaries count", "[io][content_hash]") {
  // Trailing zero bytes would vanish in the zero-padded tail word without the length.
  CHECK(hash_of(std::vector<std::byte>(5)) != hash_of(std::vector<std::byte>(6)));
  CHECK(hash_of({}) != hash_of(std::vector<std::byte>(8)));
  CHECK(content_hash().add("ab").add("c").value() != content_hash().add("a").add("bc").value());
  CHECK(content_hash().add("abc").value() == content_hash().add(std::string("abc")).value());
}

TEST_CASE("neighbouring inputs give unrelated fingerprints, written as 16 hex digits", "[io][content_hash]") {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(content_hash().add(std::to_string(i)).value());
  CHECK(seen.size() == 1000);
  const std::string hex = content_hash().add("x").hex();
  CHECK(hex.size() == 16);
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(std::stoull(hex, nullptr, 16) == content_hash().add("x").value());
}

}  // namespace io_test_content_hash
