#!/usr/bin/env bash
# examples/forward on model directories of shapes it was not compiled for: it runs them with
# sizes read from config.json (a model of dyn sizes), and refuses, before reading any weight,
# what is no Qwen2 or GPT-2 model, naming every problem at once.
#
#   tests/pipeline/forward_any_shape.sh FORWARD SOURCE_DIR WORK_DIR
set -euo pipefail
forward="$1" source_dir="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
fixtures="$source_dir/tests/nn/fixtures/any_shape"  # written by transformers: tools/make_any_shape_fixtures.py

failures=0
check() {  # check DESCRIPTION FILE TEXT-THAT-MUST-APPEAR
  if grep -qF -- "$3" "$2"; then echo "ok: $1"; else echo "FAILED: $1 (no '$3' in $(basename "$2"))"; failures=$((failures + 1)); fi
}
# The shape recorded in a safetensors header, e.g. "logits":{"dtype":"F32","shape":[1,3,64],...
header() { head -c 4096 "$1" | tr -d ' \n'; }

# A model of every size from config.json: Qwen2 (untied, 3 heads over 1 key/value head of width 8)
# and GPT-2, as transformers wrote them.
for name in qwen2 gpt2; do
  "$forward" --model "$fixtures/$name" --tokens 1,2,3,4,5 --output "$work/$name.safetensors" >"$work/stdout" 2>"$work/stderr" || {
    cat "$work/stderr"; echo "FAILED: forward refused $name"; failures=$((failures + 1)); continue; }
  cat "$work/stdout"
  check "$name runs with sizes from config.json" "$work/stdout" "(sizes from config.json)"
  header "$work/$name.safetensors" >"$work/$name.header"
  check "$name logits (1, 5, 37)" "$work/$name.header" '"shape":[1,5,37]'
done

refused() {  # refused DESCRIPTION DIRECTORY: forward must fail and write nothing
  if "$forward" --model "$2" --tokens 1 --output "$work/refused.safetensors" 2>"$work/stderr"; then
    echo "FAILED: forward ran $1"; failures=$((failures + 1))
  fi
  cat "$work/stderr"
  [ ! -e "$work/refused.safetensors" ] || { echo "FAILED: a refused run wrote logits"; failures=$((failures + 1)); }
}

mkdir -p "$work/llama"
echo '{"model_type": "llama", "hidden_size": 64}' >"$work/llama/config.json"
refused "another model family" "$work/llama"
check "names the family it runs" "$work/stderr" 'model_type is "llama"; this program runs "qwen2" and "gpt2" models'

mkdir -p "$work/bad"
echo '{"model_type": "qwen2", "hidden_size": 30, "num_hidden_layers": 0, "num_attention_heads": 4, "num_key_value_heads": 3,
       "vocab_size": 11, "intermediate_size": 40, "tie_word_embeddings": false}' >"$work/bad/config.json"
refused "impossible sizes" "$work/bad"
check "names the file" "$work/stderr" "$work/bad/config.json"
check "every problem at once" "$work/stderr" \
  "n_layers must be positive, got 0; d_model 30 must be divisible by n_heads 4; n_heads 4 must be divisible by n_kv_heads 3"

mkdir -p "$work/no_weights"
cp "$fixtures/gpt2/config.json" "$work/no_weights/"
refused "a directory without weights" "$work/no_weights"
check "says which file is missing" "$work/stderr" "has no model.safetensors"
exit "$failures"
