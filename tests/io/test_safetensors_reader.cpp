// Specification of io/safetensors_reader.hpp: opening files, finding tensors, raw bytes and
// conversion to float, double, int32 and int64. The file read here was written by the Python
// safetensors package (tools/make_safetensors_fixtures.py).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/half_float.hpp"
#include "ranklens/io/safetensors_reader.hpp"

namespace io_test_safetensors_reader {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

safetensors_reader open_all_dtypes() { return safetensors_reader::open(fixture_path("all_dtypes.safetensors")); }

}  // namespace

TEST_CASE("a Python-written file opens by path, with its tensors in data order", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  std::vector<std::string> names;
  for (const safetensors_entry& entry : reader.entries()) names.push_back(entry.name);
  CHECK(names == std::vector<std::string>{"i64", "f64", "empty", "f32", "scalar", "i32", "f16", "i16", "i8", "u8", "bool"});
  CHECK(reader.metadata().at("format") == "np");
  CHECK(reader.contains("f16"));
  CHECK_FALSE(reader.contains("F16"));
  CHECK(reader.entry("i32").shape == std::vector<std::int64_t>{2, 2});
  CHECK_THAT(reader.source(), Contains("all_dtypes.safetensors"));
}

TEST_CASE("floating tensors read as float and double", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  CHECK(reader.read_as<double>("f64") == std::vector<double>{0.5, -1.25, 1e300, -0.0});
  CHECK(std::signbit(reader.read_as<double>("f64")[3]));
  CHECK(reader.read_as<float>("f32") == std::vector<float>{1.5f, -2.0f, 0.1f});
  CHECK(reader.read_as<double>("f32")[2] == static_cast<double>(0.1f));
  const float infinity = std::numeric_limits<float>::infinity();
  CHECK(reader.read_as<float>("f16") == std::vector<float>{0.0f, 1.0f, -2.0f, 65504.0f, 0x1p-24f, infinity});
  CHECK(reader.read_as<double>("f16")[4] == 0x1p-24);
  CHECK(reader.read_as<float>("scalar") == std::vector<float>{42.0f});
  CHECK(reader.read_as<float>("empty").empty());
}

TEST_CASE("bfloat16 tensors read as float and double", "[io][safetensors]") {
  const safetensors_reader reader = safetensors_reader::open(fixture_path("half_rounding.safetensors"));
  const std::span<const std::byte> stored = reader.bytes("as_bf16");
  const std::vector<float> as_float = reader.read_as<float>("as_bf16");
  const std::vector<double> as_double = reader.read_as<double>("as_bf16");
  REQUIRE(as_float.size() == stored.size() / 2);
  for (std::size_t i = 0; i < as_float.size(); ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, stored.data() + 2 * i, 2);
    const float expected = bf16_bits_to_float(bits);
    if (std::isnan(expected)) {
      CHECK(std::isnan(as_float[i]));
      CHECK(std::isnan(as_double[i]));
    } else {
      CHECK(as_float[i] == expected);
      CHECK(as_double[i] == static_cast<double>(expected));
    }
  }
}

TEST_CASE("narrowing F64 to float rounds, but refuses finite values beyond float's range", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  CHECK_THAT(io_error_message([&] { reader.read_as<float>("f64"); }),
             Contains("tensor 'f64' (F64, shape [2, 2]) element 2 is 1e+300, beyond the range of float"));

  std::vector<double> values{0.1, -std::numeric_limits<double>::infinity(), 1e-50};
  values.push_back(std::numeric_limits<double>::quiet_NaN());
  const std::string header = R"({"d":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}})";
  std::vector<std::byte> image = safetensors_image(header);
  const auto* raw = reinterpret_cast<const std::byte*>(values.data());
  image.insert(image.end(), raw, raw + 32);
  const std::vector<float> narrowed = safetensors_reader::from_bytes(image).read_as<float>("d");
  CHECK(narrowed[0] == 0.1f);
  CHECK(narrowed[1] == -std::numeric_limits<float>::infinity());
  CHECK(narrowed[2] == 0.0f);  // underflow to zero is rounding, not an error
  CHECK(std::isnan(narrowed[3]));
}

TEST_CASE("a tensor larger than a read chunk converts whole, and errors name the element", "[io][safetensors]") {
  // Reading goes in 16 MiB chunks of stored bytes; 2.5 M doubles span two, and the file is
  // mapped, so the pages of each chunk are given back as it is read.
  constexpr std::size_t count = 2'500'000;
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = double(i) * 0.5;
  const std::string header =
      R"({"d":{"dtype":"F64","shape":[)" + std::to_string(count) + R"(],"data_offsets":[0,)" + std::to_string(count * 8) + "]}}";
  std::vector<std::byte> image = safetensors_image(header);
  const auto* raw = reinterpret_cast<const std::byte*>(values.data());
  image.insert(image.end(), raw, raw + count * 8);
  scratch_directory scratch;
  const auto write_image = [&] {
    std::ofstream out(scratch / "big.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(image.data()), std::streamsize(image.size()));
  };
  write_image();
  {
    const safetensors_reader reader = safetensors_reader::open(scratch / "big.safetensors");
    const std::vector<float> narrowed = reader.read_as<float>("d");
    const std::vector<double> same = reader.read_as<double>("d");  // read again after its pages were given back
    bool all_equal = true;
    for (std::size_t i = 0; i < count; ++i) all_equal = all_equal && narrowed[i] == float(values[i]) && same[i] == values[i];
    CHECK(all_equal);
  }
  const std::size_t beyond_first_chunk = (std::size_t{16} << 20) / 8 + 12'345;
  const double too_big = 1e300;
  std::memcpy(image.data() + (image.size() - count * 8) + beyond_first_chunk * 8, &too_big, 8);
  write_image();
  const safetensors_reader reader = safetensors_reader::open(scratch / "big.safetensors");
  CHECK_THAT(io_error_message([&] { reader.read_as<float>("d"); }),
             Contains("element " + std::to_string(beyond_first_chunk) + " is 1e+300, beyond the range of float"));
}

TEST_CASE("integer tensors read as int32 and int64, narrowing checked value by value", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  CHECK(reader.read_as<std::int64_t>("i64") == std::vector<std::int64_t>{-(std::int64_t{1} << 62), std::int64_t{1} << 40});
  CHECK_THAT(io_error_message([&] { reader.read_as<std::int32_t>("i64"); }),
             Contains("tensor 'i64' (I64, shape [2]) element 0 is -4611686018427387904, beyond the range of int32"));
  const std::vector<std::int32_t> i32{-7, 0, 2147483647, -2147483647 - 1};
  CHECK(reader.read_as<std::int32_t>("i32") == i32);
  CHECK(reader.read_as<std::int64_t>("i32") == std::vector<std::int64_t>(i32.begin(), i32.end()));
  CHECK(reader.read_as<std::int32_t>("i16") == std::vector<std::int32_t>{-300, 0, 300});
  CHECK(reader.read_as<std::int64_t>("i8") == std::vector<std::int64_t>{-128, -1, 0, 127});
  CHECK(reader.read_as<std::int32_t>("u8") == std::vector<std::int32_t>{0, 128, 255});
}

TEST_CASE("read_as refuses a dtype of the other kind and names what it accepts", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  CHECK_THAT(io_error_message([&] { reader.read_as<float>("i32"); }),
             Contains("tensor 'i32' (I32, shape [2, 2]) cannot be read as float; expected dtype F16, BF16, F32 or F64"));
  CHECK_THAT(io_error_message([&] { reader.read_as<std::int64_t>("f32"); }),
             Contains("cannot be read as int64; expected dtype I8, U8, I16, I32 or I64"));
  CHECK_THAT(io_error_message([&] { reader.read_as<std::int32_t>("bool"); }), Contains("cannot be read as int32"));
  // An empty tensor too: it has no element to convert, but its dtype is still of the other kind.
  const auto empty = safetensors_reader::from_bytes(safetensors_image(R"({"e":{"dtype":"I32","shape":[0],"data_offsets":[0,0]}})"));
  CHECK(empty.read_as<std::int64_t>("e").empty());
  CHECK_THAT(io_error_message([&] { empty.read_as<float>("e"); }), Contains("cannot be read as float"));
}

TEST_CASE("raw bytes are the stored little-endian bytes, for every dtype", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  const std::span<const std::byte> booleans = reader.bytes("bool");
  REQUIRE(booleans.size() == 2);
  CHECK(booleans[0] == std::byte{1});
  CHECK(booleans[1] == std::byte{0});
  const std::span<const std::byte> i16 = reader.bytes("i16");
  REQUIRE(i16.size() == 6);
  CHECK(i16[0] == std::byte{0xD4});  // -300 = 0xFED4, low byte first
  CHECK(i16[1] == std::byte{0xFE});
  CHECK(reader.bytes("empty").empty());
  CHECK(reader.bytes("scalar").size() == 4);
}

TEST_CASE("read_into fills a caller's buffer of exactly the element count", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  std::vector<double> out(4);
  reader.read_into("f64", std::span<double>(out));
  CHECK(out[1] == -1.25);
  std::vector<double> too_small(3);
  CHECK_THAT(io_error_message([&] { reader.read_into("f64", std::span<double>(too_small)); }),
             Contains("needs room for 4 elements, but the output holds 3"));
}

TEST_CASE("asking for a missing tensor names it and lists what the file has", "[io][safetensors]") {
  const safetensors_reader reader = open_all_dtypes();
  CHECK_THAT(io_error_message([&] { reader.entry("model.f32"); }),
             Contains("all_dtypes.safetensors") && Contains("no tensor named 'model.f32'; it has 11 tensors: 'i64', 'f64'") &&
                 Contains(", ..."));
  CHECK_THAT(io_error_message([&] { reader.read_as<float>("nope"); }), Contains("no tensor named 'nope'"));
}

TEST_CASE("data at odd addresses reads correctly", "[io][safetensors]") {
  // The format does not promise alignment, and an in-memory image may start anywhere.
  const std::vector<std::byte> file = read_whole_file(fixture_path("all_dtypes.safetensors"));
  std::vector<std::byte> shifted(file.size() + 1);
  std::copy(file.begin(), file.end(), shifted.begin() + 1);
  const safetensors_reader reader = safetensors_reader::from_bytes(std::span(shifted).subspan(1));
  CHECK(reader.read_as<double>("f64")[0] == 0.5);
  CHECK(reader.read_as<std::int64_t>("i64")[1] == std::int64_t{1} << 40);
  CHECK(reader.source() == "<memory>");
}

TEST_CASE("files that cannot be read give errors that name them", "[io][safetensors]") {
  scratch_directory scratch;
  CHECK_THAT(io_error_message([&] { safetensors_reader::open(scratch / "absent.safetensors"); }),
             Contains("absent.safetensors") && Contains("No such file or directory"));
  CHECK_THAT(io_error_message([&] { safetensors_reader::open(scratch.path()); }), Contains("is not a regular file"));
  write_whole_file(scratch / "empty.safetensors", "");
  CHECK_THAT(io_error_message([&] { safetensors_reader::open(scratch / "empty.safetensors"); }),
             Contains("safetensors file '") && Contains("empty.safetensors': file is 0 bytes long"));
  write_whole_file(scratch / "text.safetensors", "hello, this is not a safetensors file");
  CHECK_THAT(io_error_message([&] { safetensors_reader::open(scratch / "text.safetensors"); }),
             Contains("text.safetensors") && Contains("over the limit"));
  CHECK_THAT(io_error_message([&] { safetensors_reader::from_bytes(safetensors_image("[]"), "buffer #3"); }),
             Contains("safetensors buffer #3: expected the header to be a JSON object"));
}

}  // namespace io_test_safetensors_reader
