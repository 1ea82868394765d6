// Mean and standard error of a stream of Monte Carlo samples, for every estimate in data/
// that reports an error bar.
#pragma once
#include <cmath>

#include "ranklens/core/config.hpp"

namespace ranklens::data {

// Mean and standard error of the mean of a stream of numbers (Welford's update).
class running_mean {
 public:
  void add(double value) noexcept {
    ++count_;
    const double delta = value - mean_;
    mean_ += delta / static_cast<double>(count_);
    squares_ += delta * (value - mean_);
  }
  index_t count() const noexcept { return count_; }
  double mean() const noexcept { return mean_; }
  double standard_error() const noexcept {
    if (count_ < 2) return 0.0;
    const auto n = static_cast<double>(count_);
    return std::sqrt(squares_ / (n - 1.0) / n);
  }

 private:
  index_t count_ = 0;
  double mean_ = 0.0;
  double squares_ = 0.0;
};

}  // namespace ranklens::data
