// Specification of io/tensor_io.hpp: named Tensors and Parameters to safetensors and back,
// with dtype conversion on both sides and shape checks on load.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/tensor_io.hpp"

namespace io_test_tensor_io {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

Tensor<float, Shape<2, 3>> small_matrix() { return Tensor<float, Shape<2, 3>>(Shape<2, 3>{}, {0.5f, -1.0f, 2.0f, 1e-3f, 3.25f, -0.0f}); }

}  // namespace

TEST_CASE("tensors of every element type round-trip with their names, shapes and values", "[io][tensor_io]") {
  const auto matrix = small_matrix();
  const Tensor<double, Shape<dyn>> vector(Shape<dyn>{3}, {1.0 / 3.0, -2.5, 1e300});
  const Tensor<std::int32_t, Shape<2, dyn>> ids(Shape<2, dyn>{2}, {1, -2, 3, std::numeric_limits<std::int32_t>::max()});
  const Tensor<std::int64_t, Shape<1>> counts(Shape<1>{}, {std::int64_t{1} << 40});

  tensor_writer writer;
  writer.add("matrix", matrix);
  writer.add("vector", vector);
  writer.add("ids", ids);
  writer.add("counts", counts);
  writer.set_metadata("note", "hello");
  const std::vector<std::byte> image = writer.to_bytes();
  const auto reader = safetensors_reader::from_bytes(image);

  CHECK(reader.entry("matrix").element_type == dtype::f32);
  CHECK(reader.entry("vector").element_type == dtype::f64);
  CHECK(reader.entry("ids").element_type == dtype::i32);
  CHECK(reader.entry("counts").element_type == dtype::i64);
  CHECK(reader.metadata().at("note") == "hello");

  const auto matrix_back = read_tensor<float, Shape<2, 3>>(reader, "matrix");
  CHECK(std::vector<float>(matrix_back.span().begin(), matrix_back.span().end()) ==
        std::vector<float>(matrix.span().begin(), matrix.span().end()));
  const auto vector_back = read_tensor<double, Shape<dyn>>(reader, "vector");
  CHECK(vector_back.extent(0) == 3);
  CHECK(vector_back(0) == 1.0 / 3.0);
  CHECK(vector_back(2) == 1e300);
  const auto ids_back = read_tensor<std::int32_t, Shape<dyn, dyn>>(reader, "ids");
  CHECK(ids_back.shape().dims == std::array<index_t, 2>{2, 2});
  CHECK(ids_back(1, 1) == std::numeric_limits<std::int32_t>::max());
  CHECK(read_tensor<std::int64_t, Shape<1>>(reader, "counts")(0) == std::int64_t{1} << 40);
}

TEST_CASE("floating tensors can be stored as F16, BF16, F32 or F64 and read back as float or double", "[io][tensor_io]") {
  const auto matrix = small_matrix();
  tensor_writer writer;
  writer.add("half", matrix, dtype::f16);
  writer.add("brain", matrix, dtype::bf16);
  writer.add("wide", matrix, dtype::f64);
  const Tensor<double, Shape<2>> precise(Shape<2>{}, {1.0 + 1e-12, 0.1});
  writer.add("narrow", precise, dtype::f32);
  const std::vector<std::byte> image = writer.to_bytes();
  const auto reader = safetensors_reader::from_bytes(image);

  CHECK(reader.entry("half").element_type == dtype::f16);
  CHECK(reader.entry("brain").element_type == dtype::bf16);
  CHECK(reader.entry("wide").element_type == dtype::f64);
  CHECK(reader.entry("narrow").element_type == dtype::f32);

  // Every value of the matrix but 1e-3 is exact in both 16-bit formats; 1e-3 rounds to the
  // nearest representable value, as the conversion functions define.
  const auto half = read_tensor<float, Shape<2, 3>>(reader, "half");
  const auto brain = read_tensor<double, Shape<2, 3>>(reader, "brain");
  for (index_t i = 0; i < 6; ++i) {
    CHECK(half.span()[std::size_t(i)] == f16_bits_to_float(float_to_f16_bits(matrix.span()[std::size_t(i)])));
    CHECK(brain.span()[std::size_t(i)] == double(bf16_bits_to_float(float_to_bf16_bits(matrix.span()[std::size_t(i)]))));
  }
  CHECK(half(0, 2) == 2.0f);
  CHECK(std::signbit(half(1, 2)));  // -0 keeps its sign
  CHECK(read_tensor<double, Shape<2, 3>>(reader, "wide")(1, 1) == 3.25);
  CHECK(read_tensor<double, Shape<2>>(reader, "narrow")(0) == double(float(1.0 + 1e-12)));
}

TEST_CASE("a strided view is saved in row-major order", "[io][tensor_io]") {
  auto matrix = small_matrix();  // rows (0.5, -1, 2) and (1e-3, 3.25, -0)
  // The transpose, as a view with swapped strides.
  const TensorView<const float, Shape<3, 2>> transposed(matrix.data(), Shape<3, 2>{}, {1, 3});
  tensor_writer writer;
  writer.add("transposed", transposed);
  const std::vector<std::byte> image = writer.to_bytes();
  const auto back = read_tensor<float, Shape<3, 2>>(safetensors_reader::from_bytes(image), "transposed");
  CHECK(back(0, 1) == 1e-3f);
  CHECK(back(2, 0) == 2.0f);
  CHECK(back(1, 1) == 3.25f);
}

TEST_CASE("a parameter is saved by value and loaded into in place", "[io][tensor_io]") {
  Parameter<float, Shape<2, 3>> weight(small_matrix(), "weight");
  tensor_writer writer;
  writer.add("layer.weight", weight);
  const std::vector<std::byte> image = writer.to_bytes();
  const auto reader = safetensors_reader::from_bytes(image);

  Parameter<float, Shape<2, 3>> other(Tensor<float, Shape<2, 3>>(Shape<2, 3>{}, 7.0f));
  const float* storage = other.value().data();
  read_into(reader, "layer.weight", other);
  CHECK(other.value().data() == storage);  // loaded in place: references held by optimizers stay valid
  CHECK(other.value()(1, 1) == 3.25f);
}

TEST_CASE("a stored shape that does not fit names the source, the tensor, both shapes", "[io][tensor_io]") {
  const auto matrix = small_matrix();
  tensor_writer writer;
  writer.add("w", matrix);
  const std::vector<std::byte> image = writer.to_bytes();
  const auto reader = safetensors_reader::from_bytes(image, "file 'weights.safetensors'");

  const std::string static_mismatch = io_error_message([&] { read_tensor<float, Shape<2, 4>>(reader, "w"); });
  CHECK_THAT(static_mismatch, Contains("file 'weights.safetensors'") && Contains("tensor 'w'") && Contains("[2, 3]") &&
                                  Contains("(2, 4)"));
  const std::string rank_mismatch = io_error_message([&] { read_tensor<float, Shape<dyn>>(reader, "w"); });
  CHECK_THAT(rank_mismatch, Contains("[2, 3]") && Contains("(dyn)"));
  // A dynamic extent in the type accepts any size when reading a new tensor...
  CHECK(read_tensor<float, Shape<dyn, 3>>(reader, "w").extent(0) == 2);
  // ...but reading into an existing tensor needs every extent to match.
  Tensor<float, Shape<dyn, 3>> three_rows(Shape<dyn, 3>{3});
  CHECK_THAT(io_error_message([&] { read_into(reader, "w", three_rows); }), Contains("(dyn=3, 3)") && Contains("[2, 3]"));
  CHECK_THAT(io_error_message([&] { read_tensor<float, Shape<2, 3>>(reader, "missing"); }), Contains("no tensor named 'missing'"));
}

TEST_CASE("integer tensors are stored as they are and refuse a floating dtype", "[io][tensor_io]") {
  const Tensor<std::int32_t, Shape<2>> ids(Shape<2>{}, {1, 2});
  tensor_writer writer;
  try {
    writer.add("ids", ids, dtype::f16);
    FAIL("expected value_error");
  } catch (const value_error& error) {
    CHECK_THAT(std::string(error.what()), Contains("'ids'") && Contains("I32") && Contains("F16"));
  }
}

TEST_CASE("save writes the file atomically and a failed save leaves the old file and no temporary", "[io][tensor_io]") {
  scratch_directory directory;
  const auto path = directory / "t.safetensors";
  const auto first = small_matrix();
  {
    tensor_writer writer;
    writer.add("w", first);
    writer.save(path);
  }
  const std::vector<std::byte> saved = read_whole_file(path);

  const Tensor<float, Shape<1000>> big(Shape<1000>{}, 1.0f);
  tensor_writer writer;
  writer.add("w", big);
  std::uint64_t reported_total = 0;
  const std::string message = [&] {
    try {
      writer.save(path, [&](std::uint64_t written, std::uint64_t total) {
        reported_total = total;
        if (written > 100) throw io_error("simulated failure after " + std::to_string(written) + " bytes");
      });
    } catch (const io_error& error) {
      return std::string(error.what());
    }
    return std::string();
  }();
  CHECK_THAT(message, Contains("simulated failure"));
  CHECK(reported_total == writer.file_size());
  CHECK(read_whole_file(path) == saved);
  CHECK(directory.file_names() == std::vector<std::string>{"t.safetensors"});

  writer.save(path);
  CHECK(read_tensor<float, Shape<1000>>(path, "w")(999) == 1.0f);
}

}  // namespace io_test_tensor_io
