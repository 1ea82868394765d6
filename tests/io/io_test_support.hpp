// Helpers shared by the tests in tests/io: fixture files, scratch directories, hand-built
// safetensors images and error-message capture.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "ranklens/core/error.hpp"

namespace ranklens::io::testing {

// tests/io/fixtures, found next to this file unless the build says otherwise.
inline std::filesystem::path fixture_path(std::string_view name) {
#ifdef RANKLENS_IO_FIXTURE_DIR
  const std::filesystem::path directory = RANKLENS_IO_FIXTURE_DIR;
#else
  const std::filesystem::path directory = std::filesystem::path(__FILE__).parent_path() / "fixtures";
#endif
  return directory / name;
}

inline std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

inline void write_whole_file(const std::filesystem::path& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  REQUIRE(out.good());
}

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A fresh directory under the system temp directory, removed with everything in it.
class scratch_directory {
 public:
  scratch_directory() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("ranklens-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~scratch_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

  std::vector<std::string> file_names() const {
    std::vector<std::string> names;
    for (const auto& item : std::filesystem::directory_iterator(path_)) names.push_back(item.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

// A safetensors image: the 8-byte length (the header's real length unless overridden), the
// header text as given, then `data_bytes` bytes counting up from 0.
inline std::vector<std::byte> safetensors_image(std::string_view header, std::size_t data_bytes = 0,
                                                std::optional<std::uint64_t> declared_length = std::nullopt) {
  const std::uint64_t length = declared_length.value_or(header.size());
  std::vector<std::byte> image;
  for (int i = 0; i < 8; ++i) image.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xFF));
  for (const char c : header) image.push_back(static_cast<std::byte>(c));
  for (std::size_t i = 0; i < data_bytes; ++i) image.push_back(static_cast<std::byte>(i & 0xFF));
  return image;
}

// The message of the io_error that `action` throws; fails the test if it throws nothing or
// something else.
template <class Action>
std::string io_error_message(Action&& action) {
  try {
    action();
  } catch (const ranklens::io_error& error) {
    return error.what();
  } catch (const std::exception& other) {
    FAIL("expected ranklens::io_error, got another exception: " << other.what());
  }
  FAIL("expected ranklens::io_error, but nothing was thrown");
  return {};
}

}  // namespace ranklens::io::testing
