// The exceptions ranklens throws. Messages name the operation (or file), what was found
// and what was expected, so that a user can fix the call without a debugger.
#pragma once
#include <stdexcept>
#include <string>

namespace ranklens {

// Base of every ranklens exception.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Tensor shapes that do not fit an operation, detected at run time.
struct shape_error : error {
  using error::error;
};

// A value outside what an operation accepts (bad flag, out-of-range index, bad config).
struct value_error : error {
  using error::error;
};

// A file that cannot be read or written, or whose contents break its format.
struct io_error : error {
  using error::error;
};

// Raised in anomaly mode at the first operation that produces NaN or Inf.
struct anomaly_error : error {
  using error::error;
};

}  // namespace ranklens
