// Specification of io/mapped_file.hpp.
#include <algorithm>
#include <fstream>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/mapped_file.hpp"

namespace io_test_mapped_file {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

TEST_CASE("a mapped file shows exactly the file's bytes", "[io][mapped_file]") {
  scratch_directory scratch;
  write_whole_file(scratch / "data.bin", std::string("abc\0def", 7));
  const mapped_file file(scratch / "data.bin");
  REQUIRE(file.size() == 7);
  CHECK(file.bytes().size() == 7);
  CHECK(file.bytes()[3] == std::byte{0});
  CHECK(file.bytes()[6] == std::byte{'f'});
  CHECK(file.path() == scratch / "data.bin");
}

TEST_CASE("release gives back the pages of a range, which read the same afterwards", "[io][mapped_file]") {
  scratch_directory scratch;
  constexpr std::size_t size = std::size_t{8} << 20;
  std::string contents(size, '\0');
  for (std::size_t i = 0; i < size; ++i) contents[i] = char(i * 7 % 251);
  write_whole_file(scratch / "data.bin", contents);
  const mapped_file file(scratch / "data.bin");
  // Resident pages of this process, from /proc/self/statm (the second field).
  const auto resident_bytes = [] {
    std::ifstream statm("/proc/self/statm");
    std::size_t total = 0, resident = 0;
    statm >> total >> resident;
    return resident * std::size_t(::sysconf(_SC_PAGESIZE));
  };
  std::size_t sum = 0;
  for (const std::byte b : file.bytes()) sum += std::size_t(b);  // every page is now resident
  const std::size_t before = resident_bytes();
  file.release(file.bytes().subspan(1));  // an unaligned start: the first page stays
  CHECK(double(before) - double(resident_bytes()) >= double(size / 2));
  std::size_t again = 0;
  for (const std::byte b : file.bytes()) again += std::size_t(b);
  CHECK(again == sum);
  CHECK(std::equal(contents.begin(), contents.end(), reinterpret_cast<const char*>(file.bytes().data())));
  file.release({});  // nothing to give back
}

TEST_CASE("an empty file maps to no bytes", "[io][mapped_file]") {
  scratch_directory scratch;
  write_whole_file(scratch / "empty.bin", "");
  const mapped_file file(scratch / "empty.bin");
  CHECK(file.size() == 0);
  CHECK(file.bytes().empty());
}

TEST_CASE("moving a mapped file keeps the bytes where they are", "[io][mapped_file]") {
  scratch_directory scratch;
  write_whole_file(scratch / "data.bin", "payload");
  mapped_file original(scratch / "data.bin");
  const std::byte* address = original.bytes().data();
  mapped_file moved(std::move(original));
  CHECK(moved.bytes().data() == address);
  CHECK(original.bytes().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  mapped_file assigned(scratch / "data.bin");
  assigned = std::move(moved);
  CHECK(assigned.bytes().data() == address);
}

TEST_CASE("mapping fails with the path and the system's reason", "[io][mapped_file]") {
  scratch_directory scratch;
  CHECK_THAT(io_error_message([&] { mapped_file file(scratch / "absent.bin"); }),
             Contains("cannot open '") && Contains("absent.bin' for reading: No such file or directory"));
  CHECK_THAT(io_error_message([&] { mapped_file file(scratch.path()); }), Contains("is not a regular file"));
}

}  // namespace io_test_mapped_file
