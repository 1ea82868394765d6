// Specification of io/safetensors_format.hpp: what a valid safetensors file is, and for every
// rule a file that breaks it, with the error that says so.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/safetensors_format.hpp"

namespace io_test_safetensors_format {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

safetensors_header parse(std::string_view header, std::size_t data_bytes = 0) {
  const std::vector<std::byte> image = safetensors_image(header, data_bytes);
  return parse_safetensors_header(image, "<memory>");
}

std::string parse_error(std::string_view header, std::size_t data_bytes = 0) {
  return io_error_message([&] { parse(header, data_bytes); });
}

std::string parse_error(const std::vector<std::byte>& image) {
  return io_error_message([&] { parse_safetensors_header(image, "<memory>"); });
}

// A header with one F32 tensor "t" of `count` elements at [0, 4 * count).
std::string one_f32(int count) {
  return R"({"t":{"dtype":"F32","shape":[)" + std::to_string(count) + R"(],"data_offsets":[0,)" +
         std::to_string(4 * count) + "]}}";
}

}  // namespace

TEST_CASE("a well-formed file yields its entries, metadata and data section", "[io][safetensors]") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[12,20]}}    )";
  const safetensors_header parsed = parse(header, 20);

  CHECK(parsed.header_bytes == header.size());
  CHECK(parsed.data_offset() == 8 + header.size());
  CHECK(parsed.data_bytes == 20);
  CHECK(parsed.metadata == std::map<std::string, std::string, std::less<>>{{"format", "pt"}});
  REQUIRE(parsed.entries.size() == 2);
  const safetensors_entry& w = parsed.entries[0];
  CHECK(w.name == "w");
  CHECK(w.element_type == dtype::f16);
  CHECK(w.shape == std::vector<std::int64_t>{2, 3});
  CHECK(w.begin == 0);
  CHECK(w.end == 12);
  CHECK(w.element_count() == 6);
  const safetensors_entry& b = parsed.entries[1];
  CHECK(b.element_type == dtype::i64);
  CHECK(b.shape.empty());  // a scalar: one element
  CHECK(b.element_count() == 1);
  CHECK(parsed.find("b") == &b);
  CHECK(parsed.find("missing") == nullptr);
}

TEST_CASE("every dtype name ranklens has is read, with its element size", "[io][safetensors]") {
  for (const dtype type : {dtype::f16, dtype::bf16, dtype::f32, dtype::f64, dtype::i8, dtype::u8, dtype::i16,
                           dtype::i32, dtype::i64, dtype::boolean}) {
    const std::size_t bytes = 3 * size_of(type);
    const std::string header = R"({"t":{"dtype":")" + std::string(name_of(type)) +
                               R"(","shape":[3],"data_offsets":[0,)" + std::to_string(bytes) + "]}}";
    const safetensors_header parsed = parse(header, bytes);
    CHECK(parsed.entries.at(0).element_type == type);
  }
}

TEST_CASE("entries come out in data order whatever the header order", "[io][safetensors]") {
  const safetensors_header parsed = parse(R"({"c":{"dtype":"U8","shape":[1],"data_offsets":[3,4]},)"
                                          R"("a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},)"
                                          R"("b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                                          4);
  REQUIRE(parsed.entries.size() == 3);
  CHECK(parsed.entries[0].name == "b");
  CHECK(parsed.entries[1].name == "a");
  CHECK(parsed.entries[2].name == "c");
  CHECK(parsed.find("c")->begin == 3);
}

TEST_CASE("JSON whitespace may surround the header object, as writers pad it", "[io][safetensors]") {
  CHECK(parse(one_f32(1) + "       ", 4).entries.size() == 1);
  CHECK(parse("  \n" + one_f32(1) + "\t\r\n ", 4).entries.size() == 1);
}

TEST_CASE("zero-size tensors may share an offset with their neighbours, even at the end", "[io][safetensors]") {
  const safetensors_header parsed = parse(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                          R"("empty_first":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                          R"("empty_middle":{"dtype":"I8","shape":[0,5],"data_offsets":[4,4]},)"
                                          R"("y":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                                          R"("empty_last":{"dtype":"F64","shape":[3,0],"data_offsets":[6,6]}})",
                                          6);
  REQUIRE(parsed.entries.size() == 5);
  CHECK(parsed.entries[0].name == "empty_first");
  CHECK(parsed.entries[4].name == "empty_last");
  CHECK(parsed.find("empty_middle")->element_count() == 0);
}

TEST_CASE("a header with no tensors describes an empty data section", "[io][safetensors]") {
  CHECK(parse("{}").entries.empty());
  const safetensors_header only_metadata = parse(R"({"__metadata__":{"a":"b","c":""}})");
  CHECK(only_metadata.entries.empty());
  CHECK(only_metadata.metadata.size() == 2);
  CHECK_THAT(parse_error("{}", 1), Contains("1 more follow"));
}

TEST_CASE("__metadata__ may be null, as the reference reads it", "[io][safetensors]") {
  const safetensors_header parsed = parse(R"({"__metadata__":null,)" + one_f32(1).substr(1), 4);
  CHECK(parsed.metadata.empty());
  CHECK(parsed.entries.size() == 1);
}

TEST_CASE("JSON escapes in names are decoded, and an empty name is a name", "[io][safetensors]") {
  const safetensors_header parsed = parse(R"({"a\u0062\n\u00e9":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                          R"("":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                                          2);
  CHECK(parsed.find("ab\n\xC3\xA9") != nullptr);
  CHECK(parsed.find("") != nullptr);
}

TEST_CASE("the file must hold at least the 8-byte header length", "[io][safetensors]") {
  const std::string message = parse_error(std::vector<std::byte>(5));
  CHECK_THAT(message, Contains("<memory>") && Contains("5 bytes long") && Contains("8-byte header length"));
}

TEST_CASE("a header length over 100,000,000 bytes is refused before anything is read", "[io][safetensors]") {
  CHECK_THAT(parse_error(safetensors_image("{}", 0, 100'000'001)),
             Contains("100000001") && Contains("over the limit of 100000000"));
  CHECK_THAT(parse_error(safetensors_image("{}", 0, ~std::uint64_t{0})), Contains("over the limit"));
  // At the limit the length is allowed, and what fails is the missing bytes.
  CHECK_THAT(parse_error(safetensors_image("{}", 0, 100'000'000)), Contains("only 2 bytes follow"));
}

TEST_CASE("a header length past the end of the file is a truncated file", "[io][safetensors]") {
  CHECK_THAT(parse_error(safetensors_image("{}", 0, 3)),
             Contains("header length is 3 bytes, but only 2 bytes follow") && Contains("truncated"));
}

TEST_CASE("the header must be valid UTF-8", "[io][safetensors]") {
  CHECK_THAT(parse_error("{\"t\xFF\":{}}"), Contains("not valid UTF-8 at file byte offset 11"));
  CHECK_THAT(parse_error("{\"\xC0\xAF\":{}}"), Contains("not valid UTF-8 at file byte offset 10"));  // overlong '/'
  CHECK_THAT(parse_error("{\"\xED\xA0\x80\":{}}"), Contains("not valid UTF-8"));                      // surrogate
  CHECK_THAT(parse_error("{\"\xE2\x98\":{}}"), Contains("not valid UTF-8"));                          // cut short
}

TEST_CASE("the header must be JSON", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"t":)"), Contains("not valid JSON"));
  CHECK_THAT(parse_error(""), Contains("not valid JSON"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32",}})"), Contains("not valid JSON"));
  CHECK_THAT(parse_error(R"({/*comment*/})"), Contains("not valid JSON"));
  CHECK_THAT(parse_error("{'t':1}"), Contains("not valid JSON") && Contains("file byte offset 9"));
  CHECK_THAT(parse_error(R"({"\ud800":{}})"), Contains("not valid JSON"));  // lone surrogate escape
}

TEST_CASE("only whitespace may follow the header object", "[io][safetensors]") {
  CHECK_THAT(parse_error("{}x"), Contains("not valid JSON"));
  CHECK_THAT(parse_error("{}{}"), Contains("not valid JSON"));
  // nlohmann alone would stop at a NUL and accept this; the reference refuses it.
  CHECK_THAT(parse_error(std::string("{}\0\0", 4)), Contains("NUL byte at file byte offset 10"));
}

TEST_CASE("the header must not start with a byte order mark", "[io][safetensors]") {
  // nlohmann alone would skip it; the reference refuses it.
  CHECK_THAT(parse_error("\xEF\xBB\xBF{}"), Contains("byte order mark"));
}

TEST_CASE("the header must be an object", "[io][safetensors]") {
  CHECK_THAT(parse_error("[]"), Contains("expected the header to be a JSON object, found an array"));
  CHECK_THAT(parse_error("\"text\""), Contains("expected the header to be a JSON object"));
  CHECK_THAT(parse_error("7"), Contains("expected the header to be a JSON object"));
}

TEST_CASE("__metadata__ must be an object of strings, given once, with unique keys", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"__metadata__":[]})"), Contains("__metadata__ to be an object of strings"));
  CHECK_THAT(parse_error(R"({"__metadata__":"x"})"), Contains("__metadata__ to be an object of strings"));
  CHECK_THAT(parse_error(R"({"__metadata__":{"epoch":3}})"),
             Contains("value for key 'epoch' to be a string, found the number 3"));
  CHECK_THAT(parse_error(R"({"__metadata__":{"a":{"b":"c"}}})"), Contains("value for key 'a' to be a string"));
  CHECK_THAT(parse_error(R"({"__metadata__":{"a":"1","a":"2"}})"), Contains("key 'a' twice"));
  CHECK_THAT(parse_error(R"({"__metadata__":{},"__metadata__":{}})"), Contains("__metadata__ twice"));
}

TEST_CASE("tensor names must be unique", "[io][safetensors]") {
  // nlohmann's DOM (and the reference's serde) would keep one silently; two entries with the
  // same name point at different bytes, so which one a loader got would be luck.
  const std::string header = R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  CHECK_THAT(parse_error(header, 8), Contains("<memory>") && Contains("tensor 't' twice"));
}

TEST_CASE("a tensor entry has exactly dtype, shape and data_offsets", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"t":3})"), Contains("tensor 't' to be an object"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","data_offsets":[0,4]}})", 4), Contains("tensor 't' lacks the field shape"));
  CHECK_THAT(parse_error(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4), Contains("lacks the field dtype"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","shape":[1]}})", 4), Contains("lacks the field data_offsets"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"offset":0}})", 4),
             Contains("tensor 't' has the unknown field 'offset'"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
             Contains("the field dtype twice"));
}

TEST_CASE("dtype must name a safetensors type that ranklens has", "[io][safetensors]") {
  const auto with_dtype = [](std::string_view dtype_json) {
    return R"({"t":{"dtype":)" + std::string(dtype_json) + R"(,"shape":[1],"data_offsets":[0,4]}})";
  };
  CHECK_THAT(parse_error(with_dtype(R"("F33")"), 4),
             Contains("tensor 't' has dtype 'F33', which is not a safetensors dtype") && Contains("F16, BF16, F32"));
  CHECK_THAT(parse_error(with_dtype(R"("f32")"), 4), Contains("not a safetensors dtype"));
  CHECK_THAT(parse_error(with_dtype(R"("U32")"), 4), Contains("'U32', a safetensors type that ranklens does not support"));
  CHECK_THAT(parse_error(with_dtype("32"), 4), Contains("dtype of tensor 't' to be a string"));
  CHECK_THAT(parse_error(with_dtype(R"({"F32":null})"), 4), Contains("dtype of tensor 't' to be a string"));
}

TEST_CASE("shape is an array of non-negative integers", "[io][safetensors]") {
  const auto with_shape = [](std::string_view shape_json) {
    return R"({"t":{"dtype":"U8","shape":)" + std::string(shape_json) + R"(,"data_offsets":[0,1]}})";
  };
  CHECK_THAT(parse_error(with_shape("[-1]"), 1), Contains("shape of tensor 't' holds the negative number -1"));
  CHECK_THAT(parse_error(with_shape("[-0]"), 1), Contains("negative"));
  CHECK_THAT(parse_error(with_shape("[1.0]"), 1), Contains("holds '1.0', which is not written as an integer"));
  CHECK_THAT(parse_error(with_shape("[1e0]"), 1), Contains("not written as an integer"));
  CHECK_THAT(parse_error(with_shape("[18446744073709551616]"), 1), Contains("does not fit 64 bits"));
  CHECK_THAT(parse_error(with_shape("[9223372036854775808]"), 1),
             Contains("dimension 0 of tensor 't' is 9223372036854775808, more than a shape can hold"));
  CHECK_THAT(parse_error(with_shape("1"), 1), Contains("shape of tensor 't' to be an array"));
  CHECK_THAT(parse_error(with_shape("[[1]]"), 1), Contains("shape of tensor 't' to be an array of non-negative integers"));
  CHECK_THAT(parse_error(with_shape(R"(["1"])"), 1), Contains("found a string"));
}

TEST_CASE("data_offsets is a (begin, end) pair of non-negative integers with begin <= end", "[io][safetensors]") {
  const auto with_offsets = [](std::string_view offsets_json) {
    return R"({"t":{"dtype":"U8","shape":[0],"data_offsets":)" + std::string(offsets_json) + "}}";
  };
  CHECK_THAT(parse_error(with_offsets("[0]")), Contains("has 1 numbers; expected exactly two"));
  CHECK_THAT(parse_error(with_offsets("[0,0,0]")), Contains("more than two numbers"));
  CHECK_THAT(parse_error(with_offsets("[-1,0]")), Contains("data_offsets of tensor 't' holds the negative number -1"));
  CHECK_THAT(parse_error(with_offsets("[0,0.5]")), Contains("not written as an integer"));
  CHECK_THAT(parse_error(with_offsets(R"({"begin":0})")), Contains("data_offsets of tensor 't' to be [begin, end]"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
             Contains("data_offsets [4, 0], which end before they begin"));
}

TEST_CASE("tensors must start at data byte 0 and follow each other without holes", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             Contains("tensor 't' starts at data byte 4") && Contains("the data section starts at 0") &&
                 Contains("no hole"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                         12),
             Contains("tensor 'b' starts at data byte 8 (data_offsets [8, 12]), but the tensor before it, 'a', ends at 4"));
}

TEST_CASE("tensors must not overlap", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         8),
             Contains("tensor 'b' (data_offsets [4, 8]) overlaps tensor 'a', which ends at data byte 8"));
  // The same bytes claimed twice.
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
                         4),
             Contains("overlaps"));
}

TEST_CASE("each tensor spans exactly product(shape) times its element size", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
             Contains("tensor 't' of dtype F32 and shape [2] needs 8 bytes, but its data_offsets [0, 4] span 4"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}})", 16),
             Contains("needs 8 bytes"));
}

TEST_CASE("shapes whose byte size overflows 64 bits are refused", "[io][safetensors]") {
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})"),
             Contains("tensor 't' has shape [4294967296, 4294967296, 0] and dtype F32") &&
                 Contains("overflows 64 bits"));
  CHECK_THAT(parse_error(R"({"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
             Contains("overflows 64 bits"));
  // Like the reference, the product runs left to right, so a leading zero keeps it at zero.
  CHECK(parse(R"({"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})").entries.size() == 1);
}

TEST_CASE("the last tensor must end exactly at the end of the file", "[io][safetensors]") {
  CHECK_THAT(parse_error(one_f32(1), 6), Contains("the tensors cover 4 data bytes, but 2 more follow") &&
                                             Contains("from file byte offset " + std::to_string(8 + one_f32(1).size() + 4)));
  CHECK_THAT(parse_error(one_f32(2), 4),
             Contains("tensor 't' (data_offsets [0, 8]) runs past the end of the file, whose data section holds 4 bytes"));
  // Offsets near 2^64 must not wrap around in the bounds arithmetic.
  CHECK_THAT(parse_error(R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}})"),
             Contains("starts at data byte 18446744073709551615"));
}

TEST_CASE("absurdly nested JSON is refused at the first level it does not belong", "[io][safetensors]") {
  const std::string deep = R"({"t":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  CHECK_THAT(parse_error(deep), Contains("tensor 't' to be an object"));
  const std::string deep_shape = R"({"t":{"shape":)" + std::string(100'000, '[');
  CHECK_THAT(parse_error(deep_shape), Contains("non-negative integers, found an array"));
}

TEST_CASE("errors name the file they come from", "[io][safetensors]") {
  const std::vector<std::byte> image = safetensors_image("[]");
  CHECK_THAT(io_error_message([&] { parse_safetensors_header(image, "file 'weights/model.safetensors'"); }),
             Contains("safetensors file 'weights/model.safetensors': "));
}

}  // namespace io_test_safetensors_format
