#!/usr/bin/env python3
"""Writes the PyTorch reference that tests/nn/test_pytorch_parity.cpp compares ranklens with.

Two tiny decoders are built with Hugging Face transformers, in float32 with eager attention:

    qwen2_like  Qwen2ForCausalLM, ranklens Qwen2Like<32, 2, 4, 2, 64, 64, false, 32>
    gpt2_like   GPT2LMHeadModel,  ranklens Gpt2Like<32, 2, 4, 64, 32>

and for each this writes, under tests/nn/fixtures/:

    <model>_weights.safetensors    the initial parameters under their Hugging Face names
    <model>_reference.safetensors  a batch and what PyTorch computes from it:
        tokens, targets                 (2, 8) int32; targets -100 where ignored
        logits, losses                  the first step's logits; the loss at each of 3 steps
        grad.<name>                     every parameter's gradient on the first step
        after_adamw.<name>              every parameter after 3 torch.optim.AdamW steps
        float64.logits, float64.losses, float64.after_adamw.<name>
                                        the same run in float64 (see pure_float64)
        adam_ill_conditioned.<name>     flat indices of the elements whose float32 AdamW result
                                        rounding decides (see adam_ill_conditioned)

The files are committed; the C++ test needs no Python. To regenerate them, from the repository
root, with any python3 >= 3.10:

    python3 tools/make_parity_fixtures.py

Unless the running interpreter already has the pinned packages, the script creates .venv at the
repository root (git ignores it), installs them there with pip and runs itself again with that
interpreter. pip reads PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, e.g. to take torch's CPU-only wheel
from https://download.pytorch.org/whl/cpu. docs/parity.md says what is compared and why.
"""
import contextlib
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import venv

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE_DIR = REPO_ROOT / "tests" / "nn" / "fixtures"
VENV_DIR = REPO_ROOT / ".venv"

# The versions the committed fixtures were made with.
PINNED = {"torch": "2.15.0", "transformers": "5.24.0", "safetensors": "0.8.0", "numpy": "2.4.6"}
BOOTSTRAP_FLAG = "RANKLENS_PARITY_BOOTSTRAPPED"


# ---- the environment ---------------------------------------------------------------------------

def installed_version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def public_version(version):
    """"2.15.0+cu132" -> "2.15.0": a local build tag does not change the arithmetic we pin."""
    return version.split("+")[0]


def ensure_environment():
    """Returns when this interpreter has every pinned package; otherwise re-runs the script in
    the repository's .venv, creating it and installing the packages first."""
    missing = [name for name in PINNED if installed_version(name) is None]
    if not missing:
        for name, wanted in PINNED.items():
            found = public_version(installed_version(name))
            if found != wanted:
                print(f"note: {name} {found} is installed, the committed fixtures used {wanted}", file=sys.stderr)
        return
    if os.environ.get(BOOTSTRAP_FLAG):
        sys.exit(f"make_parity_fixtures: {', '.join(missing)} still missing in {sys.prefix} after installing")
    python = VENV_DIR / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV_DIR}", file=sys.stderr)
        venv.create(VENV_DIR, with_pip=True)
    has_all = subprocess.run([str(python), "-c", "import " + ", ".join(PINNED)], capture_output=True).returncode == 0
    if not has_all:
        print(f"installing {', '.join(PINNED)} into {VENV_DIR}", file=sys.stderr)
        subprocess.check_call([str(python), "-m", "pip", "install", "--quiet",
                               *(f"{name}=={version}" for name, version in PINNED.items())])
    os.execve(str(python), [str(python), str(pathlib.Path(__file__).resolve()), *sys.argv[1:]],
              {**os.environ, BOOTSTRAP_FLAG: "1"})


# ---- the models ----------------------------------------------------------------------------------

# Shared sizes. The C++ configurations in tests/nn/test_pytorch_parity.cpp must say the same.
D_MODEL, N_LAYERS, N_HEADS, VOCAB, MAX_POSITIONS = 32, 2, 4, 64, 32
QWEN2_KV_HEADS, QWEN2_MLP_WIDTH = 2, 64
# initializer_range. HF's default 0.02 gives near-uniform attention and logits in a model this
# narrow, where a wrong rotary angle or mask would hardly show; 0.2 makes every part matter.
# The C++ configurations set init_std to the same value (the test loads the weights anyway).
INIT_STD = 0.2
BATCH, SEQ = 2, 8
ADAMW_STEPS = 3
ADAMW = {"lr": 1e-2, "weight_decay": 0.1}  # betas (0.9, 0.999) and eps 1e-8: torch's defaults
IGNORE_INDEX = -100
# adam_ill_conditioned's threshold. Measured, ranklens' float32 run then agrees with torch's on
# the elements compared to 3.5e-6 at worst; 5.2e-6 at 3e-4, 2.3e-5 (a key bias) at 1e-4.
ILL_CONDITIONED_BELOW = 1e-3


def qwen2_like():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=VOCAB, hidden_size=D_MODEL, intermediate_size=QWEN2_MLP_WIDTH, num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEADS, num_key_value_heads=QWEN2_KV_HEADS, max_position_embeddings=MAX_POSITIONS,
        hidden_act="silu", rms_norm_eps=1e-6,  # Qwen2Like's norm_eps
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},  # Qwen2Like's rope_theta (HF's default is 1e4)
        tie_word_embeddings=False,  # covers lm_head; GPT-2 below covers tied embeddings
        initializer_range=INIT_STD, attention_dropout=0.0, use_sliding_window=False, use_cache=False,
        attn_implementation="eager")
    return Qwen2ForCausalLM(config)


def gpt2_like():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=VOCAB, n_positions=MAX_POSITIONS, n_embd=D_MODEL, n_layer=N_LAYERS, n_head=N_HEADS,
        n_inner=None,  # 4 * n_embd, as Gpt2Like
        activation_function="gelu_new", layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=INIT_STD, use_cache=False,
        bos_token_id=None, eos_token_id=None,  # GPT-2's 50256 lies outside this vocabulary
        attn_implementation="eager")
    return GPT2LMHeadModel(config)


def build(make_model, seed):
    """HF's own initialisation from torch.manual_seed(seed), then biases and norm gains redrawn
    (HF starts them at 0 and 1, where a bias added in the wrong place or a gain applied twice
    would not change the forward pass)."""
    import torch

    torch.manual_seed(seed)
    model = make_model().float()
    assert model.config._attn_implementation == "eager"
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() != 1:
                continue
            noise = torch.randn(p.shape, generator=generator) * INIT_STD
            p.copy_(noise if name.endswith(".bias") else 1 + noise)
    return model


def batch(seed):
    """Random tokens; targets are the next tokens (the last one random), two of them ignored."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (BATCH, SEQ + 1), generator=generator, dtype=torch.int32)
    inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    targets[0, SEQ - 1] = IGNORE_INDEX
    targets[1, 2] = IGNORE_INDEX
    return inputs, targets


def loss_of(model, tokens, targets):
    """Mean cross-entropy over the positions not ignored, targets aligned with the logits
    (HF's labels= would shift them by one; ranklens' cross_entropy does not)."""
    import torch.nn.functional as F

    logits = model(input_ids=tokens.long()).logits
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten().long(), ignore_index=IGNORE_INDEX)
    return logits, loss


def pure_float64(model):
    """Makes a float64 copy of a Qwen2 model compute in float64 where Hugging Face's code casts to
    float32 whatever the model's dtype (upcasts meant for half precision): RMSNorm (HF's line
    `hidden_states.to(torch.float32)`) and the attention softmax (`dtype=torch.float32`; see
    keep_float64_softmax). The rotary angles stay float32 products, as in HF and ranklens, but
    their cos and sin are rounded correctly to float32, as ranklens rounds them, instead of by
    torch's float32 cos/sin, which are within one ulp but not always the nearest float (cos(1)
    is one ulp above it). Without this the float64 comparison measures float32 rounding (2e-7
    in the logits) instead of whether the formulas are the same. GPT-2 has no such casts."""
    import torch
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm, Qwen2RotaryEmbedding

    for module in model.modules():
        if isinstance(module, Qwen2RotaryEmbedding):
            assert module.attention_scaling == 1.0 and module.rope_type == "default"

            def rotary_forward(x, position_ids, rotary=module):
                angles = position_ids[..., None].float() * rotary.inv_freq.float()  # float32, as HF
                angles = torch.cat((angles, angles), dim=-1).double()
                return angles.cos().float().to(x.dtype), angles.sin().float().to(x.dtype)

            module.forward = rotary_forward
        elif isinstance(module, Qwen2RMSNorm):

            def norm_forward(hidden_states, norm=module):
                mean_square = hidden_states.pow(2).mean(-1, keepdim=True)
                return norm.weight * (hidden_states * torch.rsqrt(mean_square + norm.variance_epsilon))

            module.forward = norm_forward


@contextlib.contextmanager
def keep_float64_softmax():
    """softmax(x, dtype=torch.float32) of a float64 x computes in float64 while this lasts."""
    import torch

    softmax = torch.nn.functional.softmax

    def float64_softmax(input, dim=None, _stacklevel=3, dtype=None):
        return softmax(input, dim=dim, dtype=None if input.dtype == torch.float64 else dtype)

    torch.nn.functional.softmax = float64_softmax
    try:
        yield
    finally:
        torch.nn.functional.softmax = softmax


def run_reference(model, tokens, targets):
    """Logits, per-step losses, every step's gradients and the parameters after ADAMW_STEPS
    steps of torch.optim.AdamW on the same batch. named_parameters() lists a tied weight once,
    under its first name (transformer.wte.weight), as HF's checkpoints do."""
    import torch

    names = [name for name, _ in model.named_parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), **ADAMW)
    losses, logits, grads = [], None, {name: [] for name in names}
    for step in range(ADAMW_STEPS):
        optimizer.zero_grad()
        step_logits, loss = loss_of(model, tokens, targets)
        loss.backward()
        losses.append(loss.detach().clone())
        if step == 0:
            logits = step_logits.detach().clone()
        for name, p in model.named_parameters():
            grads[name].append(p.grad.detach().clone())
        optimizer.step()
    after = {n: p.detach().clone() for n, p in model.named_parameters()}
    return {"names": names, "logits": logits, "losses": torch.stack(losses), "grads": grads, "after": after}


def adam_ill_conditioned(float32_grads, float64_grads):
    """Flat indices of the elements whose float32 AdamW result the arithmetic does not decide.

    Adam divides each element's step by the element's own running gradient magnitude, so the
    float32 rounding noise in a gradient (up to about 2e-6 of its tensor's largest entry, in
    torch and in ranklens alike) becomes a relative error of noise / |g| in the step. Where the
    exact gradient is tiny next to its tensor's largest, that error passes the tolerance: the
    key biases are the extreme case (softmax ignores a shift shared by all keys, so their exact
    gradient is zero without rotary positions, and small with them). An element is listed when,
    at some step, its float64 gradient is below ILL_CONDITIONED_BELOW of the largest in its
    tensor; one whose gradient is exactly zero at every step in both precisions (a token not
    in the batch) is not, since both sides then apply the same pure weight decay."""
    import torch

    small = torch.zeros_like(float64_grads[0], dtype=torch.bool)
    always_zero = torch.ones_like(small)
    for g32, g64 in zip(float32_grads, float64_grads):
        small |= g64.abs() < ILL_CONDITIONED_BELOW * g64.abs().max()
        always_zero &= (g32 == 0) & (g64 == 0)
    return torch.nonzero((small & ~always_zero).flatten()).flatten().to(torch.int32)


def relative_error(actual, expected, skip=None):
    """The measure the C++ test uses: max |a - b| / max |b| over one tensor (`skip`: flat
    indices left out of the maximum difference, not of the scale)."""
    scale = max(expected.abs().max().item(), 1e-30)
    difference = (actual.double() - expected.double()).abs().flatten()
    if skip is not None:
        difference[skip.long()] = 0
    return difference.max().item() / scale


def float32_noise(float32_run, float64_run, ill_conditioned):
    """How far torch's own float32 run is from its float64 run, per quantity (worst tensor)."""
    names = float32_run["names"]
    return {
        "logits": relative_error(float32_run["logits"], float64_run["logits"]),
        "loss": relative_error(float32_run["losses"], float64_run["losses"]),
        "gradients": max(relative_error(float32_run["grads"][n][0], float64_run["grads"][n][0]) for n in names),
        "after_adamw (all elements)": max(relative_error(float32_run["after"][n], float64_run["after"][n]) for n in names),
        "after_adamw (well-conditioned)": max(
            relative_error(float32_run["after"][n], float64_run["after"][n], ill_conditioned.get(n)) for n in names),
    }


def write_fixtures(label, make_model, seed):
    import copy

    from safetensors.torch import save_file

    model = build(make_model, seed)
    tokens, targets = batch(seed + 2)
    weights = {n: p.detach().clone().contiguous() for n, p in model.named_parameters()}
    model64 = copy.deepcopy(model).double()  # the same values, exactly; tied weights stay tied
    pure_float64(model64)

    run32 = run_reference(model, tokens, targets)
    with keep_float64_softmax():
        run64 = run_reference(model64, tokens, targets)
    ill_conditioned = {}
    for name in run32["names"]:
        indices = adam_ill_conditioned(run32["grads"][name], run64["grads"][name])
        if indices.numel():
            ill_conditioned[name] = indices

    made_by = json.dumps({"tool": "tools/make_parity_fixtures.py", "seed": seed,
                          **{name: installed_version(name) for name in PINNED}}, sort_keys=True)
    save_file(weights, str(FIXTURE_DIR / f"{label}_weights.safetensors"), metadata={"made_by": made_by})
    tensors = {"tokens": tokens, "targets": targets, "logits": run32["logits"], "losses": run32["losses"],
               "float64.logits": run64["logits"], "float64.losses": run64["losses"]}
    for name in run32["names"]:
        tensors[f"grad.{name}"] = run32["grads"][name][0].contiguous()
        tensors[f"after_adamw.{name}"] = run32["after"][name].contiguous()
        tensors[f"float64.after_adamw.{name}"] = run64["after"][name].contiguous()
    tensors.update({f"adam_ill_conditioned.{n}": i for n, i in ill_conditioned.items()})
    save_file(tensors, str(FIXTURE_DIR / f"{label}_reference.safetensors"), metadata={"made_by": made_by})

    noise = float32_noise(run32, run64, ill_conditioned)
    print(f"{label}: {len(weights)} parameter tensors, {sum(w.numel() for w in weights.values())} scalars, "
          f"losses {[round(v, 6) for v in run32['losses'].tolist()]}, "
          f"{sum(i.numel() for i in ill_conditioned.values())} elements Adam-ill-conditioned in float32 "
          f"({', '.join(f'{n}: {i.numel()}' for n, i in ill_conditioned.items())})")
    print("  torch float32 vs float64 (max |a-b| / max |b| per tensor, worst tensor): "
          + ", ".join(f"{k} {v:.2e}" for k, v in noise.items()))


def main():
    ensure_environment()
    import torch

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # one summation order, run to run
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    write_fixtures("qwen2_like", qwen2_like, seed=1234)
    write_fixtures("gpt2_like", gpt2_like, seed=5678)
    for written in FIXTURE_DIR.glob("*_like_*.safetensors"):
        written.chmod(0o644)  # safetensors creates files readable by their owner only
    total = sum(f.stat().st_size for f in FIXTURE_DIR.glob("*_like_*.safetensors"))
    print(f"wrote {FIXTURE_DIR.relative_to(REPO_ROOT)}: {total} bytes in all")


if __name__ == "__main__":
    main()
