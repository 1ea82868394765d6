"""PyTorch side of the training-step benchmark (bench/bench_gpt_step.cpp is the ranklens side).

A GPT-2 style decoder (learned positions, pre-LayerNorm blocks with fused qkv attention and a
GELU-tanh MLP of width 4x, tied lm_head) trained with AdamW on random tokens; prints one JSON
line with tokens/s and peak RSS. Run through scripts/bench_vs_pytorch.sh, which runs both sides
back to back on the same machine with the same thread count.

With --device cuda it is the PyTorch side of bench/bench_cuda_gpt_step.cu (scripts/gpu_check.sh
runs both): fp32 with TF32 off, --mode eager, compile (torch.compile of the forward and loss) or
reduce-overhead (the same, replayed as CUDA graphs), AdamW for-each or --fused-adamw, and the time
per step from CUDA events around --steps steps (the median of --repeats runs, after --warmup),
with no host synchronisation inside them.
"""
import statistics
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln_1 = nn.LayerNorm(d_model)
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.mlp_proj = nn.Linear(4 * d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        heads = lambda z: z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab: int, context: int, d_model: int, n_layers: int, n_heads: int):
        super().__init__()
        self.wte = nn.Embedding(vocab, d_model)
        self.wpe = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        for module in self.modules():  # GPT-2's initialisation, as ranklens uses
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied lm_head


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--d-model", type=int, required=True)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="minimum measured time")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--mode", choices=["eager", "compile", "reduce-overhead"], default="eager")
    parser.add_argument("--fused-adamw", action="store_true", help="AdamW(fused=True) (CUDA only)")
    parser.add_argument("--steps", type=int, default=20, help="CUDA: steps between two events")
    parser.add_argument("--repeats", type=int, default=5, help="CUDA: timed runs (the median is reported)")
    args = parser.parse_args()
    if args.device == "cuda":
        cuda_main(args)
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Gpt(args.vocab, args.context, args.d_model, args.layers, args.heads)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, args.vocab, (args.batch, args.context + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step():
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    steps, start = 0, time.perf_counter()
    while True:
        loss = step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= args.seconds and steps >= 3:
            break
    tokens_per_s = steps * args.batch * args.context / elapsed
    print(json.dumps({
        "side": "pytorch", "torch": torch.__version__, "d_model": args.d_model, "steps": steps,
        "seconds": round(elapsed, 3), "tokens_per_s": round(tokens_per_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loss": round(loss, 4), "threads": torch.get_num_threads(),
        "blas": torch.__config__.show().count("MKL") > 0 and "MKL" or "other",
    }))


def cuda_main(args):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = Gpt(args.vocab, args.context, args.d_model, args.layers, args.heads).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=args.fused_adamw)
    tokens = torch.randint(0, args.vocab, (args.batch, args.context + 1), device=device)
    inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def loss_of(x, y):
        return F.cross_entropy(model(x).reshape(-1, args.vocab), y.reshape(-1))

    if args.mode != "eager":
        loss_of = torch.compile(loss_of, mode="reduce-overhead" if args.mode == "reduce-overhead" else None)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_of(inputs, targets)
        loss.backward()
        opt.step()
        return loss

    for _ in range(max(args.warmup, 3)):  # compile and record graphs outside the timing
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    per_step = []
    for _ in range(args.repeats):
        start.record()
        for _ in range(args.steps):
            loss = step()
        stop.record()
        stop.synchronize()
        per_step.append(start.elapsed_time(stop) / args.steps)
    print(json.dumps({
        "side": "pytorch", "torch": torch.__version__, "device": torch.cuda.get_device_name(),
        "mode": args.mode, "fused_adamw": args.fused_adamw, "d_model": args.d_model, "layers": args.layers,
        "heads": args.heads, "vocab": args.vocab, "context": args.context, "batch": args.batch,
        "ms_per_step": round(statistics.median(per_step), 4), "min_ms_per_step": round(min(per_step), 4),
        "peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1), "loss": round(float(loss), 4),
    }))


if __name__ == "__main__":
    main()
