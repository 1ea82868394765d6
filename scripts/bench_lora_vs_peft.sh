#!/usr/bin/env bash
# LoRA training-step benchmark: ranklens (bench/bench_lora_step.cpp) against PyTorch +
# transformers + PEFT (bench/pytorch_lora_step.py), back to back on this machine with the same
# thread count, at the Qwen2 shapes d 64 / 3 layers, d 128 / 4 layers and d 256 / 6 layers,
# batch 16 x 64 tokens, rank-1 adapters on all seven projections, and the full (pretraining)
# step of the same models. Prints a table of ms per step with the ratios the LoRA issue asks
# for: ranklens' LoRA step against its full step (target <= 0.7), PEFT's LoRA step against
# ranklens' (target >= 2.5), PyTorch's full step against ranklens' (target >= 1.5). Appends it,
# with the date, the CPU (cpu family 25 = Zen 4, 26 = Zen 5) and this command, to
# docs/performance.md. Environment: THREADS (default 2), SECONDS_PER_RUN (default 10),
# WIDTHS (default "64 128 256"), ROUNDS (default 3): every configuration runs ROUNDS times,
# the rounds one after another over all of them, and the table shows each one's median, so that
# a slow spell of the (shared) machine does not land on one side of a ratio only.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
threads="${THREADS:-2}"
seconds="${SECONDS_PER_RUN:-10}"
widths="${WIDTHS:-64 128 256}"
rounds="${ROUNDS:-3}"

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
ensure_python_peers torch transformers peft -- torch transformers peft numpy

build_bench_targets -DRANKLENS_BUILD_BENCH=ON -- bench_bench_lora_step

results="$(mktemp)"
for round in $(seq "$rounds"); do
for d in $widths; do
  for mode in lora full; do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" HF_HUB_DISABLE_PROGRESS_BARS=1 \
      .venv/bin/python bench/pytorch_lora_step.py --d-model "$d" --mode "$mode" --threads "$threads" --seconds "$seconds" \
      2>/dev/null >> "$results"
    (
      export RANKLENS_OPENBLAS_FASTEST=1
      # shellcheck source=scripts/openblas_env.sh
      source scripts/openblas_env.sh 2>/dev/null
      OPENBLAS_NUM_THREADS="$threads" RANKLENS_NUM_THREADS="$threads" \
        build/bench/bench_lora_step --d-model "$d" --mode "$mode" --seconds "$seconds" >> "$results"
    )
  done
done
done

table="$(python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
runs = {}
for r in rows:
    runs.setdefault(r["d_model"], {}).setdefault((r["side"], r["mode"]), []).append(r)
by = {}  # the median run of each configuration (by ms per step), with its own peak RSS
for d, sides in runs.items():
    for key, rs in sides.items():
        by.setdefault(d, {})[key] = sorted(rs, key=lambda r: r["ms_per_step"])[(len(rs) - 1) // 2]
rounds = min(len(rs) for sides in runs.values() for rs in sides.values())
print("| d_model, layers | ranklens LoRA ms | ranklens full ms | LoRA / full (<= 0.7) | PEFT LoRA ms | PyTorch full ms | PEFT LoRA / ranklens LoRA (>= 2.5) | PyTorch full / ranklens full (>= 1.5) | trainable share | peak RSS MB (ranklens / PEFT, LoRA) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for d in sorted(by):
    rl, rf = by[d][("ranklens", "lora")], by[d][("ranklens", "full")]
    pl, pf = by[d][("pytorch", "lora")], by[d][("pytorch", "full")]
    print(f"| {d}, {rl['layers']} | {rl['ms_per_step']:.2f} | {rf['ms_per_step']:.2f} | {rl['ms_per_step'] / rf['ms_per_step']:.2f} | "
          f"{pl['ms_per_step']:.2f} | {pf['ms_per_step']:.2f} | {pl['ms_per_step'] / rl['ms_per_step']:.2f} | "
          f"{pf['ms_per_step'] / rf['ms_per_step']:.2f} | {100 * rl['trainable'] / rl['total']:.2f}% | "
          f"{rl['peak_rss_mb']:.0f} / {pl['peak_rss_mb']:.0f} |")
v = next(iter(by.values()))[("pytorch", "lora")]
print(f"\n(median of {rounds} rounds; torch {v['torch']}, transformers {v['transformers']}, peft {v['peft']}; OpenBLAS core {next(iter(by.values()))[('ranklens', 'lora')]['openblas_core']})")
PY
)"
rm -f "$results"
echo "$table"
{
  echo
  echo "### LoRA step vs PyTorch + PEFT, $(date -u +%Y-%m-%d), ${threads} threads each"
  echo
  echo "Command: \`THREADS=$threads SECONDS_PER_RUN=$seconds ROUNDS=$rounds WIDTHS=\"$widths\" scripts/bench_lora_vs_peft.sh\`"
  echo "(Qwen2 shapes, vocab 256, batch 16 x 64 tokens, rank 1 on q/k/v/o/gate/up/down, float32, AdamW; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cpu family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
  echo "$table"
} >> docs/performance.md
