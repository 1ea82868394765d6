"""PyTorch side of the in-context learning time-to-Bayes comparison (scripts/bench_icl_vs_pytorch.sh
runs it beside `icl_emergence --process markov`, the ranklens side).

The setting of examples/icl_emergence at k = 2: every sequence comes from its own two-state
Markov chain, both transition probabilities drawn from Beta(alpha, alpha) (a Dirichlet row), the
first token from the chain's stationary distribution. The model is two attention-only layers of
width 16 with one head, learned positions and pre-LayerNorm (GPT-2's layout without MLPs), trained
with AdamW on fresh batches. Every --eval-every steps it is scored on fixed evaluation chains the
way ranklens scores its model: the mean over sequences and positions of the cross-entropy of its
prediction against the chain's true next-token row. The reference is the exact Bayes predictor
(posterior mean of the transition row, the stationary start included), computed by quadrature.

Prints one JSON line: the first evaluated step within --within nats of exact Bayes and the
seconds of training (evaluation and data generation excluded) it took to get there.

The switches select what this implementation does differently from ranklens' default model:
--init (PyTorch's default U(+-1/sqrt(fan_in)), or normal with a given std as ranklens), --unembed
(untied with a bias, or tied to the embedding), --beta2, --clip (max gradient norm, 0 for none).
"""
import argparse
import json
import math
import time

import numpy
import torch
import torch.nn as nn
import torch.nn.functional as F


class AttentionBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x):
        q, k, v = self.qkv(self.norm(x)).split(x.shape[-1], dim=-1)
        y = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), is_causal=True)
        return x + self.out(y.squeeze(1))


class AttentionOnly(nn.Module):
    def __init__(self, vocab: int, width: int, positions: int, tied: bool):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(positions, width)
        self.blocks = nn.ModuleList([AttentionBlock(width), AttentionBlock(width)])
        self.final_norm = nn.LayerNorm(width)
        self.unembed = None if tied else nn.Linear(width, vocab)

    def forward(self, tokens):
        x = self.embed(tokens) + self.positions(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        x = self.final_norm(x)
        return x @ self.embed.weight.T if self.unembed is None else self.unembed(x)


def initialise_normal(model: nn.Module, std: float):
    """ranklens' initialisation: every weight matrix and embedding normal(0, std), biases zero."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def sample_chains(n: int, length: int, alpha: float, gen: torch.Generator):
    """n sequences of `length` tokens, each from its own chain; also each chain's (P(0->1), P(1->0))."""
    beta = torch.distributions.Beta(torch.tensor(alpha, dtype=torch.float64), torch.tensor(alpha, dtype=torch.float64))
    # torch.distributions draws from the global generator: seed it from ours.
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
    a, b = beta.sample((n,)), beta.sample((n,))
    uniforms = torch.rand(n, length, generator=gen, dtype=torch.float64)
    tokens = torch.empty(n, length, dtype=torch.long)
    state = (uniforms[:, 0] < a / (a + b)).long()  # stationary: P(1) = a / (a + b)
    tokens[:, 0] = state
    for t in range(1, length):
        leave = torch.where(state == 0, a, b)
        state = torch.where(uniforms[:, t] < leave, 1 - state, state)
        tokens[:, t] = state
    return tokens, a, b


def true_next_rows(tokens, a, b):
    """P(next = 1) at every position, from each chain's true transition probabilities."""
    return torch.where(tokens == 0, a[:, None], 1 - b[:, None])


def exact_bayes_next_one(tokens, alpha: float, points: int = 96):
    """Posterior-mean P(next = 1) at every position. Quadrature over (a, b) = (sin^2 u, sin^2 v)
    with Gauss-Legendre in u and v: the substitution makes the Beta(alpha, alpha) prior smooth
    for alpha >= 0.5, and the stationary start couples a and b, so the grid is two-dimensional."""
    nodes, weights = (torch.tensor(x, dtype=torch.float64) for x in numpy.polynomial.legendre.leggauss(points))
    u = (nodes + 1) * math.pi / 4
    w = weights * math.pi / 4
    p = torch.sin(u) ** 2  # the same grid for a and b
    log_prior = torch.log(w) + (2 * alpha - 1) * (torch.log(torch.sin(u)) + torch.log(torch.cos(u)))
    log_p, log_q = torch.log(p), torch.log1p(-p)
    # Stationary start: log P(x1 = 1 | a, b) = log a - log(a + b), P(x1 = 0) = b / (a + b).
    log_sum = torch.log(p[:, None] + p[None, :])
    log_start = [log_p[None, :] - log_sum, log_p[:, None] - log_sum]  # x1 = 0 (needs b), x1 = 1 (needs a); [a, b]
    n, length = tokens.shape
    prediction = torch.empty(n, length, dtype=torch.float64)
    counts = torch.zeros(n, 4, dtype=torch.float64)  # n00, n01, n10, n11
    for t in range(length):
        if t > 0:
            counts[torch.arange(n), 2 * tokens[:, t - 1] + tokens[:, t]] += 1
        log_a = counts[:, 1, None] * log_p + counts[:, 0, None] * log_q + log_prior  # (n, points) over a
        log_b = counts[:, 2, None] * log_p + counts[:, 3, None] * log_q + log_prior  # over b
        start = torch.where(tokens[:, 0, None, None] == 0, log_start[0], log_start[1])
        log_w = log_a[:, :, None] + log_b[:, None, :] + start
        w_ab = torch.softmax(log_w.reshape(n, -1), dim=1).reshape(n, points, points)
        mean_a = (w_ab.sum(2) * p).sum(1)
        mean_b = (w_ab.sum(1) * p).sum(1)
        prediction[:, t] = torch.where(tokens[:, t] == 0, mean_a, 1 - mean_b)
    return prediction


def expected_loss(next_one, truth):
    """Mean over sequences and positions of -sum_j P_true(j) log q(j), two states."""
    q = next_one.clamp(1e-12, 1 - 1e-12)
    return float(-(truth * torch.log(q) + (1 - truth) * torch.log1p(-q)).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--context", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2000, help="length of the cosine schedule")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--min-lr-fraction", type=float, default=0.0, help="the cosine ends at lr times this")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--beta2", type=float, default=0.98)
    parser.add_argument("--clip", type=float, default=0.0, help="max gradient norm; 0: no clipping")
    parser.add_argument("--init", default="pytorch", help="'pytorch' or a std for normal weights (ranklens: 0.144)")
    parser.add_argument("--unembed", choices=["untied", "tied"], default="untied")
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--eval-sequences", type=int, default=512)
    parser.add_argument("--within", type=float, default=0.01, help="nats above exact Bayes that count as reached")
    parser.add_argument("--run-on", action="store_true", help="train all --steps instead of stopping when reached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if args.alpha < 0.5:
        parser.error("--alpha below 0.5: the quadrature of the exact Bayes reference is not accurate there")
    torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(args.seed)
    eval_tokens, eval_a, eval_b = sample_chains(args.eval_sequences, args.context, args.alpha, gen)
    truth = true_next_rows(eval_tokens, eval_a, eval_b)
    bayes = expected_loss(exact_bayes_next_one(eval_tokens, args.alpha), truth)

    torch.manual_seed(args.seed)
    model = AttentionOnly(2, 16, 128, tied=args.unembed == "tied")
    if args.init != "pytorch":
        initialise_normal(model, float(args.init))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, args.beta2), weight_decay=0.0)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        low = args.lr * args.min_lr_fraction
        return low + (args.lr - low) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def evaluate():
        with torch.no_grad():
            logits = model(eval_tokens)
            return expected_loss(torch.softmax(logits.double(), dim=-1)[..., 1], truth)

    trained_seconds, reached_step, reached_seconds, loss = 0.0, None, None, evaluate()
    for step in range(args.steps):
        batch, _, _ = sample_chains(args.batch, args.context + 1, args.alpha, gen)  # fresh chains, off the clock
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        logits = model(batch[:, :-1])
        train_loss = F.cross_entropy(logits.reshape(-1, 2), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        train_loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        trained_seconds += time.perf_counter() - start
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            loss = evaluate()
            if reached_step is None and loss - bayes <= args.within:
                reached_step, reached_seconds = step + 1, trained_seconds
                if not args.run_on:
                    break
    print(json.dumps({
        "side": "pytorch", "label": args.label, "torch": torch.__version__, "threads": args.threads,
        "init": args.init, "unembed": args.unembed, "beta2": args.beta2, "clip": args.clip, "lr": args.lr,
        "steps": args.steps, "exact_bayes": bayes, "last_eval_loss": loss, "last_gap": loss - bayes,
        "reached_step": reached_step, "reached_train_seconds": reached_seconds,
        "train_seconds": trained_seconds, "seconds_per_step": trained_seconds / (step + 1)}))


if __name__ == "__main__":
    main()
