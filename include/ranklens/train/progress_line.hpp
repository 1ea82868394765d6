// ProgressLine: one line of live training progress,
//
//   step 1200/5000  loss 2.3141  eval 2.4010  51.2k tok/s  ETA 3m05s
//
// On a terminal it is rewritten in place ('\r', then clear to the end of the line) at most
// every `terminal_interval` seconds; into a file or pipe (a batch job's log) it prints a plain
// line every `log_interval` seconds instead, so logs stay readable. The first and last steps
// are always shown. The loss shown is the mean of the losses given since the line was last
// shown, the speed the tokens given over the time since then, and the ETA the remaining steps
// at the average time per step so far.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include <unistd.h>

#include "ranklens/core/config.hpp"

namespace ranklens::train {

struct ProgressOptions {
  double terminal_interval = 0.1;  // seconds between redraws on a terminal
  double log_interval = 10.0;      // seconds between plain lines otherwise
};

// "950", "51.2k", "1.30M": a rate in three significant digits.
inline std::string format_rate(double per_second) {
  char buffer[32];
  if (!std::isfinite(per_second)) return "-";
  if (per_second >= 1e6)
    std::snprintf(buffer, sizeof buffer, "%.3gM", per_second / 1e6);
  else if (per_second >= 1e3)
    std::snprintf(buffer, sizeof buffer, "%.3gk", per_second / 1e3);
  else
    std::snprintf(buffer, sizeof buffer, "%.0f", per_second);
  return buffer;
}

// "0.4s", "9.5s", "42s", "3m05s", "2h07m": a duration for a person (tenths below ten seconds,
// so that a short run does not read "done in 0s").
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char buffer[32];
  if (seconds < 9.95) {
    std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
    return buffer;
  }
  const long long s = std::llround(seconds);
  if (s < 60)
    std::snprintf(buffer, sizeof buffer, "%llds", s);
  else if (s < 3600)
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return buffer;
}

class ProgressLine {
 public:
  using clock_function = std::function<double()>;  // seconds since some fixed start

  // On stderr, redrawn in place when stderr is a terminal.
  explicit ProgressLine(index_t total_steps, ProgressOptions options = {})
      : ProgressLine(std::cerr, ::isatty(STDERR_FILENO) == 1, total_steps, options) {}

  // On `out`; `terminal` chooses in-place redraws. `clock` is for tests (default: steady_clock).
  ProgressLine(std::ostream& out, bool terminal, index_t total_steps, ProgressOptions options = {}, clock_function clock = {})
      : out_(&out), terminal_(terminal), total_steps_(total_steps), options_(options), clock_(std::move(clock)) {
    if (!clock_) {
      const auto start = std::chrono::steady_clock::now();
      clock_ = [start] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    }
    started_ = last_shown_ = clock_();
  }

  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { finish(); }

  // After step `step` (1-based) of total_steps, whose loss was `loss` and which read `tokens` tokens.
  void update(index_t step, double loss, index_t tokens = 0) {
    step_ = step;
    loss_sum_ += loss;
    ++losses_;
    tokens_ += tokens;
    const double now = clock_();
    const double interval = terminal_ ? options_.terminal_interval : options_.log_interval;
    if (shown_ == 0 || step == total_steps_ || now - last_shown_ >= interval) show(now);
  }

  // A resumed run: steps up to `step` were done before; the ETA counts from here on.
  void resume_from(index_t step) { step_ = first_step_ = step; }

  // The latest evaluation loss, shown from the next line on.
  void set_eval_loss(double loss) { eval_loss_ = loss; }

  // Shows the last step if it has not been, and ends the terminal line. Called by the destructor.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (losses_ > 0) show(clock_());
    if (terminal_ && shown_ > 0) *out_ << '\n' << std::flush;
  }

  // The text of the line now (without '\r' or newline).
  std::string text(double now) const {
    std::string line = "step " + std::to_string(step_) + "/" + std::to_string(total_steps_);
    char buffer[64];
    if (losses_ > 0) {
      std::snprintf(buffer, sizeof buffer, "  loss %.4f", loss_sum_ / double(losses_));
      line += buffer;
    }
    if (eval_loss_) {
      std::snprintf(buffer, sizeof buffer, "  eval %.4f", *eval_loss_);
      line += buffer;
    }
    const double since_shown = now - last_shown_;
    if (tokens_ > 0 && since_shown > 0) line += "  " + format_rate(double(tokens_) / since_shown) + " tok/s";
    if (step_ > first_step_ && step_ < total_steps_)
      line += "  ETA " + format_duration((now - started_) / double(step_ - first_step_) * double(total_steps_ - step_));
    else if (step_ >= total_steps_)
      line += "  done in " + format_duration(now - started_);
    return line;
  }

 private:
  void show(double now) {
    const std::string line = text(now);
    if (terminal_)
      *out_ << '\r' << line << "\x1b[K" << std::flush;  // ESC[K: clear what a longer line left
    else
      *out_ << line << '\n' << std::flush;
    ++shown_;
    last_shown_ = now;
    loss_sum_ = 0;
    losses_ = 0;
    tokens_ = 0;
  }

  std::ostream* out_;
  bool terminal_;
  index_t total_steps_;
  ProgressOptions options_;
  clock_function clock_;
  double started_ = 0, last_shown_ = 0;
  index_t step_ = 0, first_step_ = 0;
  double loss_sum_ = 0;
  index_t losses_ = 0;
  index_t tokens_ = 0;
  std::optional<double> eval_loss_;
  index_t shown_ = 0;
  bool finished_ = false;
};

}  // namespace ranklens::train
