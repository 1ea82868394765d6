#!/usr/bin/env bash
# The run command of the README: builds the examples (Release) in build/ and runs the main
# one, examples/icl_emergence (the in-context learning experiment, small defaults: a report with
# plots under runs/icl_emergence/). Arguments are passed on to it.
# Environment: RANKLENS_JOBS (build parallelism, default: nproc).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
jobs="${RANKLENS_JOBS:-$(nproc)}"
main_example=icl_emergence

scripts/install_deps.sh
# The run command favours speed: the fastest OpenBLAS kernels this CPU can run.
export RANKLENS_OPENBLAS_FASTEST="${RANKLENS_OPENBLAS_FASTEST:-1}"
# shellcheck source=scripts/openblas_env.sh
source scripts/openblas_env.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRANKLENS_BUILD_EXAMPLES=ON
cmake --build build -j "$jobs" --target ranklens_examples

# The source is checked too: a binary left in build/ by a deleted example must not run.
if [ ! -f "examples/$main_example/main.cpp" ] || [ ! -x "build/examples/$main_example" ]; then
  echo "run_main: nothing to run: examples/$main_example/main.cpp does not exist yet" \
       "(each examples/<name>/main.cpp builds build/examples/<name>)." >&2
  exit 1
fi
echo "run_main: build/examples/$main_example $*"
exec "build/examples/$main_example" "$@"
