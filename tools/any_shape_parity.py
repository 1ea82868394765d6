#!/usr/bin/env python3
"""Proves that ranklens loads Qwen2 and GPT-2 directories of any shape that transformers writes,
in every weight dtype and sharded, through a model whose sizes are read from config.json at run
time (build/examples/forward, which runs such a model when no compiled preset matches, and on
demand with --run-time-sizes), and writes the fixtures that tests/nn/test_dynamic_widths.cpp
checks without Python.

For each case, transformers (PyPI) builds a random model of the case's shape, saves it with
save_pretrained in the case's dtype (and shard size), loads the saved directory back in float32
and computes the logits of a token sequence; `forward` reads the same directory and writes its
logits. The relative error is max |ours - theirs| / max |theirs|; every case must be <= 1e-5.

Run from the repository root after building (cmake --build build --target forward):

    python3 tools/any_shape_parity.py [--binary build/examples/forward] [--write-fixtures]
    python3 tools/any_shape_parity.py --released     # also the published Qwen2.5-0.5B and GPT-2 shapes

It creates .venv (git ignores it) with torch, transformers and safetensors unless the running
interpreter has them. docs/files.md records the measured errors.
"""
import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

from python_env import ensure_packages

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE_DIR = REPO_ROOT / "tests" / "nn" / "fixtures" / "any_shape"
PACKAGES = ["torch", "transformers", "safetensors", "numpy"]
TOLERANCE = 1e-5
TOKENS = [1, 5, 2, 9, 3, 7, 4, 0, 6, 8, 11, 10]

# name, family, config fields, dtype saved, max_shard_size (None: one file)
CASES = [
    # The example: a small Qwen2 that no preset has (hidden 64, intermediate 128, vocab 97, θ 1e4).
    ("qwen2_h64_v97", "qwen2", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, vocab_size=97, rope_theta=1e4, tie_word_embeddings=False), "float32", None),
    # Head width 24, 3 query heads over 1 key/value head, tied, its own ε and θ; stored as bfloat16.
    ("qwen2_h72_bf16", "qwen2", dict(hidden_size=72, intermediate_size=200, num_hidden_layers=3, num_attention_heads=3,
                                     num_key_value_heads=1, vocab_size=131, rope_theta=5e5, rms_norm_eps=1e-5,
                                     tie_word_embeddings=True), "bfloat16", None),
    # Head width 8, float16, in shards (model.safetensors.index.json).
    ("qwen2_h24_f16_sharded", "qwen2", dict(hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=3,
                                            num_key_value_heads=3, vocab_size=37, tie_word_embeddings=False), "float16", "20KB"),
    # GPT-2 with 3 heads of width 16 and the default MLP (n_inner null).
    ("gpt2_h48", "gpt2", dict(n_embd=48, n_layer=2, n_head=3, vocab_size=101, n_positions=40), "float32", None),
    # GPT-2 with an MLP of its own width and ε, stored as bfloat16 in shards.
    ("gpt2_h40_bf16_sharded", "gpt2", dict(n_embd=40, n_layer=3, n_head=5, n_inner=100, vocab_size=53, n_positions=24,
                                           layer_norm_epsilon=1e-6), "bfloat16", "30KB"),
]
# The published shapes (weights drawn here, nothing downloaded), initialised as the published
# models' initializer_range says (0.02; at 0.2, 24 layers amplify float32 rounding past 1e-5 in
# both implementations). Compiled presets exist for them: forward runs both the preset and the
# run-time path, and their logits must be equal bit for bit.
RELEASED = [
    ("qwen2.5-0.5b", "qwen2", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                                   num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6,
                                   rms_norm_eps=1e-6, tie_word_embeddings=True), "float32", None),
    ("gpt2-small", "gpt2", dict(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024), "float32", None),
]
# The fixtures: small, one of each family, in the two dtypes and both tie settings.
FIXTURES = {
    "qwen2": ("qwen2", dict(hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=3,
                            num_key_value_heads=1, vocab_size=37, max_position_embeddings=64, rope_theta=1e4, rms_norm_eps=1e-5,
                            tie_word_embeddings=False), "bfloat16"),
    "gpt2": ("gpt2", dict(n_embd=24, n_layer=2, n_head=2, vocab_size=37, n_positions=16), "float32"),
}


def ensure_environment():
    ensure_packages("any_shape_parity", modules=["safetensors", "torch", "transformers"], packages=PACKAGES)


def make_model(family, fields, seed, init_std):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    if family == "qwen2":
        fields = dict(fields)
        theta = fields.pop("rope_theta", 1e6)
        config = Qwen2Config(**fields, rope_parameters={"rope_type": "default", "rope_theta": theta}, hidden_act="silu",
                             initializer_range=init_std, attention_dropout=0.0, use_sliding_window=False)
        return Qwen2ForCausalLM(config)
    config = GPT2Config(**fields, activation_function="gelu_new", initializer_range=init_std, attn_pdrop=0.0, embd_pdrop=0.0,
                        resid_pdrop=0.0, bos_token_id=None, eos_token_id=None)
    return GPT2LMHeadModel(config)


def save_and_reference(family, fields, dtype, shard_size, directory, seed, init_std=0.2):
    """Saves a random model into `directory` and returns the logits transformers computes from
    what was saved (read back in float32, as ranklens reads it). init_std 0.2 by default: in
    models this narrow HF's 0.02 gives near-uniform attention, where a wrong head split or rotary
    angle would hardly show in the logits."""
    import torch
    from transformers import AutoModelForCausalLM

    model = make_model(family, fields, seed, init_std)
    # Every width random, biases and norms included, so that each weight's place shows in the logits.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    model = model.to(getattr(torch, dtype))
    options = {"max_shard_size": shard_size} if shard_size else {}
    model.save_pretrained(directory, safe_serialization=True, **options)
    reloaded = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager").eval()
    vocab = reloaded.config.vocab_size
    tokens = torch.tensor([[t % vocab for t in TOKENS]])
    with torch.no_grad():
        return tokens, reloaded(tokens).logits


def ours(binary, directory, tokens, work, run_time_sizes=True):
    from safetensors.torch import load_file

    output = pathlib.Path(work) / "logits.safetensors"
    command = [str(binary), "--model", str(directory), "--tokens", ",".join(str(t) for t in tokens[0].tolist()), "--output", str(output)]
    if run_time_sizes:
        command.append("--run-time-sizes")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"any_shape_parity: {' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    if run_time_sizes and "(sizes from config.json)" not in result.stdout:
        sys.exit(f"any_shape_parity: forward ran a compiled preset, not the run-time sizes:\n{result.stdout}")
    return load_file(output)["logits"], result.stdout.strip().splitlines()[0]


def relative_error(mine, theirs):
    return ((mine.double() - theirs.double()).abs().max() / theirs.double().abs().max()).item()


def write_fixtures():
    from safetensors.torch import save_file

    for seed, (name, (family, fields, dtype)) in enumerate(FIXTURES.items()):
        directory = FIXTURE_DIR / name
        shutil.rmtree(directory, ignore_errors=True)
        tokens, logits = save_and_reference(family, fields, dtype, None, directory, seed=100 + seed)
        save_file({"tokens": tokens.to(dtype=__import__("torch").int32), "logits": logits.contiguous()},
                  str(directory / "reference.safetensors"))
        (directory / "generation_config.json").unlink(missing_ok=True)
        print(f"wrote {directory.relative_to(REPO_ROOT)}: {sorted(p.name for p in directory.iterdir())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=str(REPO_ROOT / "build" / "examples" / "forward"))
    parser.add_argument("--write-fixtures", action="store_true", help="rewrite tests/nn/fixtures/any_shape")
    parser.add_argument("--released", action="store_true", help="also the published Qwen2.5-0.5B and GPT-2 small shapes (slow)")
    args = parser.parse_args()
    ensure_environment()
    import torch
    import transformers

    torch.set_num_threads(2)
    transformers.utils.logging.disable_progress_bar()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    if args.write_fixtures:
        write_fixtures()
    worst = 0.0
    cases = [(case, False) for case in CASES] + [(case, True) for case in (RELEASED if args.released else [])]
    preset_differs = False
    for seed, ((name, family, fields, dtype, shard_size), released) in enumerate(cases):
        with tempfile.TemporaryDirectory() as work:
            directory = pathlib.Path(work) / name
            tokens, theirs = save_and_reference(family, fields, dtype, shard_size, directory, seed, 0.02 if released else 0.2)
            files = len(list(directory.glob("*.safetensors")))
            mine, loaded = ours(args.binary, directory, tokens, work)
            error = relative_error(mine, theirs)
            worst = max(worst, error)
            verdict = "ok" if error <= TOLERANCE else "FAILED"
            note = ""
            if released:  # the compiled preset of the same shape: the same logits, bit for bit
                preset, _ = ours(args.binary, directory, tokens, work, run_time_sizes=False)
                same = __import__("torch").equal(preset, mine)
                preset_differs = preset_differs or not same
                note = ", equal to the preset's bit for bit" if same else ", DIFFERENT from the preset's"
            print(f"{verdict}: {name:24s} {dtype:9s} {files} file(s)  relative error {error:.2e}{note}  [{loaded}]")
    print(f"worst relative error {worst:.2e} (tolerance {TOLERANCE:.0e})")
    sys.exit(0 if worst <= TOLERANCE and not preset_differs else 1)


if __name__ == "__main__":
    main()
