"""PyTorch side of the kernel-level GPU benchmark (bench/bench_cuda_kernels.cu is the ranklens side).

Reads the CSV rows bench_cuda_kernels printed (op, dtype, params, microseconds, FLOPs, bytes),
times the same case with PyTorch eager (fp32 with TF32 off, or bf16), and writes one markdown table
with both times, their ratio (PyTorch time / ours: above 1 means ranklens is faster), and our
achieved rate against this card's ceilings measured in the same run (the bench's first rows: a
device-to-device copy and an 8192^3 bf16 GEMM). Timing as on our side: CUDA events around `reps`
back-to-back calls, median of `trials`, after warm-up. Backward cases time torch.autograd.grad on
a retained graph, so only the backward kernels run.

    python3 bench/pytorch_cuda_kernels.py --ours ours.csv --out table.md [--quick]

--device cpu runs every case on the CPU with a wall clock: only to check this script itself on a
machine without a GPU (bf16 and fused AdamW cases may then be refused by PyTorch).
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = "cuda"
QUICK = False
FP32_DATASHEET_TFLOPS = 67.0  # H100/H200 SXM non-tensor fp32, NVIDIA's datasheet (not measured here)


def time_us(fn):
    reps, trials = (5, 3) if QUICK else (20, 7)
    for _ in range(3):
        fn()
    if device != "cuda":
        per_call = []
        for _ in range(trials):
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            per_call.append(1e6 * (time.perf_counter() - start) / reps)
        return statistics.median(per_call)
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    per_call = []
    for _ in range(trials):
        start.record()
        for _ in range(reps):
            fn()
        stop.record()
        stop.synchronize()
        per_call.append(1000.0 * start.elapsed_time(stop) / reps)
    return statistics.median(per_call)


def dtype_of(name):
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "u8": torch.uint8}[name]


def rand(*shape, dtype, lo=-1.0, hi=1.0, grad=False):
    x = (torch.rand(*shape, device=device, dtype=torch.float32) * (hi - lo) + lo).to(dtype)
    return x.requires_grad_(grad)


def inference(fn):
    """fn run without recording an autograd graph (the forward kernels alone)."""
    def run():
        with torch.no_grad():
            return fn()
    return run


def backward_timer(output, inputs, grad_output):
    return lambda: torch.autograd.grad(output, inputs, grad_output, retain_graph=True)


def case(op, dt, p):
    """A zero-argument function running the PyTorch equivalent of one benchmark row."""
    if op == "copy":
        a = torch.empty(p["bytes"], dtype=torch.uint8, device=device)
        b = torch.empty_like(a)
        return lambda: b.copy_(a)
    if op == "gemm":
        m, n, k = p["m"], p["n"], p["k"]
        a = rand(k, m, dtype=dt).t() if p["ta"] == "T" else rand(m, k, dtype=dt)
        b = rand(n, k, dtype=dt).t() if p["tb"] == "T" else rand(k, n, dtype=dt)
        c = torch.empty(m, n, dtype=dt, device=device)
        return lambda: torch.mm(a, b, out=c)
    if op == "gemm_bias":
        m, n, k = p["m"], p["n"], p["k"]
        a, b, bias = rand(m, k, dtype=dt), rand(k, n, dtype=dt), rand(n, dtype=dt)
        c = torch.empty(m, n, dtype=dt, device=device)
        return lambda: torch.addmm(bias, a, b, out=c)
    if op.startswith("layernorm"):
        rows, cols = p["rows"], p["cols"]
        x, w, b = rand(rows, cols, dtype=dt, grad=True), rand(cols, dtype=dt, lo=0.5, hi=1.5, grad=True), rand(cols, dtype=dt, grad=True)
        if op == "layernorm_fwd":
            return inference(lambda: F.layer_norm(x, (cols,), w, b, 1e-5))
        y = F.layer_norm(x, (cols,), w, b, 1e-5)
        return backward_timer(y, (x, w, b), torch.randn_like(y))
    if op.startswith("gelu_tanh"):
        x = rand(p["n"], dtype=dt, lo=-3, hi=3, grad=True)
        if op == "gelu_tanh_fwd":
            return inference(lambda: F.gelu(x, approximate="tanh"))
        y = F.gelu(x, approximate="tanh")
        return backward_timer(y, (x,), torch.randn_like(y))
    if op.startswith("attention"):
        b, t, h, d = p["b"], p["t"], p["h"], p["d"]
        q, k, v = (rand(b, t, h, d, dtype=dt, grad=True) for _ in range(3))
        heads = lambda z: z.transpose(1, 2)  # (b, h, t, d) views of (b, t, h, d), as the models do
        if op == "attention_fwd":
            return inference(lambda: F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True))
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        return backward_timer(y, (q, k, v), torch.randn_like(y))
    if op.startswith("cross_entropy"):
        rows, vocab = p["rows"], p["vocab"]
        logits = rand(rows, vocab, dtype=dt, lo=-4, hi=4, grad=True)
        targets = (torch.arange(rows, device=device) * 2654435761) % vocab
        if op == "cross_entropy_fwd":
            return inference(lambda: F.cross_entropy(logits, targets))
        loss = F.cross_entropy(logits, targets)
        return backward_timer(loss, (logits,), torch.ones_like(loss))
    if op.startswith("embedding"):
        count, vocab, width = p["count"], p["vocab"], p["width"]
        w = rand(vocab, width, dtype=dt, grad=True)
        ids = (torch.arange(count, device=device) * 2654435761) % vocab
        if op == "embedding_fwd":
            return inference(lambda: F.embedding(ids, w))
        y = F.embedding(ids, w)
        return backward_timer(y, (w,), torch.randn_like(y))
    if op == "bias_grad":
        gy = rand(p["rows"], p["cols"], dtype=dt)
        return lambda: gy.sum(0)
    if op == "adamw":
        param = torch.nn.Parameter(rand(p["n"], dtype=torch.float32))
        param.grad = rand(p["n"], dtype=torch.float32)
        opt = torch.optim.AdamW([param], lr=1e-3, fused=device == "cuda")
        return opt.step
    if op.startswith("rope"):
        b, t, h, d = p["b"], p["t"], p["h"], p["d"]
        x = rand(b, t, h, d, dtype=dt, grad=True)
        inv = 1.0 / (1e4 ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d))
        angles = torch.outer(torch.arange(t, device=device, dtype=torch.float32), inv)
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos().to(dt)[None, :, None, :], emb.sin().to(dt)[None, :, None, :]

        def rotate_half(z):
            return torch.cat((-z[..., d // 2:], z[..., : d // 2]), dim=-1)

        if op == "rope_fwd":
            return inference(lambda: x * cos + rotate_half(x) * sin)
        y = x * cos + rotate_half(x) * sin
        return backward_timer(y, (x,), torch.randn_like(y))
    if op.startswith("lora"):
        rows, n_in, n_out, rank = p["rows"], p["in"], p["out"], p["rank"]
        x, a, b = rand(rows, n_in, dtype=dt, grad=True), rand(rank, n_in, dtype=dt, grad=True), rand(n_out, rank, dtype=dt, grad=True)
        base = rand(rows, n_out, dtype=dt)
        if op == "lora_fwd":  # PEFT: result + lora_B(lora_A(x)) * scaling
            return inference(lambda: base + (x @ a.t()) @ b.t() * 2.0)
        y = base + (x @ a.t()) @ b.t() * 2.0
        return backward_timer(y, (x, a, b), torch.randn_like(y))
    if op == "topk":
        pre = rand(p["rows"], p["d_sae"], dtype=dt)
        return lambda: torch.topk(pre, p["k"], dim=-1)
    if op.startswith("sparse_decoder"):  # SAELens decodes densely: codes (rows, d_sae) @ W_dec + b_dec
        rows, d_in, d_sae, k = p["rows"], p["d_in"], p["d_sae"], p["k"]
        pre = rand(rows, d_sae, dtype=dt)
        top = torch.topk(pre, k, dim=-1)
        codes = torch.zeros(rows, d_sae, dtype=dt, device=device).scatter_(1, top.indices, top.values.relu()).requires_grad_(True)
        w, b = rand(d_sae, d_in, dtype=dt, grad=True), rand(d_in, dtype=dt, grad=True)
        if op == "sparse_decoder_fwd":
            return inference(lambda: codes @ w + b)
        y = codes @ w + b
        return backward_timer(y, (codes, w, b), torch.randn_like(y))
    raise ValueError(f"no PyTorch case for op {op}")


def parse_params(text):
    out = {}
    for item in text.split():
        key, value = item.split("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def main():
    global QUICK, device
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    QUICK, device = args.quick, args.device

    rows, header = [], []
    with open(args.ours) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                header.append(line[1:].strip())
                continue
            if line.startswith("op,"):
                continue
            op, dt, params, us, flops, nbytes = line.split(",")
            rows.append((op, dt, params, float(us), float(flops), float(nbytes)))

    # Today's ceilings, from our rows (the first two) and PyTorch's own run of the same cases.
    copy_rate = next((r[5] / r[3] / 1e3 for r in rows if r[0] == "copy"), float("nan"))  # GB/s
    gemm_rate = next((r[4] / r[3] / 1e6 for r in rows if r[0] == "gemm" and r[1] == "bf16"), float("nan"))  # the first: 8192^3

    lines = []
    name = torch.cuda.get_device_name() if device == "cuda" else device
    lines.append(f"GPU: {name} (PyTorch {torch.__version__}, CUDA {torch.version.cuda}); " + "; ".join(header))
    lines.append("")
    lines.append(f"Ceilings measured by our benchmark in this run: device-to-device copy {copy_rate:.0f} GB/s (bytes read + written), "
                 f"bf16 GEMM {gemm_rate:.0f} TFLOP/s (cuBLAS, 8192^3). fp32 rates are against the datasheet's {FP32_DATASHEET_TFLOPS:.0f} "
                 "TFLOP/s (not measured).")
    lines.append("")
    lines.append("| op | dtype | shape | ours (us) | PyTorch (us) | PyTorch / ours | ours achieved | of ceiling |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|")
    ratios = {}
    for op, dt, params, us, flops, nbytes in rows:
        try:
            fn = case(op, dtype_of(dt), parse_params(params))
            torch_us = time_us(fn)
            del fn
        except Exception as error:  # one failing case must not lose the table
            print(f"pytorch_cuda_kernels: {op} {dt} {params}: {error}", file=sys.stderr)
            torch_us = float("nan")
        if device == "cuda":
            torch.cuda.empty_cache()
        ratio = torch_us / us if us > 0 else float("nan")
        if flops > 0:
            rate = flops / us / 1e6
            ceiling = gemm_rate if dt == "bf16" else FP32_DATASHEET_TFLOPS
            achieved, share = f"{rate:.1f} TFLOP/s", f"{100 * rate / ceiling:.0f}%"
        else:
            rate = nbytes / us / 1e3
            achieved, share = f"{rate:.0f} GB/s", f"{100 * rate / copy_rate:.0f}%"
        lines.append(f"| {op} | {dt} | {params} | {us:.1f} | {torch_us:.1f} | {ratio:.2f} | {achieved} | {share} |")
        if op not in ("copy",) and math.isfinite(ratio):
            ratios.setdefault(op.split("_")[0], []).append(ratio)
        print(lines[-1], flush=True)
    lines.append("")
    lines.append("Geometric mean of PyTorch / ours by kind: " +
                 ", ".join(f"{kind} {math.exp(sum(map(math.log, r)) / len(r)):.2f} ({len(r)})" for kind, r in sorted(ratios.items())))
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
