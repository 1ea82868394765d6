"""Loading a Hugging Face model directory: ranklens' `forward` against transformers, in one run.

For each model it makes a random model of a released model's published shape with transformers
(no download), saves it (float32 unless --stored-as bf16; model.safetensors, or shards with --shard-size), then runs,
one after the other on a warm page cache, twice each:
  - ranklens: examples/forward on the directory (load, one forward pass, logits written);
  - transformers: AutoModelForCausalLM.from_pretrained on the directory, the same forward pass.
Each runs as its own process under /usr/bin/time -v, which gives the wall time and the peak
resident memory of the whole process; each also reports its own loading time. The logits of
both are compared (relative error: max |difference| / max |logit|). Prints one table.

usage: python bench/hf_load_vs_transformers.py FORWARD WORKDIR [--models qwen2.5-0.5b,gpt2]
                                               [--shard-size 500MB] [--stored-as bf16] [--repeats 2]

--stored-as bf16 saves the weights as bfloat16, as the released Qwen2.5 files are; both sides
then compute in float32 (ranklens converts while it reads, transformers is asked for float32).
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys
import time

TOKENS = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26]

# Published shapes (config.json of Qwen/Qwen2.5-0.5B and openai-community/gpt2).
SHAPES = {
    "qwen2.5-0.5b": ("qwen2", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                                   num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                                   rms_norm_eps=1e-6, tie_word_embeddings=True,
                                   rope_parameters={"rope_type": "default", "rope_theta": 1e6})),
    "gpt2": ("gpt2", dict(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024,
                          bos_token_id=50256, eos_token_id=50256)),
}

# The transformers side, run in a fresh interpreter so that its memory is its own.
TRANSFORMERS_RUN = r"""
import json, sys, time
start = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM
from safetensors.torch import save_file
torch.set_num_threads(int(sys.argv[4]))
imported = time.perf_counter()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
loaded = time.perf_counter()
with torch.no_grad():
    logits = model(torch.tensor([json.loads(sys.argv[2])])).logits
save_file({"logits": logits.contiguous()}, sys.argv[3])
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported}))
"""


def make_model(name, directory, shard_size, stored_as):
    if (directory / "config.json").exists():
        return
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    family, fields = SHAPES[name]
    model = Qwen2ForCausalLM(Qwen2Config(**fields)) if family == "qwen2" else GPT2LMHeadModel(GPT2Config(**fields))
    with torch.no_grad():  # beyond the 0.02 initialisation, so that errors show in the logits
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    options = {"max_shard_size": shard_size} if shard_size else {}
    if stored_as == "bf16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(directory, **options)


def timed(command):
    """Runs command under /usr/bin/time -v: (stdout, wall seconds, peak RSS in bytes)."""
    run = subprocess.run(["/usr/bin/time", "-v"] + [str(c) for c in command], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{run.stdout}\n{run.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", run.stderr).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall.split(":"))))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) * 1024
    return run.stdout, seconds, rss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("forward")
    parser.add_argument("workdir", type=pathlib.Path)
    parser.add_argument("--models", default="qwen2.5-0.5b,gpt2")
    parser.add_argument("--shard-size", default="", help="save with transformers' max_shard_size (e.g. 500MB)")
    parser.add_argument("--stored-as", choices=["f32", "bf16"], default="f32")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from safetensors.numpy import load_file

    rows = []
    for name in args.models.split(","):
        directory = args.workdir / (name + ("-sharded" if args.shard_size else "") + ("-bf16" if args.stored_as == "bf16" else ""))
        make_model(name, directory, args.shard_size, args.stored_as)
        weights = sorted(directory.glob("*.safetensors"))
        weight_bytes = sum(f.stat().st_size for f in weights)
        for f in weights:  # a warm page cache for both sides
            with open(f, "rb") as stream:
                while stream.read(1 << 24):
                    pass
        for repeat in range(args.repeats):
            # Outside the model's directory, whose *.safetensors are its weights.
            ours_file = args.workdir / f"{directory.name}.ranklens_logits.safetensors"
            theirs_file = args.workdir / f"{directory.name}.transformers_logits.safetensors"
            out, ours_wall, ours_rss = timed([args.forward, "--model", directory, "--tokens", ",".join(map(str, TOKENS)),
                                             "--output", ours_file])
            ours_load = float(re.search(r"loaded .* in ([0-9.]+) s", out).group(1))
            out, theirs_wall, theirs_rss = timed([sys.executable, "-c", TRANSFORMERS_RUN, directory, json.dumps(TOKENS),
                                                 theirs_file, args.threads])
            theirs = json.loads(out.strip().splitlines()[-1])
            ours_logits, theirs_logits = load_file(ours_file)["logits"], load_file(theirs_file)["logits"]
            relative = float(abs(ours_logits - theirs_logits).max() / abs(theirs_logits).max())
            rows.append((name, repeat + 1, weight_bytes, len(weights), ours_wall, ours_load, ours_rss, theirs_wall,
                         theirs["load_s"], theirs["import_s"], theirs_rss, relative))

    print("| model | run | weights (files) | ranklens wall / load | ranklens peak RSS (× weights) | "
          "transformers wall / load (+ import) | transformers peak RSS (× weights) | logits rel. diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (name, run, size, files, ow, ol, orss, tw, tl, ti, trss, rel) in rows:
        print(f"| {name} | {run} | {size / 1e9:.2f} GB ({files}) | {ow:.2f} s / {ol:.2f} s | {orss / 1e9:.2f} GB "
              f"({orss / size:.2f}×) | {tw:.2f} s / {tl:.2f} s (+ {ti:.2f} s) | {trss / 1e9:.2f} GB ({trss / size:.2f}×) "
              f"| {rel:.2e} |")


if __name__ == "__main__":
    main()
