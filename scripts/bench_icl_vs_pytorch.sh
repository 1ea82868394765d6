#!/usr/bin/env bash
# Time to Bayes-level in-context learning, ranklens against PyTorch, in one run on this machine
# with the same thread count: Markov chains with k = 2, alpha = 1 (issue 14). Runs
#   - ranklens' default `icl_emergence --process markov` (lr 5e-3, 10 000 steps), and the
#     PyTorch recipe of the issue in ranklens (--lr 3e-3 --steps 2000);
#   - bench/pytorch_icl_markov.py: the issue's PyTorch implementation (PyTorch's default init,
#     untied unembedding with a bias, AdamW betas 0.9/0.98, no clipping, lr 3e-3, cosine over
#     2 000 steps), the same with each of those four choices switched to ranklens' one at a time,
#     and ranklens' whole recipe (init std 0.144, tied, betas 0.9/0.999, clipping at 1, lr 5e-3,
#     cosine over 10 000 steps to lr/10).
# Prints one row per run: the first evaluated step within 0.01 nats of exact Bayes and the
# seconds it took (PyTorch runs stop there; ranklens runs train their whole schedule). ranklens' seconds are its wall time from the first evaluation to that step,
# evaluations every 25 steps included; PyTorch's are training only (its evaluations and data
# generation are off the clock), so the comparison leans toward PyTorch.
# Environment: THREADS (default 2), SEED (default 0).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
threads="${THREADS:-2}"
seed="${SEED:-0}"

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
build_bench_targets -DRANKLENS_BUILD_EXAMPLES=ON -- icl_emergence
ensure_python_peers torch numpy -- torch numpy

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"

# ranklens_run LABEL FLAGS...: icl_emergence, then one JSON row from its summary and metrics.
ranklens_run() {
  local label="$1"
  shift
  (
    # shellcheck source=scripts/openblas_env.sh
    source scripts/openblas_env.sh 2>/dev/null
    build/examples/icl_emergence --process markov --k 2 --alpha 1 --seed "$seed" --threads "$threads" \
      --out "$work/$label" "$@" > "$work/$label.log" 2>&1
  )
  python3 - "$work/$label" "$label" "$threads" >> "$results" <<'PY'
import csv, json, sys
out, label, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
summary = json.load(open(f"{out}/summary.json"))
rows = {int(r["step"]): float(r["elapsed_seconds"]) for r in csv.DictReader(open(f"{out}/metrics.csv"))}
reached = summary["first_step_within_0.01_of_bayes"]
print(json.dumps({"side": "ranklens", "label": label, "threads": threads, "steps": summary["steps"], "lr": summary["lr"],
                  "exact_bayes": summary["mean_loss_exact_bayes"], "last_gap": summary["gap_to_bayes"],
                  "reached_step": reached, "reached_train_seconds": None if reached is None else rows[reached] - rows[0],
                  "seconds_per_step": (rows[max(rows)] - rows[0]) / summary["steps"]}))
PY
}

pytorch_run() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
    .venv/bin/python bench/pytorch_icl_markov.py --threads "$threads" --seed "$seed" "$@" >> "$results"
}

echo "== ranklens" >&2
ranklens_run "ranklens default (lr 5e-3, 10 000 steps)"
ranklens_run "ranklens, PyTorch's lr 3e-3 and 2 000 steps" --lr 3e-3 --steps 2000
echo "== PyTorch" >&2
pytorch_run --label "PyTorch, issue's recipe"
pytorch_run --label "  with ranklens' init (normal, std 0.144)" --init 0.144
pytorch_run --label "  with GPT-2's init (normal, std 0.02)" --init 0.02
pytorch_run --label "  with the unembedding tied" --unembed tied
pytorch_run --label "  with betas 0.9/0.999" --beta2 0.999
pytorch_run --label "  with clipping at norm 1" --clip 1
pytorch_run --label "PyTorch, ranklens' recipe" --init 0.144 --unembed tied --beta2 0.999 --clip 1 \
  --lr 5e-3 --steps 10000 --min-lr-fraction 0.1

python3 - "$results" "$threads" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
family = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("cpu family")), "?")
print(f"\nk = 2, alpha = 1, seed 0, {sys.argv[2]} threads; {cpu} (cpu family {family}); torch {next((r['torch'] for r in rows if 'torch' in r), '?')}\n")
print("| run | exact Bayes (its chains) | first step within 0.01 | seconds to it | ms per step | gap at the last evaluation |")
print("|---|---|---|---|---|---|")
for r in rows:
    step = "never" if r["reached_step"] is None else f"{r['reached_step']:,}".replace(",", " ")
    secs = "—" if r["reached_train_seconds"] is None else f"{r['reached_train_seconds']:.1f}"
    print(f"| {r['side']}: {r['label'].strip()} | {r['exact_bayes']:.4f} | {step} | {secs} | {1000 * r['seconds_per_step']:.2f} | {r['last_gap']:.4f} |")
default = rows[0]["reached_train_seconds"]
pytorch = rows[2]["reached_train_seconds"]
if default and pytorch:
    print(f"\nranklens default / PyTorch's issue recipe, time to within 0.01: {default / pytorch:.2f} (target: at most 0.5)")
PY
