#!/usr/bin/env bash
# Builds the CUDA tests (tests/cuda/*.cu) as C++ for the host emulation of the CUDA execution
# model (include/ranklens/cuda/emulation.hpp) and runs them: every kernel runs on the host, each
# CUDA thread a fiber, against the CPU kernels. No GPU needed; it checks indexing, masking and
# barriers, and graphs' capture and replay, not speed, and not cuBLAS itself (a plain loop there).
# The tests still have to pass on a real GPU (scripts/gpu_check.sh).
#
# CI builds the same program in the Release build (tests/CMakeLists.txt,
# ranklens_cuda_emulation_tests, with these flags) and ctest runs it. This script is for work on
# one file, and for the sanitizers:
#
#   scripts/cuda_emulation_test.sh [tests/cuda/test_x.cu ...] [-- catch arguments]
#
# Environment: EMULATION_SANITIZE=thread (ThreadSanitizer: a missing __syncthreads shows up as a
# data race), EMULATION_OPT (default -O1), EMULATION_JOBS (default 1), CUDA_HOME (/usr/local/cuda).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
cuda_home="${CUDA_HOME:-/usr/local/cuda}"

sources=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  sources+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
if [ ${#sources[@]} -eq 0 ]; then
  mapfile -t sources < <(ls tests/cuda/*.cu)
fi

out_dir="$repo_root/build-emulation${EMULATION_SANITIZE:+-$EMULATION_SANITIZE}"
mkdir -p "$out_dir"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(ccache)
common=(-std=c++20 "${EMULATION_OPT:--O1}" -g1 -Wall -Wextra -Wno-unknown-pragmas -I include -I "$cuda_home/include")
if [ -n "${EMULATION_SANITIZE:-}" ]; then
  common+=("-fsanitize=$EMULATION_SANITIZE" -fno-omit-frame-pointer)
fi
# The kernels: emulated, with no contraction into fused multiply-adds (the device's _rn
# intrinsics round each operation, and the emulation must too).
# xsimd's stand-in fails any CUDA file that reaches the CPU kernels, as under nvcc (tests/CMakeLists.txt).
kernel_flags=(-I tests/cuda/without_simd "${common[@]}" -DRANKLENS_CUDA_EMULATION -ffp-contract=off -x c++)
reference_flags=("${common[@]}" -march=native)

objects=()
pids=()
jobs="${EMULATION_JOBS:-1}"
compile() {
  "${launcher[@]}" g++ "$@" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
}
for source in "${sources[@]}"; do
  object="$out_dir/$(basename "$source" .cu).o"
  objects+=("$object")
  compile "${kernel_flags[@]}" -c "$source" -o "$object"
done
reference_objects=()
for source in tests/cuda/cpu_reference/*.cpp; do
  object="$out_dir/cpu_reference_$(basename "$source" .cpp).o"
  reference_objects+=("$object")
  compile "${reference_flags[@]}" -c "$source" -o "$object"
done
compile "${reference_flags[@]}" -w -c tests/catch_main.cpp -o "$out_dir/catch_main.o"
for pid in "${pids[@]}"; do wait "$pid"; done

program="$out_dir/ranklens_cuda_emulation_tests"
g++ "${common[@]}" "${objects[@]}" "${reference_objects[@]}" "$out_dir/catch_main.o" \
  -L "$cuda_home/lib64" -lcudart -lopenblas -pthread -o "$program"
"$program" "$@"
