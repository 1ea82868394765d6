// ranklens against the Python safetensors package: files it wrote (tests/io/fixtures, made
// by tools/make_safetensors_fixtures.py) must read back correctly, and ranklens' writer must
// produce the very same bytes from the same tensors.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/half_float.hpp"
#include "ranklens/io/safetensors_reader.hpp"
#include "ranklens/io/safetensors_writer.hpp"

namespace io_test_safetensors_fixtures {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;

namespace {

// Writes every tensor and metadata entry of `reader` again with ranklens' writer.
std::vector<std::byte> rewrite(const safetensors_reader& reader) {
  safetensors_writer writer;
  for (const safetensors_entry& entry : reader.entries())
    writer.add(entry.name, entry.element_type, entry.shape, reader.bytes(entry));
  for (const auto& [key, value] : reader.metadata()) writer.set_metadata(key, value);
  return writer.to_bytes();
}

std::vector<std::uint16_t> stored_u16(const safetensors_reader& reader, std::string_view name) {
  const std::span<const std::byte> bytes = reader.bytes(name);
  std::vector<std::uint16_t> values(bytes.size() / 2);
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

}  // namespace

TEST_CASE("the writer reproduces the Python package's file for one tensor of every numpy dtype",
          "[io][safetensors][fixtures]") {
  // The same tensors as all_dtypes() in tools/make_safetensors_fixtures.py.
  const std::vector<double> f64{0.5, -1.25, 1e300, -0.0};
  const std::vector<float> f32{1.5f, -2.0f, 0.1f};
  const std::vector<std::uint16_t> f16{0x0000, 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00};
  const std::vector<std::int64_t> i64{-(std::int64_t{1} << 62), std::int64_t{1} << 40};
  const std::vector<std::int32_t> i32{-7, 0, 2147483647, -2147483647 - 1};
  const std::vector<std::int16_t> i16{-300, 0, 300};
  const std::vector<std::int8_t> i8{-128, -1, 0, 127};
  const std::vector<std::uint8_t> u8{0, 128, 255};
  const std::vector<std::uint8_t> booleans{1, 0};
  const std::vector<float> scalar{42.0f};

  safetensors_writer writer;
  writer.add<double>("f64", {2, 2}, f64);
  writer.add<float>("f32", {3}, f32);
  writer.add("f16", dtype::f16, {2, 3}, std::as_bytes(std::span(f16)));
  writer.add<std::int64_t>("i64", {2}, i64);
  writer.add<std::int32_t>("i32", {2, 2}, i32);
  writer.add<std::int16_t>("i16", {3}, i16);
  writer.add<std::int8_t>("i8", {4}, i8);
  writer.add<std::uint8_t>("u8", {3}, u8);
  writer.add("bool", dtype::boolean, {2}, std::as_bytes(std::span(booleans)));
  writer.add<float>("scalar", {}, scalar);
  writer.add("empty", dtype::f32, {0, 3}, {});
  writer.set_metadata("format", "np");

  CHECK(writer.to_bytes() == read_whole_file(fixture_path("all_dtypes.safetensors")));
}

TEST_CASE("the writer reproduces Python's escaping of names and metadata, and its name order",
          "[io][safetensors][fixtures]") {
  const safetensors_reader reader = safetensors_reader::open(fixture_path("names_and_order.safetensors"));
  CHECK(reader.contains("quote\""));
  CHECK(reader.contains("new\nline\ttab\rcr\bbs\fff"));
  CHECK(reader.contains(std::string("ctrl\x01\x1f")));
  CHECK(reader.contains("utf8 \xC3\xA9 \xE2\x98\x83 \xF0\x9F\x98\x80"));
  CHECK(reader.contains(""));
  CHECK(reader.metadata().at("note \xC3\xA9\n") == "tab\there \"quoted\" \\ \x01 \xE2\x98\x83");
  CHECK(rewrite(reader) == read_whole_file(fixture_path("names_and_order.safetensors")));
}

TEST_CASE("the writer reproduces Python's F16 and BF16 files", "[io][safetensors][fixtures]") {
  const safetensors_reader reader = safetensors_reader::open(fixture_path("half_rounding.safetensors"));
  CHECK(rewrite(reader) == read_whole_file(fixture_path("half_rounding.safetensors")));
}

TEST_CASE("files without tensors match Python's byte for byte", "[io][safetensors][fixtures]") {
  CHECK(safetensors_writer{}.to_bytes() == read_whole_file(fixture_path("no_tensors.safetensors")));
  safetensors_writer only_metadata;
  only_metadata.set_metadata("only", "metadata");
  CHECK(only_metadata.to_bytes() == read_whole_file(fixture_path("metadata_only.safetensors")));
  CHECK(safetensors_reader::open(fixture_path("metadata_only.safetensors")).entries().empty());
}

TEST_CASE("float to F16 rounds exactly as numpy's astype(float16) does", "[io][safetensors][fixtures]") {
  const safetensors_reader reader = safetensors_reader::open(fixture_path("half_rounding.safetensors"));
  const std::vector<float> source = reader.read_as<float>("source");
  const std::vector<std::uint16_t> numpy_f16 = stored_u16(reader, "as_f16");
  REQUIRE(numpy_f16.size() == source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    INFO("element " << i << ", float " << source[i]);
    CHECK(float_to_f16_bits(source[i]) == numpy_f16[i]);
  }
}

TEST_CASE("float to BF16 rounds to nearest even like the reference computation", "[io][safetensors][fixtures]") {
  const safetensors_reader reader = safetensors_reader::open(fixture_path("half_rounding.safetensors"));
  const std::vector<float> source = reader.read_as<float>("source");
  const std::vector<std::uint16_t> python_bf16 = stored_u16(reader, "as_bf16");
  REQUIRE(python_bf16.size() == source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    INFO("element " << i << ", float " << source[i]);
    CHECK(float_to_bf16_bits(source[i]) == python_bf16[i]);
  }
}

TEST_CASE("F16 values Python wrote read back as the floats numpy meant", "[io][safetensors][fixtures]") {
  const safetensors_reader reader = safetensors_reader::open(fixture_path("half_rounding.safetensors"));
  const std::vector<float> source = reader.read_as<float>("source");
  const std::vector<float> widened = reader.read_as<float>("as_f16");
  for (std::size_t i = 0; i < source.size(); ++i) {
    INFO("element " << i << ", float " << source[i]);
    if (std::isnan(source[i])) {
      CHECK(std::isnan(widened[i]));
    } else if (std::fabs(source[i]) <= 65504.0f) {
      // Within range, the nearest half is within half a unit of the last place (2^-11 relative,
      // or 2^-25 absolute among subnormals).
      CHECK(std::fabs(widened[i] - source[i]) <= std::fmax(std::fabs(source[i]) * 0x1p-11f, 0x1p-25f));
    }
  }
}

}  // namespace io_test_safetensors_fixtures
