#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/train/metrics_writer.hpp"
#include "train_test_support.hpp"

namespace train_test_metrics_writer {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::train;

TEST_CASE("records become CSV and JSON lines in shortest round-trip form, the learning rate in ten digits", "[train][metrics]") {
  Record record{.step = 200, .lr = 3e-4, .train_loss = 2.5, .tokens_per_second = 51200.0, .elapsed_seconds = 12.25};
  CHECK(csv_line(record) == "200,0.0003,2.5,,,51200,12.25");
  CHECK(json_line(record) ==
        R"({"step":200,"lr":0.0003,"train_loss":2.5,"eval_loss":null,"grad_norm":null,"tokens_per_second":51200,"elapsed_seconds":12.25})");

  record.eval_loss = 0.1;
  record.eval_loss_by_position = {1.0 / 3.0, std::nan("")};
  record.grad_norm = 0.84;
  CHECK(csv_line(record) == "200,0.0003,2.5,0.1,0.84,51200,12.25");
  CHECK(json_line(record) ==
        R"({"step":200,"lr":0.0003,"train_loss":2.5,"eval_loss":0.1,"eval_loss_by_position":[0.3333333333333333,null],)"
        R"("grad_norm":0.84,"tokens_per_second":51200,"elapsed_seconds":12.25})");

  // A schedule's computed learning rate reads as the number that was meant.
  record.lr = 6e-3 / 10;
  CHECK(csv_line(record).starts_with("200,0.0006,"));
  CHECK(json_line(record).starts_with(R"({"step":200,"lr":0.0006,)"));

  // A diverged loss is visible as such in the CSV; JSON has no NaN, so it is null there.
  record.train_loss = std::nan("");
  CHECK(csv_line(record).starts_with("200,0.0006,nan,"));
  CHECK(json_line(record).find("\"train_loss\":null") != std::string::npos);
}

TEST_CASE("MetricsWriter writes a CSV header once and one line per record", "[train][metrics]") {
  const train_test::ScratchDirectory scratch("metrics_writer");
  const auto csv = scratch.path() / "run" / "metrics.csv", jsonl = scratch.path() / "run" / "metrics.jsonl";
  {
    MetricsWriter writer(csv, jsonl);
    writer.write({.step = 1, .lr = 0.1, .train_loss = 3.0});
    writer.write({.step = 2, .lr = 0.1, .train_loss = 2.0});
  }
  {
    MetricsWriter resumed(csv, jsonl, LineFile::mode::append);
    resumed.write({.step = 3, .lr = 0.1, .train_loss = 1.0});
  }
  const auto csv_lines = train_test::lines_of(train_test::read_file(csv));
  REQUIRE(csv_lines.size() == 4);
  CHECK(csv_lines[0] == MetricsWriter::csv_header);
  CHECK(csv_lines[3] == "3,0.1,1,,,,0");
  CHECK(train_test::lines_of(train_test::read_file(jsonl)).size() == 3);

  MetricsWriter csv_only(scratch.path() / "only.csv", {});
  csv_only.write({.step = 1});
  CHECK_FALSE(std::filesystem::exists(scratch.path() / "only.jsonl"));
}

}  // namespace train_test_metrics_writer
