// A fresh directory under the system's temporary one for a test's files, named after the test
// and the process (CTest runs test cases in parallel processes), removed with the object.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ranklens::test {

struct temporary_directory {
  std::filesystem::path path;
  explicit temporary_directory(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("ranklens-cuda-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path);
  }
  temporary_directory(const temporary_directory&) = delete;
  temporary_directory& operator=(const temporary_directory&) = delete;
  ~temporary_directory() { std::filesystem::remove_all(path); }
};

}  // namespace ranklens::test
