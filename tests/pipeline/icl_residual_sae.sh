#!/usr/bin/env bash
# icl_emergence --residual-sae at smoke scale: it trains the Markov model, then an autoencoder on
# the last block's residual stream, and writes what its latents track (residual_sae.csv), its
# figures in summary.json and the autoencoder as a SAELens directory; with another process, or
# too few evaluation tokens, the flag is refused before any training.
#
#   tests/pipeline/icl_residual_sae.sh ICL_EMERGENCE WORK_DIR
set -euo pipefail
icl="$1" work="$2"
rm -rf "$work" && mkdir -p "$work"
failures=0
check() {  # check DESCRIPTION COMMAND
  if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1 ($2)"; failures=$((failures + 1)); fi
}

"$icl" --process markov --steps 60 --eval-every 30 --eval-sequences 64 --threads 1 --residual-sae --out "$work/markov" >"$work/markov.log" 2>&1 \
  || { cat "$work/markov.log"; exit 1; }
check "the run reports the autoencoder" 'grep -q "residual SAE on blocks.1.hook_resid_post (k 4, 128 latents): held-out FVU" "$work/markov.log"'
check "one line per live latent, with every measure" 'head -n 1 "$work/markov/residual_sae.csv" | grep -qx "latent,density,token_purity,token,row_r2,row_state,position_purity,position_band" && [ "$(wc -l <"$work/markov/residual_sae.csv")" -ge 2 ]'
check "summary.json holds the figures, and is JSON" 'python3 -c "import json,sys; s=json.load(open(sys.argv[1]))[\"residual_sae\"]; assert 0 < s[\"held_out_fvu\"] < 1 and s[\"held_out_l0\"] == 4 and s[\"live_latents\"] >= 1 and s[\"training_tokens\"] == 6400, s" "$work/markov/summary.json"'
check "the autoencoder is a SAELens directory for that hook" 'grep -q "\"hook_name\":\"blocks.1.hook_resid_post\"" "$work/markov/residual_sae/cfg.json" && [ -s "$work/markov/residual_sae/sae_weights.safetensors" ]'

refused() {  # refused EXPECTED ARGS...: exits 2 before training, saying EXPECTED
  local expected="$1" status=0
  shift
  "$icl" --threads 1 "$@" --out "$work/refused" >"$work/refused.log" 2>&1 || status=$?
  check "refused: $*" '[ "$status" = 2 ] && grep -qF -- "$expected" "$work/refused.log" && [ ! -e "$work/refused" ]'
}
refused "--residual-sae: only --process markov has it" --process names --residual-sae
refused "--eval-sequences x --context is 200" --process markov --residual-sae --eval-sequences 2 --context 100
exit "$failures"
