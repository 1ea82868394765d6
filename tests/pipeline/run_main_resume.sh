#!/usr/bin/env bash
# The pipeline of scripts/run_main.sh at smoke scale:
#   - killed (SIGKILL, the whole process group) inside the icl stage, inside the reasoning
#     stage's pretraining and after it, then rerun, it ends with the same results as a run that
#     was never interrupted;
#   - a rerun of a finished directory redoes nothing and rewrites no result;
#   - bad flags, a foreign directory and a change of scale are refused before any work, with a
#     message naming what, and leave the directory as it was;
#   - lora_reasoning's --trace-sweep refuses a bad count and skips the sweep with "none";
#   - lora_sae refuses a directory without lora_reasoning's base, and a bad --traces.
#
#   run_main_resume.sh REPO_ROOT BUILD_DIR WORK_DIR      (ctest: pipeline.run_main_resume)
set -euo pipefail
repo="$1"
export RANKLENS_BUILD_DIR="$2"
work="$3"
rm -rf "$work"
mkdir -p "$work"

pipeline() { "$repo/scripts/run_main.sh" --no-build --scale smoke --threads 1 "$@"; }
check() {
  if ! eval "$2"; then
    echo "FAILED: $1 ($2)" >&2
    exit 1
  fi
}

# The numbers of a finished directory: every stage's JSON without wall times, commands and
# the directories read.
results_of() {
  python3 - "$1" <<'PY'
import json, sys, pathlib
root = pathlib.Path(sys.argv[1])
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if "seconds" not in k and k not in ("command", "source")}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
files = ["icl/markov/summary.json", "icl/plateau/summary.json", "icl/names/summary.json", "icl/coins/summary.json", "reasoning/results.json",
         "sae/results.json"]
print(json.dumps({f: strip(json.load(open(root / f))) for f in files}, sort_keys=True, indent=1))
PY
}

echo "== uninterrupted run"
pipeline --out "$work/whole" >"$work/whole.log" 2>&1 || { cat "$work/whole.log"; exit 1; }
results_of "$work/whole" >"$work/whole.results"

# run_until CONDITION: starts the pipeline on $work/killed in its own process group and kills
# the group with SIGKILL once CONDITION holds (or the run ends first).
run_until() {
  setsid "$repo/scripts/run_main.sh" --no-build --scale smoke --threads 1 --out "$work/killed" >>"$work/killed.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null && ! eval "$1"; do sleep 0.02; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "   killed once '$1' held"
}
echo "== interrupted runs"
run_until '[ -f "$work/killed/icl/markov/metrics.csv" ]'
run_until '[ -f "$work/killed/reasoning/pretrain_checkpoint.safetensors" ]'
check "the pretraining checkpoint of the killed run is left to resume from" '[ -f "$work/killed/reasoning/pretrain_checkpoint.safetensors" ] || [ -f "$work/killed/reasoning/base/ranklens_pretraining.json" ]'
run_until '[ -f "$work/killed/reasoning/base/ranklens_pretraining.json" ]'
pipeline --out "$work/killed" >>"$work/killed.log" 2>&1 || { cat "$work/killed.log"; exit 1; }
check "a resumed pretraining said so" 'grep -q "resuming pretraining at step" "$work/killed.log" || grep -q "the finished base in" "$work/killed.log"'
results_of "$work/killed" >"$work/killed.results"
check "the interrupted run ends with the uninterrupted run's results" 'cmp -s "$work/whole.results" "$work/killed.results" || { diff "$work/whole.results" "$work/killed.results" | head -20; false; }'
check "the same base, byte for byte" 'cmp -s "$work/whole/reasoning/base/model.safetensors" "$work/killed/reasoning/base/model.safetensors"'
# The adapter's header names its base's directory, which differs; its tensors must not.
tensor_bytes() { python3 -c 'import sys,struct; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; sys.stdout.buffer.write(b[8+n:])' "$1"; }
check "the same rank-1 adapter weights, byte for byte" 'cmp -s <(tensor_bytes "$work/whole/reasoning/rank1_adapter/adapter_model.safetensors") <(tensor_bytes "$work/killed/reasoning/rank1_adapter/adapter_model.safetensors")'
check "no checkpoint is left behind" '[ ! -e "$work/killed/reasoning/pretrain_checkpoint.safetensors" ]'
check "the report is written" 'grep -q "Rank-1 LoRA carries reasoning" "$work/killed/report.md" && grep -q "<table>" "$work/killed/report.html"'

echo "== a finished directory is not redone"
cp "$work/whole/reasoning/results.json" "$work/results.before"
pipeline --out "$work/whole" >"$work/again.log" 2>&1
check "every stage skipped" '[ "$(grep -c "finished in an earlier run" "$work/again.log")" = 6 ]'
check "results untouched" 'cmp -s "$work/results.before" "$work/whole/reasoning/results.json"'

echo "== refusals"
# refused EXPECTED_MESSAGE ARGS...: exits 2 with a message containing EXPECTED_MESSAGE.
refused() {
  local expected="$1" status=0
  shift
  "$repo/scripts/run_main.sh" --no-build "$@" >"$work/refused.log" 2>&1 || status=$?
  check "refused ($*)" '[ "$status" = 2 ] && grep -qF -- "$expected" "$work/refused.log" || { cat "$work/refused.log"; false; }'
}
refused "unknown flag '--bogus'" --bogus --out "$work/new1"
refused "--only: unknown stage 'bogus'" --only icl,bogus --out "$work/new2"
refused "--scale paper-shape" --scale paper-shape --out "$work/new3"
refused "--device cuda" --device cuda --out "$work/new4"
refused "--threads 'x'" --threads x --out "$work/new5"
mkdir -p "$work/foreign" && echo keep >"$work/foreign/notes.txt"
refused "not empty and was not made by this script" --scale smoke --out "$work/foreign"
check "the foreign directory is as it was" '[ "$(ls -A "$work/foreign")" = notes.txt ]'
cp "$work/whole/run.json" "$work/run.before"
refused "holds a run of scale 'smoke'" --scale small --out "$work/whole"
check "run.json untouched" 'cmp -s "$work/run.before" "$work/whole/run.json"'
echo "== lora_reasoning --trace-sweep"
lora_reasoning=("$RANKLENS_BUILD_DIR/examples/lora_reasoning" --threads 1 --pretrain-steps 2 --finetune-steps 2 --ranks 1
                --eval-problems 2)
status=0
"${lora_reasoning[@]}" --out "$work/sweep_bad" --trace-sweep 30,x >"$work/sweep_bad.log" 2>&1 || status=$?
check "a count that is not a number is refused, named" '[ "$status" = 1 ] && grep -qF "'"'x'"' is not a count of traces" "$work/sweep_bad.log"'
"${lora_reasoning[@]}" --out "$work/sweep_none" --trace-sweep none >"$work/sweep_none.log" 2>&1 || { cat "$work/sweep_none.log"; exit 1; }
check "none skips the data sweep" '! grep -q "== data sweep" "$work/sweep_none.log" && grep -q "== LoRA finetunes" "$work/sweep_none.log"'
echo "== lora_sae refusals"
lora_sae() {
  local status=0
  "$RANKLENS_BUILD_DIR/examples/lora_sae" --threads 1 "$@" >"$work/lora_sae.log" 2>&1 || status=$?
  echo "$status"
}
check "a directory without a finished base is refused, named" '[ "$(lora_sae --from "$work/foreign" --out "$work/sae_x")" = 1 ] && grep -qF "no finished base" "$work/lora_sae.log"'
check "--traces that is not a multiple of 64 is refused" '[ "$(lora_sae --from "$work/whole/reasoning" --traces 100 --out "$work/sae_y")" = 1 ] && grep -qF -- "--traces must be a positive multiple of 64" "$work/lora_sae.log"'
check "the SAE stage wrote its SAELens directory and dashboard" '[ -f "$work/whole/sae/adapter_sae/cfg.json" ] && [ -f "$work/whole/sae/adapter_sae_dashboard.html" ] && [ -f "$work/whole/sae/feature_categories.svg" ]'
echo "pipeline: all checks passed"
