// Whether new results record a backward pass (PyTorch's torch.no_grad), and whether each op
// checks its results for NaN/Inf (torch.autograd.detect_anomaly). Both are per thread.
#pragma once

namespace ranklens {

namespace detail {
inline bool& grad_mode_flag() noexcept {
  thread_local bool enabled = true;
  return enabled;
}
inline bool& anomaly_mode_flag() noexcept {
  thread_local bool enabled = false;
  return enabled;
}
}  // namespace detail

inline bool grad_mode_enabled() noexcept { return detail::grad_mode_flag(); }
inline bool anomaly_mode_enabled() noexcept { return detail::anomaly_mode_flag(); }

// Sets a per-thread flag for the lifetime of the scope and restores the previous value.
class FlagScope {
 public:
  FlagScope(bool& flag, bool value) noexcept : flag_(flag), saved_(flag) { flag_ = value; }
  FlagScope(const FlagScope&) = delete;
  FlagScope& operator=(const FlagScope&) = delete;
  ~FlagScope() { flag_ = saved_; }

 private:
  bool& flag_;
  bool saved_;
};

// `auto guard = no_grad();` evaluation without recording: results need no gradient storage.
[[nodiscard]] inline FlagScope no_grad() noexcept { return FlagScope(detail::grad_mode_flag(), false); }
[[nodiscard]] inline FlagScope enable_grad() noexcept { return FlagScope(detail::grad_mode_flag(), true); }

// `auto guard = detect_anomaly();` every op checks its forward result, and backward checks
// each input gradient an op produced; the first NaN/Inf throws anomaly_error naming the op.
[[nodiscard]] inline FlagScope detect_anomaly(bool on = true) noexcept {
  return FlagScope(detail::anomaly_mode_flag(), on);
}

}  // namespace ranklens
