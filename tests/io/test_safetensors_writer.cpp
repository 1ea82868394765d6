// Specification of io/safetensors_writer.hpp: the layout it writes, round trips through the
// reader, what it refuses, and saving to disk.
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/safetensors_reader.hpp"
#include "ranklens/io/safetensors_writer.hpp"

namespace io_test_safetensors_writer {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

constexpr dtype every_dtype[] = {dtype::f16, dtype::bf16, dtype::f32, dtype::f64, dtype::i8,
                                 dtype::u8,  dtype::i16,  dtype::i32, dtype::i64, dtype::boolean};

std::vector<std::byte> counting_bytes(std::size_t count, unsigned start = 0) {
  std::vector<std::byte> bytes(count);
  for (std::size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::byte>((start + i) & 0xFF);
  return bytes;
}

std::string value_error_message(auto&& action) {
  try {
    action();
  } catch (const ranklens::value_error& error) {
    return error.what();
  }
  FAIL("expected ranklens::value_error");
  return {};
}

}  // namespace

TEST_CASE("every dtype round-trips through bytes with its shape and data", "[io][safetensors]") {
  std::vector<std::vector<std::byte>> storage;
  safetensors_writer writer;
  for (const dtype type : every_dtype) {
    storage.push_back(counting_bytes(2 * 3 * size_of(type), static_cast<unsigned>(type) * 16));
    writer.add("tensor_" + std::string(name_of(type)), type, {2, 3}, storage.back());
  }
  const std::vector<std::byte> file = writer.to_bytes();
  CHECK(file.size() == writer.file_size());

  const safetensors_reader reader = safetensors_reader::from_bytes(file);
  REQUIRE(reader.entries().size() == std::size(every_dtype));
  for (std::size_t i = 0; i < std::size(every_dtype); ++i) {
    const dtype type = every_dtype[i];
    const safetensors_entry& entry = reader.entry("tensor_" + std::string(name_of(type)));
    CHECK(entry.element_type == type);
    CHECK(entry.shape == std::vector<std::int64_t>{2, 3});
    const std::span<const std::byte> bytes = reader.bytes(entry);
    CHECK(std::vector<std::byte>(bytes.begin(), bytes.end()) == storage[i]);
  }
}

TEST_CASE("typed add takes the dtype from the C++ type", "[io][safetensors]") {
  const std::vector<float> weights{1.0f, -2.5f, 3.25f, 0.0f};
  const std::vector<std::int64_t> token_ids{7, 11};
  const std::vector<std::uint8_t> mask{1, 0, 1};
  safetensors_writer writer;
  writer.add<float>("weights", {2, 2}, weights);
  writer.add<std::int64_t>("token_ids", {2}, token_ids);
  writer.add<std::uint8_t>("mask", {3}, mask);
  const std::vector<std::byte> file = writer.to_bytes();
  const safetensors_reader reader = safetensors_reader::from_bytes(file);
  CHECK(reader.read_as<float>("weights") == weights);
  CHECK(reader.read_as<std::int64_t>("token_ids") == token_ids);
  CHECK(reader.entry("mask").element_type == dtype::u8);
}

TEST_CASE("scalars, empty tensors and an empty file round-trip", "[io][safetensors]") {
  const std::vector<double> one{3.5};
  safetensors_writer writer;
  writer.add<double>("scalar", {}, one);
  writer.add("nothing", dtype::f32, {0, 7}, {});
  const std::vector<std::byte> file = writer.to_bytes();
  const safetensors_reader reader = safetensors_reader::from_bytes(file);
  CHECK(reader.entry("scalar").shape.empty());
  CHECK(reader.read_as<double>("scalar") == one);
  CHECK(reader.entry("nothing").shape == std::vector<std::int64_t>{0, 7});
  CHECK(reader.bytes("nothing").empty());

  const std::vector<std::byte> empty = safetensors_writer{}.to_bytes();
  CHECK(empty.size() == 16);  // length + "{}" padded to 8
  CHECK(safetensors_reader::from_bytes(empty).entries().empty());
}

TEST_CASE("tensors are laid out by descending dtype order, then by name, each aligned to its size",
          "[io][safetensors]") {
  std::vector<std::vector<std::byte>> storage;
  safetensors_writer writer;
  // Added in an order unlike the file order, one element each so offsets are not all aligned
  // by accident.
  for (const dtype type : every_dtype) {
    storage.push_back(counting_bytes(size_of(type)));
    writer.add(std::string(name_of(type)), type, {1}, storage.back());
  }
  storage.push_back(counting_bytes(4));
  writer.add("A", dtype::f32, {1}, storage.back());
  const safetensors_reader reader = safetensors_reader::from_bytes(writer.to_bytes());
  std::vector<std::string> order;
  for (const safetensors_entry& entry : reader.entries()) {
    order.push_back(entry.name);
    CHECK(entry.begin % size_of(entry.element_type) == 0);
  }
  CHECK(order == std::vector<std::string>{"I64", "F64", "A", "F32", "I32", "BF16", "F16", "I16", "I8", "U8", "BOOL"});
}

TEST_CASE("the header is compact JSON, metadata first, padded with spaces to 8 bytes", "[io][safetensors]") {
  const std::vector<std::int32_t> values{1, 2};
  safetensors_writer writer;
  writer.add<std::int32_t>("b", {2}, values);
  writer.set_metadata("z", "last");
  writer.set_metadata("a", "first");
  writer.set_metadata("a", "replaced");
  const std::string json = R"({"__metadata__":{"a":"replaced","z":"last"},)"
                           R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
  const std::string header = writer.header();
  CHECK(header.size() % 8 == 0);
  CHECK(header.substr(0, json.size()) == json);
  CHECK(header.substr(json.size()) == std::string(header.size() - json.size(), ' '));

  const std::vector<std::byte> file = writer.to_bytes();
  REQUIRE(file.size() == 8 + header.size() + 8);
  CHECK(file[0] == static_cast<std::byte>(header.size()));
  for (int i = 1; i < 8; ++i) CHECK(file[i] == std::byte{0});
  CHECK(safetensors_reader::from_bytes(file).metadata().at("a") == "replaced");
}

TEST_CASE("names are escaped as serde_json escapes them", "[io][safetensors]") {
  const std::vector<std::uint8_t> one{1};
  safetensors_writer writer;
  writer.add<std::uint8_t>(std::string("q\"b\\n\n\x01\x1f\x7f/\xC3\xA9", 12), {1}, one);
  const std::string expected = "{\"q\\\"b\\\\n\\n\\u0001\\u001f\x7f/\xC3\xA9\":";
  CHECK(writer.header().substr(0, expected.size()) == expected);
  const std::vector<std::byte> file = writer.to_bytes();
  CHECK(safetensors_reader::from_bytes(file).contains(std::string("q\"b\\n\n\x01\x1f\x7f/\xC3\xA9", 12)));
}

TEST_CASE("the writer refuses tensors that no reader would accept", "[io][safetensors]") {
  const std::vector<float> four(4);
  safetensors_writer writer;
  writer.add<float>("w", {4}, four);
  CHECK_THAT(value_error_message([&] { writer.add<float>("w", {4}, four); }), Contains("tensor 'w' is added twice"));
  CHECK_THAT(value_error_message([&] { writer.add<float>("x", {3}, four); }),
             Contains("tensor 'x' of dtype F32 and shape [3] needs 12 bytes, but 16 were given"));
  CHECK_THAT(value_error_message([&] { writer.add<float>("x", {-1, -4}, four); }), Contains("negative dimension"));
  CHECK_THAT(value_error_message([&] { writer.add<float>("x", {1 << 30, 1 << 30, 1 << 30}, four); }),
             Contains("over 64 bits"));
  CHECK_THAT(value_error_message([&] { writer.add<float>("__metadata__", {4}, four); }), Contains("reserved"));
  CHECK_THAT(value_error_message([&] { writer.add<float>("bad\xFF", {4}, four); }),
             Contains("tensor name is not valid UTF-8 (bad byte at offset 3)"));
  CHECK_THAT(value_error_message([&] { writer.set_metadata("k", "\xC3"); }), Contains("metadata value is not valid UTF-8"));
  // Nothing refused was added.
  CHECK(safetensors_reader::from_bytes(writer.to_bytes()).entries().size() == 1);
}

TEST_CASE("save writes a file the reader opens, replacing what was there", "[io][safetensors]") {
  scratch_directory scratch;
  const auto path = scratch / "model.safetensors";
  write_whole_file(path, "old contents");
  const std::vector<double> values{1.0, 2.0, 3.0};
  safetensors_writer writer;
  writer.add<double>("v", {3}, values);
  writer.set_metadata("step", "10");
  writer.save(path);

  CHECK(read_whole_file(path) == writer.to_bytes());
  const safetensors_reader reader = safetensors_reader::open(path);
  CHECK(reader.read_as<double>("v") == values);
  CHECK(reader.metadata().at("step") == "10");
  CHECK(scratch.file_names() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("a reader that has a file mapped keeps its contents when the file is saved over", "[io][safetensors]") {
  scratch_directory scratch;
  const auto path = scratch / "model.safetensors";
  const std::vector<float> before{1.0f, 2.0f};
  const std::vector<float> after{5.0f, 6.0f, 7.0f};
  safetensors_writer first;
  first.add<float>("w", {2}, before);
  first.save(path);
  const safetensors_reader old_reader = safetensors_reader::open(path);

  safetensors_writer second;
  second.add<float>("w", {3}, after);
  second.save(path);
  CHECK(old_reader.read_as<float>("w") == before);  // truncation in place would SIGBUS here
  CHECK(safetensors_reader::open(path).read_as<float>("w") == after);
}

TEST_CASE("save into a missing directory fails, naming the path, and creates nothing", "[io][safetensors]") {
  scratch_directory scratch;
  safetensors_writer writer;
  CHECK_THAT(io_error_message([&] { writer.save(scratch / "no/such/dir/model.safetensors"); }),
             Contains("no/such/dir/model.safetensors.tmp.") && Contains("No such file or directory"));
  CHECK(scratch.file_names().empty());
}

}  // namespace io_test_safetensors_writer
