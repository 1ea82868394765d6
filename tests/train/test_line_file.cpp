#include <catch2/catch.hpp>

#include "ranklens/train/line_file.hpp"
#include "train_test_support.hpp"

namespace train_test_line_file {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using train::LineFile;

TEST_CASE("LineFile creates missing directories and writes whole lines", "[train][line_file]") {
  const train_test::ScratchDirectory scratch("line_file_create");
  const auto path = scratch.path() / "runs" / "a" / "metrics.csv";
  {
    LineFile file(path);
    CHECK(file.empty());
    file.write_line("step,loss");
    file.write_line("1,2.5");
    CHECK(file.size() == 16);
  }
  CHECK(train_test::read_file(path) == "step,loss\n1,2.5\n");
  LineFile replaced(path);  // the default mode starts the file afresh
  replaced.write_line("x");
  CHECK(train_test::read_file(path) == "x\n");
}

TEST_CASE("LineFile reopened to append drops a line torn by a killed writer", "[train][line_file]") {
  const train_test::ScratchDirectory scratch("line_file_append");
  std::filesystem::create_directories(scratch.path());
  const auto path = scratch.path() / "metrics.jsonl";
  train_test::write_file(path, "{\"step\":1}\n{\"step\":2}\n{\"st");
  {
    LineFile file(path, LineFile::mode::append);
    CHECK(train_test::read_file(path) == "{\"step\":1}\n{\"step\":2}\n");
    file.write_line("{\"step\":3}");
  }
  CHECK(train_test::read_file(path) == "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");

  SECTION("a file that is one partial line becomes empty") {
    train_test::write_file(path, std::string(10000, 'x'));
    LineFile file(path, LineFile::mode::append);
    CHECK(file.empty());
  }
  SECTION("a newline deep in a long partial tail is found") {
    train_test::write_file(path, "kept\n" + std::string(10000, 'x'));
    LineFile file(path, LineFile::mode::append);
    CHECK(train_test::read_file(path) == "kept\n");
  }
}

TEST_CASE("LineFile refuses a line with a newline and reports failed writes", "[train][line_file]") {
  const train_test::ScratchDirectory scratch("line_file_errors");
  LineFile file(scratch.path() / "a.csv");
  CHECK_THROWS_AS(file.write_line("two\nlines"), value_error);
  CHECK(file.empty());
  if (std::filesystem::exists("/dev/full")) {  // every write there fails with ENOSPC
    LineFile full("/dev/full");
    CHECK_THROWS_WITH(full.write_line("lost"), Catch::Contains("cannot write") && Catch::Contains("/dev/full"));
  }
}

}  // namespace train_test_line_file
