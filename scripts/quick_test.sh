#!/usr/bin/env bash
# Builds the given test files (and nothing else) into one Catch2 program and runs it: the fast
# loop while working on a few headers, without the ~10-minute build of the whole suite.
#
#   scripts/quick_test.sh tests/adapt/test_low_rank_adapter.cpp [more test files] [-- catch args]
#
# Objects are cached by ccache when it is installed. The program is build-quick/<first file's
# name>; Catch2's main is compiled once into build-quick/catch_main.o. Environment:
# QUICK_OPT (default -O1), QUICK_SANITIZE=1 (ASan + UBSan), QUICK_JOBS (default 1).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

sources=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  sources+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
if [ ${#sources[@]} -eq 0 ]; then
  echo "usage: scripts/quick_test.sh TEST.cpp [TEST.cpp ...] [-- catch arguments]" >&2
  exit 2
fi

out_dir="$repo_root/build-quick"
mkdir -p "$out_dir"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(ccache)
flags=(-std=c++20 "${QUICK_OPT:--O1}" -march=native -Wall -Wextra -Wpedantic -I include)
if [ "${QUICK_SANITIZE:-0}" = 1 ]; then
  flags+=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g1)
  out_dir="$out_dir/asan"
  mkdir -p "$out_dir"
fi
libs=(-lopenblas -pthread)

catch_main="$out_dir/catch_main.o"
[ -f "$catch_main" ] || "${launcher[@]}" g++ "${flags[@]}" -w -c tests/catch_main.cpp -o "$catch_main"

objects=()
pids=()
jobs="${QUICK_JOBS:-1}"
for source in "${sources[@]}"; do
  object="$out_dir/$(echo "$source" | tr '/' '_' | sed 's/\.cpp$//').o"
  objects+=("$object")
  "${launcher[@]}" g++ "${flags[@]}" -c "$source" -o "$object" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

program="$out_dir/$(basename "${sources[0]}" .cpp)"
g++ "${flags[@]}" "${objects[@]}" "$catch_main" "${libs[@]}" -o "$program"
"$program" "$@"
