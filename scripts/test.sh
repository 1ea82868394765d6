#!/usr/bin/env bash
# The test command of the README, and all that CI runs:
#   1. Release build (tests, examples, benchmarks, the CUDA tests twice: by nvcc and on the host
#      emulation of CUDA) in build/, then its tests: first all but the [cuda] ones (the
#      emulated ones included), then the [cuda] ones (they skip themselves without a GPU);
#   2. AddressSanitizer + UBSan build of the tests in build-asan/, then its tests.
# Prints how long each phase took, and ends with ctest's summary line of the Release run.
# Environment: RANKLENS_JOBS (build parallelism, default: nproc).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
jobs="${RANKLENS_JOBS:-$(nproc)}"
log_dir="$repo_root/build/test-logs"

phase_names=()
phase_seconds=()

print_timings() {
  echo
  echo "== scripts/test.sh phase timings (wall) =="
  local i
  for i in "${!phase_names[@]}"; do
    printf '  %-28s %8s s\n' "${phase_names[$i]}" "${phase_seconds[$i]}"
  done
}

# run_phase NAME COMMAND...: runs COMMAND, records its wall time; on failure prints the
# timings so far and exits with COMMAND's status.
run_phase() {
  local name="$1"
  shift
  echo
  echo "== $name: $*"
  local start_us status=0 elapsed_ds
  start_us=${EPOCHREALTIME/./}
  "$@" || status=$?
  elapsed_ds=$(( (${EPOCHREALTIME/./} - start_us) / 100000 ))  # tenths of a second
  phase_names+=("$name")
  phase_seconds+=("$((elapsed_ds / 10)).$((elapsed_ds % 10))")
  if [ "$status" -ne 0 ]; then
    print_timings
    echo "scripts/test.sh: phase '$name' failed with status $status" >&2
    exit "$status"
  fi
}

# run_ctest LOG ARGS...: ctest with its output also kept in LOG, for the summary at the end.
# Without a timeout a hung test would hang CI; 15 minutes leaves room for [slow] tests.
run_ctest() {
  local log="$1"
  shift
  ctest --output-on-failure -j2 --timeout 900 "$@" 2>&1 | tee "$log"
}

# The last "... tests passed, ... out of N" line of a ctest log, or a note when there is none.
summary_of() {
  grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1 \
    || echo "(no tests ran)"
}

run_phase "install dependencies" scripts/install_deps.sh
# shellcheck source=scripts/openblas_env.sh
source scripts/openblas_env.sh

mkdir -p "$log_dir"
run_phase "configure release" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
  -DRANKLENS_BUILD_TESTS=ON -DRANKLENS_BUILD_EXAMPLES=ON -DRANKLENS_BUILD_BENCH=ON \
  -DRANKLENS_QUICK_PROGRAMS=ON
run_phase "build release" cmake --build build -j "$jobs"
run_phase "ctest release" run_ctest "$log_dir/release.log" --test-dir build -LE cuda
run_phase "ctest release [cuda]" run_ctest "$log_dir/release-cuda.log" --test-dir build -L cuda
# Without a GPU the [cuda] tests above only prove that nvcc compiles them. The whole parity suite
# (every tests/cuda/*.cu: the kernels, the ops with the tape, modules, models, both optimizers,
# checkpoints, LoRA adapters and the sparse autoencoder on cuda_t) ran in "ctest release" too, on
# the host emulation of CUDA (tests named "emulation.<test>", docs/architecture.md, "Testing
# without a GPU"), built in "build release" beside everything else.

# Debug keeps assert() on. -Og compiles less than half as long as -O1 under the sanitizers
# (measured: 63 s vs 152 s for tests/nn/test_transformer.cpp); -O0 would be faster still, but
# then GCC's AVX-512 intrinsics are macros that xsimd 8.1 cannot compile. -g1 (line tables) is
# enough for sanitizer stack traces.
run_phase "configure asan" cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-g1 -Og" -DRANKLENS_SANITIZE=ON \
  -DRANKLENS_BUILD_TESTS=ON -DRANKLENS_BUILD_EXAMPLES=OFF -DRANKLENS_BUILD_BENCH=OFF
# Any finding is fatal. Set before the build, whose last step runs the tests to list them.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
run_phase "build asan" cmake --build build-asan -j "$jobs"
# CUDA tests stay out: the CUDA runtime and ASan do not mix well.
run_phase "ctest asan" run_ctest "$log_dir/asan.log" --test-dir build-asan -LE cuda
# The safetensors reader fuzzed for a bounded number of executions (scripts/fuzz.sh).
run_phase "fuzz (bounded)" env FUZZ_RUNS="${FUZZ_RUNS:-1000000}" scripts/fuzz.sh

print_timings
echo
echo "== ctest summaries =="
echo "  release [cuda]: $(summary_of "$log_dir/release-cuda.log")"
echo "  asan:           $(summary_of "$log_dir/asan.log")"
echo "  release:"
summary_of "$log_dir/release.log"
