// What a training run reports at a logged step, and the writer that puts it in a CSV file and
// a JSON-lines file, one line per record, through LineFile (whole lines only, parent
// directories created).
//
//   CSV:   step,lr,train_loss,eval_loss,grad_norm,tokens_per_second,elapsed_seconds
//   JSONL: {"step":200,"lr":0.0003,"train_loss":2.31,"eval_loss":2.35,"eval_loss_by_position":[4.1,3.2,...],
//           "grad_norm":0.84,"tokens_per_second":51200,"elapsed_seconds":12.5}
//
// A value that was not measured at that step (no evaluation, no clipping) is an empty CSV
// field and JSON null; so is a NaN or infinite value in JSON, which has no such numbers (the
// CSV writes nan and inf, which pandas and numpy read). The per-position evaluation loss is in
// the JSON lines only. Numbers are written in the shortest form that reads back to the same
// double, so two identical runs write identical files; the learning rate, which a schedule
// computes, with ten significant digits.
#pragma once
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/train/line_file.hpp"

namespace ranklens::train {

struct Record {
  index_t step = 0;                           // optimizer steps taken
  double lr = 0;                              // the learning rate of the last of them
  std::optional<double> train_loss{};           // mean training loss of the steps since the previous record
  std::optional<double> eval_loss{};            // mean evaluation loss, when evaluated at this step
  std::vector<double> eval_loss_by_position{};  // mean evaluation loss at each sequence position
  std::optional<double> grad_norm{};            // global gradient norm before clipping, of the last step
  std::optional<double> tokens_per_second{};    // training tokens per second of training time since the previous record
  double elapsed_seconds = 0;                 // since the run started, evaluation included
};

namespace detail {
// The shortest decimal that reads back as `value` ("0.1", "2.5e-05", "nan", "inf", "-inf").
inline std::string shortest_decimal(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}
// Ten significant digits, for values computed rather than measured (a schedule's learning rate
// of 6e-3 / 10 prints "0.0006", not its shortest round-trip "0.0006000000000000001").
inline std::string readable_decimal(double value) {
  if (!std::isfinite(value)) return shortest_decimal(value);
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, 10);
  return std::string(buffer, result.ptr);
}
inline std::string json_number(double value) { return std::isfinite(value) ? shortest_decimal(value) : "null"; }
inline std::string json_number(const std::optional<double>& value) { return value ? json_number(*value) : "null"; }
inline std::string csv_number(const std::optional<double>& value) { return value ? shortest_decimal(*value) : ""; }
}  // namespace detail

// One CSV line of `record`, without the newline (the header is MetricsWriter::csv_header).
inline std::string csv_line(const Record& record) {
  using detail::csv_number;
  return std::to_string(record.step) + "," + detail::readable_decimal(record.lr) + "," + csv_number(record.train_loss) + "," +
         csv_number(record.eval_loss) + "," + csv_number(record.grad_norm) + "," + csv_number(record.tokens_per_second) + "," +
         csv_number(record.elapsed_seconds);
}

// One JSON object of `record` on one line.
inline std::string json_line(const Record& record) {
  using detail::json_number;
  std::string line = "{\"step\":" + std::to_string(record.step) + ",\"lr\":" + (std::isfinite(record.lr) ? detail::readable_decimal(record.lr) : "null") +
                     ",\"train_loss\":" + json_number(record.train_loss) + ",\"eval_loss\":" + json_number(record.eval_loss);
  if (record.eval_loss) {
    line += ",\"eval_loss_by_position\":[";
    for (std::size_t t = 0; t < record.eval_loss_by_position.size(); ++t) {
      if (t > 0) line += ',';
      line += json_number(record.eval_loss_by_position[t]);
    }
    line += "]";
  }
  line += ",\"grad_norm\":" + json_number(record.grad_norm) + ",\"tokens_per_second\":" + json_number(record.tokens_per_second) +
          ",\"elapsed_seconds\":" + json_number(record.elapsed_seconds) + "}";
  return line;
}

// Writes records to either file or both (an empty path writes none). A replaced or new CSV file
// starts with the header; an appended one gets the header only if it is empty.
class MetricsWriter {
 public:
  static constexpr const char* csv_header = "step,lr,train_loss,eval_loss,grad_norm,tokens_per_second,elapsed_seconds";

  MetricsWriter() = default;
  MetricsWriter(const std::filesystem::path& csv_path, const std::filesystem::path& jsonl_path,
                LineFile::mode open_mode = LineFile::mode::replace) {
    if (!csv_path.empty()) {
      csv_.emplace(csv_path, open_mode);
      if (csv_->empty()) csv_->write_line(csv_header);
    }
    if (!jsonl_path.empty()) jsonl_.emplace(jsonl_path, open_mode);
  }

  void write(const Record& record) {
    if (csv_) csv_->write_line(csv_line(record));
    if (jsonl_) jsonl_->write_line(json_line(record));
  }

 private:
  std::optional<LineFile> csv_;
  std::optional<LineFile> jsonl_;
};

}  // namespace ranklens::train
