"""PyTorch + PEFT side of the LoRA training-step benchmark (bench/bench_lora_step.cpp is the
ranklens side; scripts/bench_lora_vs_peft.sh runs both back to back).

transformers' Qwen2ForCausalLM with the ranklens side's shapes (vocab 256, 4 heads over 2
key/value heads, SwiGLU MLP of width 4·d, tied embeddings, eager attention), trained on
batches of 16 x 64 random tokens, either fully (--mode full) or through PEFT rank-1 LoRA
adapters on all seven projections (--mode lora: alpha 16, rsLoRA, dropout 0), with AdamW
(betas 0.9/0.95, weight decay 1e-4). Prints one JSON line.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--d-model", type=int, required=True, choices=[64, 128, 256])
    parser.add_argument("--mode", choices=["lora", "full"], default="lora")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    layers = {64: 3, 128: 4, 256: 6}[args.d_model]
    vocab, context = 256, 64
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=vocab, hidden_size=args.d_model, intermediate_size=4 * args.d_model,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=context, tie_word_embeddings=True, attn_implementation="eager")
    model = Qwen2ForCausalLM(config)
    if args.mode == "lora":
        lora = LoraConfig(r=1, lora_alpha=16, use_rslora=True, lora_dropout=0.0, task_type="CAUSAL_LM",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        model = get_peft_model(model, lora)
        with torch.no_grad():  # non-zero B, as on the ranklens side
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 0.01)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-3, betas=(0.9, 0.95), weight_decay=1e-4)
    inputs = torch.randint(0, vocab, (args.batch, context))
    targets = torch.randint(0, vocab, (args.batch, context))

    def step():
        logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
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
    print(json.dumps({
        "side": "pytorch", "mode": args.mode, "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "d_model": args.d_model, "layers": layers, "steps": steps, "seconds": round(elapsed, 3),
        "ms_per_step": round(1e3 * elapsed / steps, 3), "tokens_per_s": round(steps * args.batch * context / elapsed, 1),
        "trainable": sum(p.numel() for p in trainable), "total": sum(p.numel() for p in model.parameters()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "loss": round(loss, 4),
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
