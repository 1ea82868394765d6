#!/usr/bin/env bash
# The run command of the README: installs what is missing, builds the example programs in
# Release and runs the pipeline of both papers, ending with one report (report.md and
# report.html, with the stages' plots) in the output directory.
#
#   scripts/run_main.sh [--out DIR] [--scale smoke|small|medium] [--only S1,S2] [--skip S1,S2]
#                       [--device cpu] [--threads N] [--force] [--no-build]
#
# Scales: small (the default: about 14 minutes on 2 cores, build included), smoke (under a
# minute after the build: trying the pipeline; its numbers mean nothing), medium (about 20
# minutes after the build: longer in-context runs, 500 problems per tier, 10 to 1 000 traces,
# a longer autoencoder). docs/experiments.md, "The pipeline", has each stage's flags per scale.
#
# Stages, in order (each a program in build/examples, writing under DIR):
#   icl         icl_emergence: Markov chains against the Bayes predictor        DIR/icl/markov
#   icl-plateau icl_emergence --model edelman: the unigram plateau, then the    DIR/icl/plateau
#               drop when the induction heads form
#   icl-names   icl_emergence --process names: copying a name seen in context   DIR/icl/names
#   icl-coins   icl_emergence --process coins: each model follows its own prior DIR/icl/coins
#   reasoning   lora_reasoning: base, full finetune, LoRA ranks, data sweep,    DIR/reasoning
#               ablation, adapter features
#   sae         lora_sae: a sparse autoencoder on the rank-1 adapters' state    DIR/sae
#               (reads DIR/reasoning)
#   report      paper_report: DIR/report.md and DIR/report.html (always rewritten: it only reads)
#
# Resuming: a finished stage leaves DIR/stages/<stage>.json (wall time and command), written
# last and atomically; a rerun skips finished stages. An interrupted stage runs again: the icl
# stages (a minute or less) from the start, reasoning from the base or pretraining checkpoint it
# left (its results equal an uninterrupted run's, bit for bit). DIR/run.json records the scale
# and ranklens version; a rerun with another is refused, and so is an --out that holds other
# files. --force redoes the selected stages (and, after a change of scale or version, the whole
# directory). Everything is checked before any work starts.
#
# Environment: RANKLENS_JOBS (build parallelism, default: nproc), RANKLENS_BUILD_DIR (the build
# directory, default build).
set -euo pipefail

caller_dir="$PWD"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

original_command="scripts/run_main.sh"
[ $# -eq 0 ] || original_command+="$(printf ' %q' "$@")"  # printf with no arguments would print ''
all_stages=(icl icl-plateau icl-names icl-coins reasoning sae report)
out=runs/main
out_given=0
build_dir="${RANKLENS_BUILD_DIR:-build}"
scale=small
device=cpu
threads="$(nproc)"
force=0
build=1
only=""
skip=""

fail() {
  echo "run_main: $*" >&2
  exit 2
}

usage() {
  # The comment at the top of this file, without its '#'.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

# need_value FLAG ARGC: the flag's value must follow it.
need_value() { [ "$2" -ge 2 ] || fail "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) need_value "$1" $#; out="$2"; out_given=1; shift 2 ;;
    --scale) need_value "$1" $#; scale="$2"; shift 2 ;;
    --only) need_value "$1" $#; only="$2"; shift 2 ;;
    --skip) need_value "$1" $#; skip="$2"; shift 2 ;;
    --device) need_value "$1" $#; device="$2"; shift 2 ;;
    --threads) need_value "$1" $#; threads="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown flag '$1' (see --help)" ;;
  esac
done

# --- Everything is checked before any work. -------------------------------------------------
# A relative --out is the caller's, not the repository's (the default lives in the repository).
[ -n "$out" ] || fail "--out needs a directory"
if [ "$out_given" = 1 ] && [[ "$out" != /* ]]; then out="$caller_dir/$out"; fi
case "$scale" in
  smoke|small|medium) ;;
  paper-shape) fail "--scale paper-shape (a Qwen2-0.5B-shaped base) needs models whose widths are chosen at run time, which ranklens does not have yet; use small or medium" ;;
  *) fail "--scale '$scale': expected smoke, small or medium" ;;
esac
case "$device" in
  cpu) ;;
  cuda) fail "--device cuda: the CUDA backend runs single kernels, not whole training steps yet; use --device cpu" ;;
  *) fail "--device '$device': expected cpu" ;;
esac
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || fail "--threads '$threads': expected a positive whole number"

is_stage() {
  local s
  for s in "${all_stages[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}
declare -A selected=()
if [ -n "$only" ]; then
  IFS=, read -r -a listed <<<"$only"
  for s in "${listed[@]}"; do
    is_stage "$s" || fail "--only: unknown stage '$s' (stages: ${all_stages[*]})"
    selected[$s]=1
  done
else
  for s in "${all_stages[@]}"; do selected[$s]=1; done
fi
if [ -n "$skip" ]; then
  IFS=, read -r -a listed <<<"$skip"
  for s in "${listed[@]}"; do
    is_stage "$s" || fail "--skip: unknown stage '$s' (stages: ${all_stages[*]})"
    unset "selected[$s]"
  done
fi
[ "${#selected[@]}" -gt 0 ] || fail "--only/--skip leave no stage to run"

if version="$(git -C "$repo_root" rev-parse --short=12 HEAD 2>/dev/null)"; then
  git -C "$repo_root" diff --quiet HEAD -- include examples 2>/dev/null || version="$version-modified"
else
  version="$(sed -n 's/^project(ranklens VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
fi

mkdir -p "$out" 2>/dev/null || fail "--out $out: cannot create the directory"
probe="$out/.run_main_write_test.$$"
( : >"$probe" ) 2>/dev/null || fail "--out $out: cannot write there"
rm -f "$probe"

# What a run of this scale writes, with room to spare (measured: small ~20 MB, mostly the
# reasoning stage's base and pretraining checkpoint; medium writes the same files).
case "$scale" in smoke) need_mb=50 ;; *) need_mb=200 ;; esac
free_mb=$(( $(df -Pk "$out" | awk 'NR == 2 { print $4 }') / 1024 ))
[ "$free_mb" -ge "$need_mb" ] || fail "--out $out: $free_mb MB free on its file system, a $scale run needs about $need_mb MB"

ours=(run.json stages icl reasoning sae report.md report.html)
if [ -f "$out/run.json" ]; then
  recorded_scale="$(sed -n 's/.*"scale": *"\([^"]*\)".*/\1/p' "$out/run.json")"
  recorded_version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$out/run.json")"
  if [ "$recorded_scale" != "$scale" ] || [ "$recorded_version" != "$version" ]; then
    [ "$force" = 1 ] || fail "--out $out holds a run of scale '$recorded_scale' made by ranklens $recorded_version; this one is scale '$scale', ranklens $version. Use another --out, or --force to replace it"
    for entry in "${ours[@]}"; do rm -rf "${out:?}/$entry"; done
  fi
else
  for entry in "$out"/* "$out"/.[!.]*; do
    [ -e "$entry" ] || continue
    fail "--out $out is not empty and was not made by this script (no run.json): choose a new or empty directory"
  done
fi

# The flags of each stage's program at each scale.
case "$scale" in
  smoke)
    icl_args=(--steps 100 --eval-every 50 --eval-sequences 64)
    plateau_args=(--lr 5e-3 --steps 100 --eval-every 50 --eval-sequences 64)
    names_args=(--steps 60 --eval-every 30 --eval-sequences 64)
    coins_args=(--steps 60 --eval-every 30 --eval-sequences 128 --coins 1 8)
    reasoning_args=(--pretrain-steps 120 --checkpoint-every 40 --finetune-steps 20 --ranks 1,2 --trace-sweep 30 --eval-problems 20)
    sae_args=(--traces 128 --passes 1 --problems 20)
    ;;
  small)
    icl_args=() names_args=() coins_args=() reasoning_args=() sae_args=()
    plateau_args=(--lr 5e-3 --steps 3000 --eval-every 50)
    ;;
  medium)
    icl_args=(--steps 20000 --eval-sequences 1024)
    plateau_args=(--lr 5e-3 --steps 3000 --eval-every 25 --eval-sequences 1024)
    names_args=(--steps 8000)
    coins_args=(--steps 3000)
    reasoning_args=(--pretrain-steps 7000 --eval-problems 500 --trace-sweep 10,30,100,300,1000)
    sae_args=(--traces 4096 --passes 16 --problems 500)
    ;;
esac

# --- Work. ----------------------------------------------------------------------------------
now_ds() { echo $(( ${EPOCHREALTIME/./} / 100000 )); }  # tenths of a second
seconds_since() { local d=$(( $(now_ds) - $1 )); echo "$((d / 10)).$((d % 10))"; }

# write_atomically FILE TEXT: FILE holds TEXT whole, or is as it was.
write_atomically() {
  printf '%s\n' "$2" >"$1.tmp.$$"
  sync "$1.tmp.$$" 2>/dev/null || true
  mv -f "$1.tmp.$$" "$1"
}

json_string() {
  local s="${1//\\/\\\\}"
  printf '"%s"' "${s//\"/\\\"}"
}

mkdir -p "$out/stages"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), cpu family $(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
write_atomically "$out/run.json" "{\"scale\": \"$scale\", \"version\": \"$version\", \"device\": \"$device\", \"threads\": $threads, \"cpu\": $(json_string "$cpu"), \"command\": $(json_string "$original_command")}"

if [ "$build" = 1 ]; then
  scripts/install_deps.sh
  # The run command favours speed: the fastest OpenBLAS kernels this CPU can run.
  export RANKLENS_OPENBLAS_FASTEST="${RANKLENS_OPENBLAS_FASTEST:-1}"
  # shellcheck source=scripts/openblas_env.sh
  source scripts/openblas_env.sh
  jobs="${RANKLENS_JOBS:-$(nproc)}"
  started=$(now_ds)
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DRANKLENS_BUILD_EXAMPLES=ON \
    -DRANKLENS_QUICK_PROGRAMS=OFF >/dev/null
  cmake --build "$build_dir" -j "$jobs" --target ranklens_pipeline_programs
  build_command="cmake --build $build_dir --target ranklens_pipeline_programs"
  write_atomically "$out/stages/build.json" "{\"stage\": \"build\", \"seconds\": $(seconds_since "$started"), \"command\": \"$build_command\"}"
else
  export RANKLENS_OPENBLAS_FASTEST="${RANKLENS_OPENBLAS_FASTEST:-1}"
  # shellcheck source=scripts/openblas_env.sh
  source scripts/openblas_env.sh
fi
for program in icl_emergence lora_reasoning lora_sae paper_report; do
  [ -x "$build_dir/examples/$program" ] || fail "$build_dir/examples/$program is missing: run without --no-build"
done

# run_stage NAME COMMAND...: runs a selected, unfinished stage and records it as finished.
run_stage() {
  local name="$1"
  shift
  [ -n "${selected[$name]:-}" ] || { echo "== $name: not selected"; return 0; }
  local done_file="$out/stages/$name.json"
  if [ -f "$done_file" ] && [ "$force" = 0 ]; then
    echo "== $name: finished in an earlier run ($done_file), skipped"
    return 0
  fi
  rm -f "$done_file"
  echo "== $name: $*"
  local started
  started=$(now_ds)
  local status=0
  "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "run_main: stage $name failed (exit status $status); rerun the same command to continue from there" >&2
    exit "$status"
  fi
  local took
  took=$(seconds_since "$started")
  write_atomically "$done_file" "{\"stage\": \"$name\", \"seconds\": $took, \"command\": $(json_string "$*")}"
  echo "== $name: done in $took s"
}

# --force redoes a stage from nothing: its checkpoints and outputs go first.
if [ "$force" = 1 ]; then
  [ -n "${selected[icl]:-}" ] && rm -rf "$out/icl/markov"
  [ -n "${selected[icl-plateau]:-}" ] && rm -rf "$out/icl/plateau"
  [ -n "${selected[icl-names]:-}" ] && rm -rf "$out/icl/names"
  [ -n "${selected[icl-coins]:-}" ] && rm -rf "$out/icl/coins"
  [ -n "${selected[reasoning]:-}" ] && rm -rf "$out/reasoning"
  [ -n "${selected[sae]:-}" ] && rm -rf "$out/sae"
fi

run_stage icl "$build_dir"/examples/icl_emergence --process markov --threads "$threads" --out "$out/icl/markov" "${icl_args[@]}"
run_stage icl-plateau "$build_dir"/examples/icl_emergence --process markov --model edelman --threads "$threads" --out "$out/icl/plateau" "${plateau_args[@]}"
run_stage icl-names "$build_dir"/examples/icl_emergence --process names --threads "$threads" --out "$out/icl/names" "${names_args[@]}"
run_stage icl-coins "$build_dir"/examples/icl_emergence --process coins --threads "$threads" --out "$out/icl/coins" "${coins_args[@]}"
run_stage reasoning "$build_dir"/examples/lora_reasoning --threads "$threads" --out "$out/reasoning" "${reasoning_args[@]}"
run_stage sae "$build_dir"/examples/lora_sae --from "$out/reasoning" --threads "$threads" --out "$out/sae" "${sae_args[@]}"
if [ -n "${selected[report]:-}" ]; then
  "$build_dir"/examples/paper_report --out "$out"
  echo "run_main: open $out/report.html (or read $out/report.md)"
fi
