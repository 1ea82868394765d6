// libFuzzer target: arbitrary bytes through the safetensors reader. Refusing a file with
// ranklens::io_error is the expected outcome for almost every input; any other exception, a
// crash, a hang or a sanitizer report is a bug. An accepted file is then read the way a
// loader would, so the offsets the parser approved are also exercised.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ranklens/core/error.hpp"
#include "ranklens/io/safetensors_reader.hpp"

namespace {

// Touches every byte of every tensor and converts each to every type its dtype allows, so
// that an out-of-range offset shows up as an AddressSanitizer report here.
void read_everything(const ranklens::io::safetensors_reader& reader) {
  using ranklens::dtype;
  for (const ranklens::io::safetensors_entry& entry : reader.entries()) {
    unsigned checksum = 0;
    for (const std::byte b : reader.bytes(entry)) checksum += std::to_integer<unsigned>(b);
    static_cast<void>(checksum);
    try {
      switch (entry.element_type) {
        case dtype::f16:
        case dtype::bf16:
        case dtype::f32:
        case dtype::f64:
          static_cast<void>(reader.read_as<float>(entry.name));
          static_cast<void>(reader.read_as<double>(entry.name));
          break;
        case dtype::i8:
        case dtype::u8:
        case dtype::i16:
        case dtype::i32:
        case dtype::i64:
          static_cast<void>(reader.read_as<std::int32_t>(entry.name));
          static_cast<void>(reader.read_as<std::int64_t>(entry.name));
          break;
        case dtype::boolean: break;
      }
    } catch (const ranklens::io_error&) {
      // Values out of range for the narrower type; refusing them is correct.
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto reader = ranklens::io::safetensors_reader::from_bytes(bytes);
    read_everything(reader);
  } catch (const ranklens::io_error&) {
    // A refused file: the normal case.
  }
  return 0;
}
