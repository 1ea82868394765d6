"""PyTorch side of the sparse-autoencoder training-step benchmark (bench/bench_sae_step.cpp is the
ranklens side; scripts/bench_sae_vs_pytorch.sh runs both back to back with the same threads).

--impl peer (default): the training step of bench_sae_step written the way SAELens computes a
BatchTopK SAE, in float32 with dense tensors: sae_in = x - b_dec, hidden_pre = sae_in @ W_enc +
b_enc, BatchTopK (relu, torch.topk over the flattened batch, scatter into zeros), a dense
decoder feature_acts @ W_dec + b_dec, the normalised MSE, backward, the decoder gradient's
component along each row removed, Adam (betas 0.9/0.999, eps 6.25e-10), the decoder rows
renormalised, the dead-latent counts and the threshold EMA. No latent is dead within a run this
short, so neither side computes AuxK.

--impl saelens: SAELens' own BatchTopKTrainingSAE (training_forward_pass, which also keeps the
threshold estimate) with torch.optim.Adam, as SAELens' trainer steps it.

Prints one JSON line with tokens/s and peak RSS.
"""
import argparse
import json
import resource
import time

import torch

SHAPES = {"paper": (448, 3584, 16), "resid": (512, 16384, 32)}


def peer_step_factory(d_in, d_sae, k, batch):
    torch.manual_seed(0)
    w_dec = torch.randn(d_sae, d_in)
    w_dec /= w_dec.norm(dim=1, keepdim=True)
    params = {
        "W_enc": torch.nn.Parameter(w_dec.T.clone().contiguous()),
        "b_enc": torch.nn.Parameter(torch.zeros(d_sae)),
        "W_dec": torch.nn.Parameter(w_dec),
        "b_dec": torch.nn.Parameter(batch.median(dim=0).values.clone()),
    }
    opt = torch.optim.Adam(params.values(), lr=5e-4, betas=(0.9, 0.999), eps=6.25e-10)
    mse_scale = 1.0 / ((batch - batch.mean(dim=0)) ** 2).sum(dim=1).mean()
    since_fired = torch.zeros(d_sae, dtype=torch.long)
    threshold = torch.tensor(0.0, dtype=torch.double)

    def step():
        nonlocal threshold
        x = batch
        sae_in = x - params["b_dec"]
        hidden_pre = sae_in @ params["W_enc"] + params["b_enc"]
        acts = hidden_pre.relu()
        flat = acts.flatten()
        top = torch.topk(flat, k * x.shape[0], dim=-1)
        feature_acts = torch.zeros_like(flat).scatter(-1, top.indices, top.values).reshape(acts.shape)
        sae_out = feature_acts @ params["W_dec"] + params["b_dec"]
        loss = mse_scale * (sae_out - x).pow(2).sum(dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            w, g = params["W_dec"], params["W_dec"].grad
            g -= (g * w).sum(dim=1, keepdim=True) / (w * w).sum(dim=1, keepdim=True) * w
        opt.step()
        with torch.no_grad():
            params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True)
            fired = (feature_acts > 0).any(dim=0)
            since_fired.add_(x.shape[0])
            since_fired[fired] = 0
            positive = feature_acts[feature_acts > 0]
            if positive.numel() > 0:
                threshold = 0.99 * threshold + 0.01 * positive.min().double()
        return loss.item(), (feature_acts > 0).sum().item() / x.shape[0]

    return step


def saelens_step_factory(d_in, d_sae, k, batch):
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    torch.manual_seed(0)
    sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k))
    opt = torch.optim.Adam(sae.parameters(), lr=5e-4, betas=(0.9, 0.999))
    dead = torch.zeros(d_sae, dtype=torch.bool)
    counter = 0

    def step():
        nonlocal counter
        fields = {"sae_in": batch, "coefficients": {}, "dead_neuron_mask": dead, "n_training_steps": counter}
        if "is_logging_step" in TrainStepInput.__dataclass_fields__:  # newer SAELens
            fields["is_logging_step"] = False
        out = sae.training_forward_pass(TrainStepInput(**fields))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        counter += 1
        return out.loss.item(), (out.feature_acts > 0).sum().item() / batch.shape[0]

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES), default="paper")
    parser.add_argument("--impl", choices=["peer", "saelens"], default="peer")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="minimum measured time")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    d_in, d_sae, k = SHAPES[args.shape]
    torch.manual_seed(1)
    batch = torch.randn(args.batch, d_in)
    step = (peer_step_factory if args.impl == "peer" else saelens_step_factory)(d_in, d_sae, k, batch)
    for _ in range(args.warmup):
        step()
    steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        loss, l0 = step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= args.seconds and steps >= 3:
            break
    print(json.dumps({
        "side": "pytorch" if args.impl == "peer" else "saelens", "torch": torch.__version__, "shape": args.shape, "d_in": d_in,
        "d_sae": d_sae, "k": k, "batch": args.batch, "steps": steps, "seconds": round(elapsed, 3),
        "tokens_per_s": round(steps * args.batch / elapsed, 1), "ms_per_step": round(1e3 * elapsed / steps, 2),
        "cpu_ms_per_step": round(1e3 * (time.process_time() - cpu_start) / steps, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "loss": round(loss, 5),
        "l0": round(l0, 2), "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
