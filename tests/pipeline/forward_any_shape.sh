#!/usr/bin/env bash
# examples/forward on a model directory of a shape it was not compiled for: it must refuse
# before reading any weight, name every field in which each preset differs (not only the
# first), and print the preset line that would run the directory.
#
#   tests/pipeline/forward_refusal.sh FORWARD SOURCE_DIR WORK_DIR
set -euo pipefail
forward="$1" source_dir="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
model="$source_dir/tests/io/fixtures/peft/qwen2_rank1/base"  # Qwen2, hidden 32, vocab 64, untied

failures=0
check() {  # check DESCRIPTION TEXT-THAT-MUST-APPEAR
  if grep -qF -- "$2" "$work/stderr"; then echo "ok: $1"; else echo "FAILED: $1 (no '$2')"; failures=$((failures + 1)); fi
}

if "$forward" --model "$model" --tokens 1,2,3 --output "$work/logits.safetensors" 2>"$work/stderr"; then
  echo "FAILED: forward ran a configuration it was not compiled for"
  exit 1
fi
cat "$work/stderr"
check "names the file" "$model/config.json"
check "every differing field of a preset, at once" "tiny-qwen2: hidden_size is 32, but the compiled configuration has 64; vocab_size is 64"
check "the field after the first one" "vocab_size is 64, but the compiled configuration has 1000"
check "the other family by its model_type" "tiny-gpt2: model_type is \"qwen2\", but the compiled configuration has \"gpt2\""
check "the preset line that would run it" "for this file: using FileConfig = Qwen2Like<32, 2, 4, 2, 64, 48, false, 64>;"
[ ! -e "$work/logits.safetensors" ] || { echo "FAILED: a refused run wrote logits"; failures=$((failures + 1)); }

# A GPT-2 config.json whose MLP width and epsilon differ from Gpt2Like's: the line overrides both.
mkdir -p "$work/gpt2"
echo '{"model_type": "gpt2", "n_embd": 48, "n_layer": 2, "n_head": 4, "vocab_size": 100, "n_inner": 100, "layer_norm_epsilon": 1e-6}' \
  >"$work/gpt2/config.json"
if "$forward" --model "$work/gpt2" --tokens 1 --output "$work/logits.safetensors" 2>"$work/stderr"; then
  echo "FAILED: forward ran a GPT-2 configuration it was not compiled for"
  exit 1
fi
check "the GPT-2 line, with its overrides" \
  "for this file: struct FileConfig : Gpt2Like<48, 2, 4, 100, 1024> { static constexpr index_t mlp_width = 100; static constexpr double norm_eps = 1e-06; };"
exit "$failures"
