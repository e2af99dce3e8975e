"""Forward-pass throughput of our Transformer against transformers' GPT2Model and BertModel (CPU).

Both models have the same config (GPT-2 small, BERT-base) and the same weights (converted), run
under ``torch.inference_mode()`` in float32, each with its default attention implementation
(ours: ``F.scaled_dot_product_attention``; transformers: its default, "sdpa" in recent versions),
on the same number of threads. Warm-up runs come first; then the two models alternate (the order
flips every repeat, so a slow spell of a shared machine hits both alike). Prints tokens/s
(median and spread) for each and the ratio ours / transformers. Needs the course package installed
(``pip install -e .``).

    python scripts/benchmark_transformer.py                # GPT-2 and BERT, batch 8 x 128 tokens
    python scripts/benchmark_transformer.py --threads 2 --repeats 9 --json out.json
    python scripts/benchmark_transformer.py --tiny         # a smoke run in seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from utils.hf import FAMILIES, hf_config, transformer_from_hf
from utils.transformer import preset

CONFIGS = {"gpt2": "gpt2", "bert": "bert-base"}  # family -> the preset timed
TINY = {"gpt2": "tiny-gpt2", "bert": "tiny-bert"}


def build_pair(family: str, tiny: bool, seq_len: int):
    """(ours, transformers' model) with identical random weights, eval mode, float32."""
    import transformers

    config = preset(TINY[family], max_seq_len=max(32, seq_len)) if tiny else preset(CONFIGS[family])
    torch.manual_seed(0)
    hf = getattr(transformers, FAMILIES[family].model_class)(hf_config(config, family)).eval()
    ours = transformer_from_hf(hf)
    return ours, hf


def time_once(fn, ids: torch.Tensor) -> float:
    """Seconds for one forward pass."""
    start = time.perf_counter()
    fn(ids)
    return time.perf_counter() - start


def spread(values: list[float]) -> str:
    """``min-max (IQR q1-q3)`` of a list, for printing."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) >= 2 else (values[0], 0, values[0])
    return f"min {min(values):,.0f}  max {max(values):,.0f}  IQR {q1:,.0f}-{q3:,.0f}"


def benchmark(family: str, batch_size: int, seq_len: int, repeats: int, warmup: int, tiny: bool) -> dict:
    """Interleaved timing of ours and transformers; returns tokens/s lists, medians and the ratio."""
    ours, hf = build_pair(family, tiny, seq_len)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, ours.config.vocab_size, (batch_size, seq_len), generator=gen)
    runners = {"ours": lambda x: ours(x), "transformers": lambda x: hf(input_ids=x).last_hidden_state}
    with torch.inference_mode():
        max_diff = (runners["ours"](ids) - runners["transformers"](ids)).abs().max().item()
        for _ in range(warmup):
            for run in runners.values():
                run(ids)
        seconds: dict[str, list[float]] = {"ours": [], "transformers": []}
        for r in range(repeats):
            order = ["ours", "transformers"] if r % 2 == 0 else ["transformers", "ours"]
            for name in order:
                seconds[name].append(time_once(runners[name], ids))
    tokens = batch_size * seq_len
    tps = {name: [tokens / s for s in values] for name, values in seconds.items()}
    medians = {name: statistics.median(values) for name, values in tps.items()}
    paired = [o / t for o, t in zip(tps["ours"], tps["transformers"])]
    return {
        "family": family,
        "config": "tiny" if tiny else CONFIGS[family],
        "max_abs_diff": max_diff,
        "tokens_per_s": tps,
        "median_tokens_per_s": medians,
        "ratio_of_medians": medians["ours"] / medians["transformers"],
        "paired_ratio_median": statistics.median(paired),
        "paired_ratio_min_max": (min(paired), max(paired)),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["gpt2", "bert"], choices=sorted(CONFIGS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads, same for both")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per model, interleaved")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per model first")
    parser.add_argument("--tiny", action="store_true", help="tiny configs: a smoke run, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import transformers

    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch_size} x {args.seq_len} tokens, {args.warmup} warm-up + {args.repeats} interleaved runs, "
        "float32, inference_mode"
    )
    results = []
    for family in args.families:
        res = benchmark(family, args.batch_size, args.seq_len, args.repeats, args.warmup, args.tiny)
        results.append(res)
        print(f"\n{family} ({res['config']}); outputs agree to max abs diff {res['max_abs_diff']:.1e}")
        for name in ("ours", "transformers"):
            print(f"  {name:>12}: median {res['median_tokens_per_s'][name]:>9,.0f} tokens/s  "
                  f"({spread(res['tokens_per_s'][name])})")  # fmt: skip
        lo, hi = res["paired_ratio_min_max"]
        print(f"  ratio ours/transformers: {res['ratio_of_medians']:.3f} (ratio of medians); "
              f"paired runs median {res['paired_ratio_median']:.3f}, range {lo:.3f}-{hi:.3f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main()
