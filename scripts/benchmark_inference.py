"""Latency ratios of chapter 10's fine-tuned MiniLM on this CPU, measured in one run against fp32 PyTorch.

    python scripts/benchmark_inference.py            # chapter 8's fine-tuned weights (trained first if absent)
    python scripts/benchmark_inference.py --quick    # the quick-mode model and fewer rounds (seconds)

Four ways to run the same classifier, timed in turns on the same movie test sentences (utils.perf through
utils.compression.compare_latency): fp32 PyTorch, int8 PyTorch (torch.ao's quantize_dynamic, deprecated), onnxruntime
fp32 and onnxruntime int8 (its dynamic quantizer). Each turn is a settling call, then a few timed ones, so each
runtime is timed on caches it warmed itself (--block 1 --settle 0 alternates them call by call instead). Prints p50 /
p95 at batch 1, sentences per second at batch 32, and each one's speed-up over fp32 PyTorch: the median of the
round-by-round ratios. onnxruntime's idle threads sleep between runs (utils.export.onnx_session): with its default,
spinning, they would hold the cores while PyTorch's next call runs and inflate every ratio.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.compression import compare_latency, speedup
from utils.export import OnnxTextClassifier, TorchTextClassifier, export_onnx, onnx_session, quantize_onnx_int8
from utils.predictions import finetuned_classifier, load_text_dataset


def predictors(quick: bool, folder: Path, threads: int) -> dict:
    """The four predictors (sentences -> probabilities) of the fine-tuned MiniLM."""
    model, tokenizer, config = finetuned_classifier("movie-minilm", quick)
    max_len = config["max_len"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice of torch.ao.quantization
        torch_int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
    fp32 = export_onnx(model, folder / "fp32.onnx")
    int8 = quantize_onnx_int8(fp32, folder / "int8.onnx")
    return {
        "fp32 PyTorch": TorchTextClassifier(model, tokenizer, max_len),
        "int8 PyTorch (deprecated)": TorchTextClassifier(torch_int8, tokenizer, max_len),
        "fp32 onnxruntime": OnnxTextClassifier(onnx_session(fp32, threads), tokenizer, max_len),
        "int8 onnxruntime": OnnxTextClassifier(onnx_session(int8, threads), tokenizer, max_len),
    }


def main() -> None:
    """Parse the arguments, time the four predictors together and print the table of ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick-mode model, 6 and 2 rounds")
    parser.add_argument("--rounds", type=int, default=40, help="batch-1 rounds (a different sentence each)")
    parser.add_argument("--batch-rounds", type=int, default=6, help="batch-32 rounds")
    parser.add_argument("--block", type=int, default=4, help="timed batch-1 calls per turn")
    parser.add_argument("--settle", type=int, default=1, help="untimed calls that open each turn")
    args = parser.parse_args()
    rounds, batch_rounds = (6, 2) if args.quick else (args.rounds, args.batch_rounds)
    threads = torch.get_num_threads()
    texts, _ = load_text_dataset("movie").split("test")
    texts = [texts[i] for i in np.random.default_rng(2).permutation(len(texts))[:max(64, rounds)]]
    with tempfile.TemporaryDirectory() as folder:
        fns = predictors(args.quick, Path(folder), threads)
        load = os.getloadavg()[0]
        reports = compare_latency(fns, texts, batch_size=32, n_single=rounds, n_batch=batch_rounds,
                                  block=args.block, settle=args.settle)
    print(f"{threads} threads; load average {load:.1f} / {os.getloadavg()[0]:.1f} (before / after) on "
          f"{os.cpu_count()} cores; {rounds} batch-1 and {batch_rounds} batch-32 timed calls; turns of "
          f"{args.block} after {args.settle} settling")
    print(f"{'':28s}{'p50 ms':>9s}{'p95 ms':>9s}{'sent/s @32':>12s}{'× batch 1':>11s}{'× batch 32':>12s}")
    for name, report in reports.items():
        print(f"{name:28s}{report.p50_ms:9.1f}{report.p95_ms:9.1f}{report.throughput:12.1f}"
              f"{speedup(reports, name, 'fp32 PyTorch'):11.2f}{speedup(reports, name, 'fp32 PyTorch', 'batch'):12.2f}")


if __name__ == "__main__":
    main()
