#!/usr/bin/env python3
"""Proves ranklens' PEFT adapter files both ways with PyPI transformers + peft, and writes the
fixtures that tests/io/test_peft.cpp checks without Python.

For each case (Qwen2-like and GPT-2-like base, ranks 1 and 4, all projections or a subset):

  ranklens -> PEFT   build/examples/lora_files writes a random base model (Hugging Face
                     directory), random adapters with non-zero B (PEFT directory), a token
                     batch and the adapted logits; PeftModel.from_pretrained loads base and
                     adapter, every lora tensor must arrive (PEFT only warns about missing
                     keys), and PEFT's logits must match ranklens' (relative error <= 1e-5).
  PEFT -> ranklens   get_peft_model with init_lora_weights=False (B non-zero) on the same base
                     is saved with save_pretrained; lora_files reads it and its logits must
                     match PEFT's.

The relative error is max |ours - theirs| / max |theirs| over all logits. Run from the
repository root after building (cmake --build build --target lora_files):

    python3 tools/peft_roundtrip.py [--binary build/examples/lora_files] [--write-fixtures]

It creates .venv (git ignores it) with torch, transformers, peft and safetensors unless the
running interpreter has them. docs/files.md records the measured errors.
"""
import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

from python_env import ensure_packages

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE_DIR = REPO_ROOT / "tests" / "io" / "fixtures" / "peft"
PACKAGES = ["torch", "transformers", "peft", "safetensors", "numpy"]
TOLERANCE = 1e-5

# (name, layout, rank, use_rslora, target_modules for PEFT's side, layers_to_transform, base sizes)
# Base sizes are lora_files' --sizes (d_model, layers, heads, kv heads, vocab, MLP width); None
# takes its small default. The others are shapes no configuration is compiled for: lora_files
# reads every base with sizes from its config.json.
ALL_QWEN2 = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CASES = [
    ("qwen2_rank1", "qwen2", 1, True, ALL_QWEN2, None, None),
    ("qwen2_rank4_subset", "qwen2", 4, False, ["v_proj", "down_proj"], [1], None),
    ("gpt2_rank1", "gpt2", 1, True, ["c_attn", "c_proj", "c_fc"], None, None),
    ("gpt2_rank4", "gpt2", 4, False, ["c_attn", "c_fc"], None, None),
    ("qwen2_h48_rank1", "qwen2", 1, True, ALL_QWEN2, None, "48,3,3,1,53,80"),
    ("gpt2_h36_rank4", "gpt2", 4, False, ["c_attn", "c_proj", "c_fc"], None, "36,2,3,3,41,144"),
]
FIXTURE_CASES = {"qwen2_rank1", "gpt2_rank4"}


def ensure_environment():
    ensure_packages("peft_roundtrip", modules=["peft", "safetensors", "torch", "transformers"], packages=PACKAGES)


def run(command):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"peft_roundtrip: {' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}")


def relative_error(ours, theirs):
    return ((ours.double() - theirs.double()).abs().max() / theirs.double().abs().max()).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=str(REPO_ROOT / "build" / "examples" / "lora_files"))
    parser.add_argument("--write-fixtures", action="store_true", help="(re)write tests/io/fixtures/peft/")
    args = parser.parse_args()
    ensure_environment()

    import peft
    import torch
    import transformers
    from peft import LoraConfig, PeftModel, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    binary = pathlib.Path(args.binary)
    if not binary.exists():
        sys.exit(f"peft_roundtrip: {binary} does not exist; build it with cmake --build build --target lora_files")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
    print(f"{'case':22} {'ranklens -> PEFT':>18} {'PEFT -> ranklens':>18}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for seed, (name, layout, rank, rslora, targets, layers, sizes) in enumerate(CASES, start=1):
            work = pathlib.Path(scratch) / name
            base, ours, theirs = work / "base", work / "ours", work / "theirs"
            tokens_file, ours_logits_file = work / "tokens.safetensors", work / "ours_logits.safetensors"
            run([binary, "write", "--layout", layout, "--rank", rank, "--seed", seed, "--rslora", str(rslora).lower(),
                 "--base", base, "--adapter", ours, "--tokens-out", tokens_file, "--logits-out", ours_logits_file,
                 *(["--sizes", sizes] if sizes else [])])
            tokens = load_file(tokens_file)["tokens"].long()

            # ranklens -> PEFT
            model = PeftModel.from_pretrained(
                AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager"), ours).eval()
            state = model.state_dict()
            written = load_file(ours / "adapter_model.safetensors")
            for key, value in written.items():
                live = key.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight", ".lora_B.default.weight")
                if live not in state or not torch.equal(state[live], value):
                    sys.exit(f"peft_roundtrip: {name}: PEFT did not load '{key}' as written")
            loaded = sum(1 for k in state if ".lora_" in k)
            if loaded != len(written):
                sys.exit(f"peft_roundtrip: {name}: PEFT holds {loaded} lora tensors, the file {len(written)}")
            with torch.no_grad():
                peft_logits = model(tokens).logits
            error_a = relative_error(load_file(ours_logits_file)["logits"], peft_logits)

            # PEFT -> ranklens
            config = LoraConfig(r=rank, lora_alpha=16, use_rslora=rslora, target_modules=targets, layers_to_transform=layers,
                                lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                                fan_in_fan_out=layout == "gpt2")
            trained = get_peft_model(
                AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager"), config).eval()
            with torch.no_grad():
                for module_name, parameter in trained.named_parameters():  # B visibly non-zero
                    if "lora_B" in module_name:
                        parameter.uniform_(-0.3, 0.3)
                theirs_logits = trained(tokens).logits
            trained.save_pretrained(theirs)
            save_file({"logits": theirs_logits.contiguous()}, work / "theirs_logits.safetensors")
            run([binary, "read", "--base", base, "--adapter", theirs, "--tokens", tokens_file,
                 "--logits-out", work / "read_logits.safetensors"])
            error_b = relative_error(load_file(work / "read_logits.safetensors")["logits"], theirs_logits)
            print(f"{name:22} {error_a:18.2e} {error_b:18.2e}")
            worst = max(worst, error_a, error_b)

            if args.write_fixtures and name in FIXTURE_CASES:
                target = FIXTURE_DIR / name
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                shutil.copytree(base, target / "base")
                shutil.copytree(ours, target / "ranklens_adapter")
                (target / "peft_adapter").mkdir()
                for file in ("adapter_config.json", "adapter_model.safetensors"):
                    shutil.copy(theirs / file, target / "peft_adapter" / file)
                save_file({"tokens": load_file(tokens_file)["tokens"],
                           "peft_logits_of_ranklens_adapter": peft_logits.contiguous(),
                           "peft_logits_of_peft_adapter": theirs_logits.contiguous()},
                          target / "reference.safetensors",
                          metadata={"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__})
    if args.write_fixtures:
        print(f"fixtures written to {FIXTURE_DIR.relative_to(REPO_ROOT)}")
    print(f"worst relative error {worst:.2e} (tolerance {TOLERANCE:.0e})")
    if worst > TOLERANCE:
        sys.exit("peft_roundtrip: FAILED")


if __name__ == "__main__":
    main()
