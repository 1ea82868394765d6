#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded number of executions
# (FUZZ_RUNS, default 2,000,000) from a fresh copy of its seed corpus. Exits non-zero on any
# finding; the crashing input is left in build/fuzz/. tests/fuzz/README.md has longer runs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
runs="${FUZZ_RUNS:-2000000}"
clang="$(command -v clang++-14 || command -v clang++)"

mkdir -p build/fuzz
"$clang" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include tests/fuzz/fuzz_safetensors.cpp -o build/fuzz/fuzz_safetensors

rm -rf build/fuzz/corpus && mkdir -p build/fuzz/corpus
cp tests/io/fixtures/*.safetensors build/fuzz/corpus/
cd build/fuzz
status=0
./fuzz_safetensors -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict="$repo_root/tests/fuzz/safetensors.dict" -print_final_stats=1 corpus > fuzz_safetensors.log 2>&1 \
  || status=$?
grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|SUMMARY|Done" fuzz_safetensors.log || true
if [ "$status" -ne 0 ]; then
  tail -n 40 fuzz_safetensors.log
  echo "fuzz: fuzz_safetensors found a problem (status $status); see build/fuzz/" >&2
fi
exit "$status"
