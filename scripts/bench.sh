#!/usr/bin/env bash
# Builds the benchmarks (Release, -march=native) and runs them with the fastest OpenBLAS
# kernels for this CPU, 2 threads for OpenBLAS and for ranklens' pool. Arguments are passed to
# every benchmark program (e.g. --benchmark_filter=softmax). Results are printed; copy the ones
# you quote into docs/performance.md together with this command.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
jobs="${RANKLENS_JOBS:-$(nproc)}"

scripts/install_deps.sh
export RANKLENS_OPENBLAS_FASTEST="${RANKLENS_OPENBLAS_FASTEST:-1}"
# shellcheck source=scripts/openblas_env.sh
source scripts/openblas_env.sh
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-2}"
export RANKLENS_NUM_THREADS="${RANKLENS_NUM_THREADS:-2}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRANKLENS_BUILD_BENCH=ON -DRANKLENS_QUICK_PROGRAMS=OFF > /dev/null
cmake --build build -j "$jobs" --target ranklens_bench

echo "bench: $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE, threads=$RANKLENS_NUM_THREADS"
for program in build/bench/*; do
  [ -x "$program" ] || continue
  echo "== $program"
  "$program" "$@"
done
