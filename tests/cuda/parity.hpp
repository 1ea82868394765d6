// The harness of the CUDA parity tests (after ggml's test-backend-ops): every kernel runs on
// random inputs through the CPU kernel (cpu_reference.hpp) and the CUDA kernel, and the outputs
// are compared by their norm-wise relative error ‖cuda − cpu‖₂ / ‖cpu‖₂, which must stay within
// 1e-5 for float and 1e-2 for bfloat16. Outputs are poisoned with NaN before a kernel runs, so an
// element it leaves unwritten fails the comparison; gradients that are added into start from the
// same random values on both sides instead. Sizes are odd, with tails past every tile and vector
// width.
//
// bfloat16 inputs are rounded to bfloat16 first and the CPU reference runs in float on those
// rounded values, so the comparison measures the device's own error.
//
// Without a device each test warns "skipped: no CUDA device" and returns. Under the host emulation
// (RANKLENS_CUDA_EMULATION, scripts/cuda_emulation_test.sh) the same tests run on the host (a fiber
// per CUDA thread), at smaller sizes. RANKLENS_CUDA_TIMING=1 adds a timing line per case (CUDA events, median of 20).
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu_reference.hpp"
#include "ranklens/cuda/device_buffer.hpp"
#include "ranklens/cuda/launch.cuh"
#include "ranklens/cuda/numeric.cuh"

namespace ranklens::test::parity {

using cuda::bfloat16;

inline constexpr bool emulated = cuda::emulated;

// n on a device, the smaller m under the emulation or with RANKLENS_PARITY_SMALL=1 (for runs under
// compute-sanitizer, which slows kernels down a hundredfold).
inline index_t sized(index_t n, index_t m) {
  static const bool small = [] {
    const char* flag = std::getenv("RANKLENS_PARITY_SMALL");
    return emulated || (flag != nullptr && std::string(flag) == "1");
  }();
  return small ? m : n;
}

template <class T>
inline constexpr double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-2;

template <class T>
const char* type_name() {
  return std::is_same_v<T, float> ? "float" : "bfloat16";
}

// The value a T holds for x (x itself for float).
template <class T>
float representable(float x) {
  return cuda::to_float(cuda::from_float<T>(x));
}

inline std::vector<float> random_values(index_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

inline const float nan_value = std::numeric_limits<float>::quiet_NaN();

// Host values (as float, rounded to T) and their device copy in T.
template <class T>
class twin {
 public:
  explicit twin(std::vector<float> values) : host(std::move(values)), device_(index_t(host.size())) {
    for (auto& x : host) x = representable<T>(x);
    upload();
  }
  // n elements of NaN on both sides: an output.
  explicit twin(index_t n) : twin(std::vector<float>(static_cast<std::size_t>(n), nan_value)) {}

  void upload() {
    std::vector<T> converted(host.size());
    for (std::size_t i = 0; i < host.size(); ++i) converted[i] = cuda::from_float<T>(host[i]);
    device_.assign(converted);
  }
  std::vector<float> download() const {
    const std::vector<T> raw = device_.to_host();
    std::vector<float> out(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) out[i] = cuda::to_float(raw[i]);
    return out;
  }
  T* data() { return device_.data(); }
  float* cpu() { return host.data(); }
  index_t size() const { return index_t(host.size()); }

  std::vector<float> host;

 private:
  cuda::device_buffer<T> device_;
};

struct comparison {
  double error = 0;       // ‖got − want‖₂ / ‖want‖₂ (absolute when want is all zeros)
  index_t nans = 0;       // elements where exactly one of got and want is finite (or both, differently)
  index_t first_nan = -1;
};

inline comparison compare(const std::vector<float>& got, const std::vector<float>& want) {
  comparison c;
  if (got.size() != want.size()) {
    c.error = std::numeric_limits<double>::infinity();
    return c;
  }
  double difference = 0, norm = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(want[i])) {  // expected NaN or infinity: got must be the same
      const bool same = std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i];
      if (!same && c.nans++ == 0) c.first_nan = index_t(i);
      continue;
    }
    if (!std::isfinite(got[i])) {
      if (c.nans++ == 0) c.first_nan = index_t(i);
      continue;
    }
    const double d = double(got[i]) - double(want[i]);
    difference += d * d;
    norm += double(want[i]) * double(want[i]);
  }
  c.error = norm > 0 ? std::sqrt(difference / norm) : std::sqrt(difference);
  if (c.nans) c.error = std::numeric_limits<double>::infinity();
  return c;
}

// With RANKLENS_PARITY_LOG=<file>, every comparison is appended to that file as one line
// "name<TAB>error<TAB>tolerance<TAB>non-finite" (scripts/gpu_check.sh turns it into a table).
inline void log_comparison(const std::string& what, const comparison& c, double tol) {
  static std::FILE* log = [] {
    const char* path = std::getenv("RANKLENS_PARITY_LOG");
    return path != nullptr ? std::fopen(path, "a") : nullptr;
  }();
  if (log == nullptr) return;
  std::fprintf(log, "%s\t%.3e\t%.0e\t%lld\n", what.c_str(), c.error, tol, static_cast<long long>(c.nans));
  std::fflush(log);
}

// Checks got against want within tol, naming the output in the report.
inline void check_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double tol) {
  const comparison c = compare(got, want);
  log_comparison(what, c, tol);
  INFO(what << ": relative error " << c.error << " (tolerance " << tol << "), " << c.nans << " non-finite of " << got.size()
            << (c.nans ? ", first at " + std::to_string(c.first_nan) : std::string()));
  CHECK(c.nans == 0);
  CHECK(c.error <= tol);
}

template <class T>
void check_close(const std::string& what, const twin<T>& got, const std::vector<float>& want) {
  check_close(what + " (" + type_name<T>() + ")", got.download(), want, tolerance<T>);
}

// With RANKLENS_CUDA_TIMING=1: prints the median time of 20 runs of launches() (after 3 warm-ups).
template <class Launches>
void report_timing(const std::string& what, Launches&& launches) {
  static const bool on = [] {
    const char* flag = std::getenv("RANKLENS_CUDA_TIMING");
    return flag != nullptr && std::string(flag) == "1";
  }();
  if (!on) return;
  cudaEvent_t start = cuda::runtime::create_event(), stop = cuda::runtime::create_event();
  for (int i = 0; i < 3; ++i) launches();
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    cuda::runtime::record_event(start, cuda::current_stream());
    launches();
    cuda::runtime::record_event(stop, cuda::current_stream());
    cuda::runtime::synchronize_event(stop);
    ms.push_back(cuda::runtime::elapsed_ms(start, stop));
  }
  cuda::runtime::destroy_event(start);
  cuda::runtime::destroy_event(stop);
  std::nth_element(ms.begin(), ms.begin() + 10, ms.end());
  std::printf("timing: %-60s %10.2f us\n", what.c_str(), 1000.0 * ms[10]);
}

}  // namespace ranklens::test::parity

// Skips the test (with a warning, never silently) where no CUDA device is present; turns on the
// synchronous launch checks, so that a failing kernel is reported under its own name.
#define RANKLENS_REQUIRE_CUDA_DEVICE()                   \
  do {                                                   \
    if (!::ranklens::cuda::device_available()) {         \
      WARN("skipped: no CUDA device");                   \
      return;                                            \
    }                                                    \
    ::ranklens::cuda::set_synchronous_checks(true);      \
  } while (false)
