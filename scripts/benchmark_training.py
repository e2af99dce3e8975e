"""Training throughput of our TransformerLM against transformers' GPT2LMHeadModel: same config, same weights.

One training step is what ``utils.training.fit`` does for a language model: zero the gradients, forward,
next-token cross-entropy on the logits (``F.cross_entropy``, the same call for both models), backward and a
``torch.optim.AdamW`` step. Both models start from the same weights (``lm_from_hf``) and get the same batch; each
uses its default attention (ours: ``F.scaled_dot_product_attention``; transformers: its default, "sdpa" in recent
versions), float32, the same number of threads. Warm-up steps first; then the two alternate, the order flipping
every repeat so that a slow spell of a shared machine hits both alike. Prints tokens/s (median and spread) and
the ratio ours / transformers, as a ratio of medians and as the median of the paired repeats.

    python scripts/benchmark_training.py                      # the chapter-6 CPU model, batch 32 x 128
    python scripts/benchmark_training.py --threads 2 --repeats 15 --json out.json
    python scripts/benchmark_training.py --tiny               # a smoke run in seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from utils.hf import hf_config, lm_from_hf
from utils.transformer import TransformerConfig, preset

#: The chapter-6 causal LM on a CPU: GPT-2's layout at d_model 64, 4 layers, a 512-token BPE.
CHAPTER6_CONFIG = dict(vocab_size=512, max_seq_len=128, d_model=64, n_layers=4, n_heads=4, d_ff=256)


def build_pair(config: TransformerConfig):
    """(ours, transformers' ``GPT2LMHeadModel``) with identical random weights, in training mode, float32."""
    import transformers

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(hf_config(config, "gpt2"))
    ours = lm_from_hf(hf)
    return ours.train(), hf.train()


def training_step(forward, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """One step: zero grads, ``forward(inputs) -> logits (B, T, V)``, cross-entropy, backward, AdamW; the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(forward(inputs).flatten(0, 1), targets.flatten())
    loss.backward()
    optimizer.step()
    return loss.item()


def spread(values: list[float]) -> str:
    """``min-max (IQR q1-q3)`` of a list, for printing."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) >= 2 else (values[0], 0, values[0])
    return f"min {min(values):,.0f}  max {max(values):,.0f}  IQR {q1:,.0f}-{q3:,.0f}"


def benchmark(config: TransformerConfig, batch_size: int, seq_len: int, repeats: int, warmup: int) -> dict:
    """Interleaved training steps of ours and transformers; returns tokens/s lists, medians, ratios, first losses."""
    ours, hf = build_pair(config)
    gen = torch.Generator().manual_seed(0)
    windows = torch.randint(0, config.vocab_size, (batch_size, seq_len + 1), generator=gen)
    inputs, targets = windows[:, :-1], windows[:, 1:]
    forwards = {"ours": ours, "transformers": lambda x: hf(input_ids=x).logits}
    optimizers = {"ours": torch.optim.AdamW(ours.parameters(), lr=1e-4),
                  "transformers": torch.optim.AdamW(hf.parameters(), lr=1e-4)}
    first_loss = {name: training_step(forwards[name], optimizers[name], inputs, targets) for name in forwards}
    for _ in range(warmup):
        for name in forwards:
            training_step(forwards[name], optimizers[name], inputs, targets)
    seconds: dict[str, list[float]] = {"ours": [], "transformers": []}
    for r in range(repeats):
        for name in (["ours", "transformers"] if r % 2 == 0 else ["transformers", "ours"]):
            start = time.perf_counter()
            training_step(forwards[name], optimizers[name], inputs, targets)
            seconds[name].append(time.perf_counter() - start)
    tokens = batch_size * seq_len
    tps = {name: [tokens / s for s in values] for name, values in seconds.items()}
    medians = {name: statistics.median(values) for name, values in tps.items()}
    paired = [o / t for o, t in zip(tps["ours"], tps["transformers"])]
    return {
        "parameters": sum(p.numel() for p in ours.parameters()),
        "first_loss": first_loss,
        "tokens_per_s": tps,
        "median_tokens_per_s": medians,
        "ratio_of_medians": medians["ours"] / medians["transformers"],
        "paired_ratio_median": statistics.median(paired),
        "paired_ratio_min_max": (min(paired), max(paired)),
    }


def report(result: dict) -> None:
    """Print one :func:`benchmark` result: the first losses (equal weights, equal loss), tokens/s and the ratio."""
    losses = result["first_loss"]
    print(f"{result['parameters']:,} parameters; first-step loss ours {losses['ours']:.6f}, "
          f"transformers {losses['transformers']:.6f}")  # fmt: skip
    for name in ("ours", "transformers"):
        print(f"  {name:>12}: median {result['median_tokens_per_s'][name]:>9,.0f} tokens/s  "
              f"({spread(result['tokens_per_s'][name])})")  # fmt: skip
    lo, hi = result["paired_ratio_min_max"]
    print(f"  training throughput ratio ours/transformers: {result['ratio_of_medians']:.3f} (ratio of medians); "
          f"paired repeats median {result['paired_ratio_median']:.3f}, range {lo:.3f}-{hi:.3f}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads, same for both")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per model, interleaved")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    parser.add_argument("--tiny", action="store_true", help="the tiny GPT-2 config: a smoke run, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)

    import transformers

    torch.set_num_threads(args.threads)
    seq_len = min(args.seq_len, 32) if args.tiny else args.seq_len
    config = preset("tiny-gpt2") if args.tiny else preset("gpt2", **CHAPTER6_CONFIG)
    config = TransformerConfig(**{**config.__dict__, "max_seq_len": max(config.max_seq_len, seq_len)})
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch_size} x {seq_len} tokens, {args.warmup} warm-up + {args.repeats} interleaved steps, "
          "float32, forward + backward + AdamW")  # fmt: skip
    result = benchmark(config, args.batch_size, seq_len, args.repeats, args.warmup)
    report(result)
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, **result}, indent=1))
    return result


if __name__ == "__main__":
    main()
