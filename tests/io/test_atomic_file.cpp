// Specification of io/atomic_file.hpp: the target holds either its old contents or the
// complete new ones, and a failed write leaves no temporary file behind.
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "io_test_support.hpp"
#include "ranklens/io/atomic_file.hpp"

namespace io_test_atomic_file {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;
using Catch::Matchers::Contains;

namespace {

std::span<const std::byte> as_bytes_of(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

}  // namespace

TEST_CASE("a new file appears with all its contents", "[io][atomic_file]") {
  scratch_directory scratch;
  write_file_atomically(scratch / "out.bin", [](atomic_file& file) {
    file.write(as_bytes_of("hello, "));
    file.write(as_bytes_of("world"));
  });
  CHECK(read_text_file(scratch / "out.bin") == "hello, world");
  CHECK(scratch.file_names() == std::vector<std::string>{"out.bin"});
}

TEST_CASE("the bytes go to <target>.tmp.<pid> until commit renames it over the target", "[io][atomic_file]") {
  scratch_directory scratch;
  write_whole_file(scratch / "out.bin", "old");
  write_file_atomically(scratch / "out.bin", [&](atomic_file& file) {
    CHECK(file.temporary() == scratch / ("out.bin.tmp." + std::to_string(::getpid())));
    file.write(as_bytes_of("new"));
    CHECK(std::filesystem::exists(file.temporary()));
    CHECK(read_text_file(scratch / "out.bin") == "old");
  });
  CHECK(read_text_file(scratch / "out.bin") == "new");
  CHECK(scratch.file_names() == std::vector<std::string>{"out.bin"});
}

TEST_CASE("large writes, past the internal buffer, arrive intact and in order", "[io][atomic_file]") {
  scratch_directory scratch;
  std::string expected;
  write_file_atomically(scratch / "big.bin", [&](atomic_file& file) {
    for (int block = 0; block < 40; ++block) {
      // Sizes from a few bytes to 3 MiB, so both the buffered and the direct paths run.
      const std::string chunk(static_cast<std::size_t>(1) << (block % 22), static_cast<char>('a' + block % 26));
      expected += chunk;
      file.write(as_bytes_of(chunk));
    }
  });
  CHECK(read_text_file(scratch / "big.bin") == expected);
}

TEST_CASE("when the producer throws midway, the old file is intact and the temporary is gone",
          "[io][atomic_file]") {
  scratch_directory scratch;
  write_whole_file(scratch / "model.bin", "previous checkpoint");
  const auto failing_write = [&] {
    write_file_atomically(scratch / "model.bin", [](atomic_file& file) {
      // Enough to have reached the disk, not just the buffer.
      const std::string half_a_model(3 << 20, 'x');
      file.write(as_bytes_of(half_a_model));
      throw std::runtime_error("simulated failure while serializing");
    });
  };
  // The producer's own exception reaches the caller unchanged.
  CHECK_THROWS_WITH(failing_write(), "simulated failure while serializing");
  CHECK(read_text_file(scratch / "model.bin") == "previous checkpoint");
  CHECK(scratch.file_names() == std::vector<std::string>{"model.bin"});
}

TEST_CASE("an abandoned atomic_file removes its temporary and leaves no target", "[io][atomic_file]") {
  scratch_directory scratch;
  {
    atomic_file file(scratch / "never.bin");
    file.write(as_bytes_of("draft"));
  }
  CHECK(scratch.file_names().empty());
}

TEST_CASE("a failed rename reports the error, removes the temporary and leaves the target", "[io][atomic_file]") {
  scratch_directory scratch;
  // A non-empty directory cannot be replaced by a file.
  std::filesystem::create_directories(scratch / "target" / "child");
  const std::string message = io_error_message([&] {
    write_file_atomically(scratch / "target", [](atomic_file& file) { file.write(as_bytes_of("data")); });
  });
  CHECK_THAT(message, Contains("cannot rename") && Contains("target' is unchanged"));
  CHECK(std::filesystem::is_directory(scratch / "target" / "child"));
  CHECK(scratch.file_names() == std::vector<std::string>{"target"});
}

TEST_CASE("the temporary cannot be created in a missing directory", "[io][atomic_file]") {
  scratch_directory scratch;
  CHECK_THAT(io_error_message([&] { atomic_file file(scratch / "missing" / "out.bin"); }),
             Contains("cannot create the temporary file") && Contains("missing/out.bin.tmp.") &&
                 Contains("No such file or directory"));
}

TEST_CASE("a temporary that already exists is an error, and is not deleted", "[io][atomic_file]") {
  scratch_directory scratch;
  const std::string stale = "out.bin.tmp." + std::to_string(::getpid());
  write_whole_file(scratch / stale, "someone else's");
  CHECK_THAT(io_error_message([&] { atomic_file file(scratch / "out.bin"); }), Contains("File exists"));
  CHECK(read_text_file(scratch / stale) == "someone else's");
}

TEST_CASE("a file is written once: writing or committing after commit is an error", "[io][atomic_file]") {
  scratch_directory scratch;
  atomic_file file(scratch / "out.bin");
  file.write(as_bytes_of("done"));
  file.commit();
  CHECK_THAT(io_error_message([&] { file.write(as_bytes_of("more")); }), Contains("write after commit"));
  CHECK_THAT(io_error_message([&] { file.commit(); }), Contains("commit after commit"));
  CHECK(read_text_file(scratch / "out.bin") == "done");
}

TEST_CASE("a relative target in the working directory works", "[io][atomic_file]") {
  scratch_directory scratch;
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(scratch.path());
  write_file_atomically("relative.bin", [](atomic_file& file) { file.write(as_bytes_of("here")); });
  std::filesystem::current_path(previous);
  CHECK(read_text_file(scratch / "relative.bin") == "here");
}

TEST_CASE("require_writable_directory makes the directory and leaves nothing in it, and names a path it cannot write", "[io][atomic_file]") {
  scratch_directory scratch;
  require_writable_directory(scratch / "runs" / "new", "--out");
  CHECK(std::filesystem::is_directory(scratch / "runs" / "new"));
  CHECK(std::filesystem::is_empty(scratch / "runs" / "new"));
  write_whole_file(scratch / "a_file", "x");
  CHECK_THAT(io_error_message([&] { require_writable_directory(scratch / "a_file" / "below", "--out"); }),
             Contains("--out " + (scratch / "a_file" / "below").string() + ": cannot write there ("));
  if (::geteuid() != 0) {  // root writes anywhere
    std::filesystem::create_directory(scratch / "locked");
    std::filesystem::permissions(scratch / "locked", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    CHECK_THAT(io_error_message([&] { require_writable_directory(scratch / "locked", "--out"); }), Contains("Permission denied"));
    std::filesystem::permissions(scratch / "locked", std::filesystem::perms::owner_all);
  }
}

}  // namespace io_test_atomic_file
