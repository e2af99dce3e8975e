"""Measure the cost of attention against sequence length: the from-scratch version vs PyTorch's SDPA.

For each sequence length it times one forward pass with ``utils.perf.time_fn`` (the fastest and the median of
repeats, after warm-up, the device synchronised) and measures peak memory with ``utils.perf.peak_memory_bytes``: on
CUDA from ``torch.cuda.max_memory_allocated`` (what the allocator actually handed out); on the CPU it reports only
the analytic size of the score matrix. A length whose naive version runs out of memory is
recorded as such. Chapter 3 renders the JSON this writes (``notebooks/recorded/``) next to its own CPU measurements;
the defaults are the chapter's CPU sweep's settings (batch 1, 8 heads, d_head 64, float32 first), and the JSON
records the settings it ran with, so the two can be compared like for like.

    python scripts/attention_cost.py --out notebooks/recorded/attention_cost_cuda.json
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

# The GPU machine gets a copy of the repository, not an installed package: import utils from the copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from utils.attention import scaled_dot_product_attention  # noqa: E402
from utils.env import device_description, get_device, package_versions  # noqa: E402
from utils.perf import peak_memory_bytes, time_fn  # noqa: E402

WARMUP = 2  # untimed calls before the timed ones


def measure(seq_len: int, impl: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    """Time and (on CUDA) peak memory of one attention forward at ``seq_len``; records an out-of-memory as such."""
    shape = (args.batch_size, args.n_heads, seq_len, args.d_head)
    row = {"seq_len": seq_len, "impl": impl, "dtype": str(dtype).removeprefix("torch."),
           "score_matrix_bytes": args.batch_size * args.n_heads * seq_len * seq_len * torch.finfo(dtype).bits // 8}
    attend = scaled_dot_product_attention if impl == "naive" else F.scaled_dot_product_attention
    try:
        q, k, v = (torch.randn(shape, device=device, dtype=dtype) for _ in range(3))
        if device.type == "cuda":
            torch.cuda.empty_cache()
        with torch.inference_mode():
            timing = time_fn(lambda: attend(q, k, v), device, warmup=WARMUP, repeats=args.repeats)
            row["seconds"], row["seconds_median"] = timing.fastest, timing.median
            if device.type == "cuda":  # the extra memory one call takes, from the CUDA allocator
                row["peak_extra_bytes"] = peak_memory_bytes(lambda: attend(q, k, v), device)
    except torch.OutOfMemoryError:
        row["seconds"], row["out_of_memory"] = None, True
    finally:
        q = k = v = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and write the JSON (device, versions, settings, one row per length and implementation)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-log2", type=int, default=15, help="longest sequence is 2**max_log2")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--n-heads", type=int, default=8, help="8: the same as chapter 3's CPU sweep")
    parser.add_argument("--d-head", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args(argv)
    device = get_device()
    rows = []
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        for log2 in range(7, args.max_log2 + 1):
            for impl in ("naive", "sdpa"):
                row = measure(2**log2, impl, args, device, dtype)
                rows.append(row)
                print(json.dumps(row), flush=True)
    result = {
        "what": "one attention forward pass (batch, heads, seq_len, d_head), from scratch vs F.scaled_dot_product_attention",
        "device": device.type, "device_name": device_description(device), "versions": package_versions(),
        "measured_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "settings": {"batch_size": args.batch_size, "n_heads": args.n_heads, "d_head": args.d_head,
                     "repeats": args.repeats, "dtypes": args.dtypes.split(","),
                     "timing": "seconds: fastest of the repeats (as chapter 3's CPU sweep), seconds_median: their "
                               f"median; utils.perf.time_fn, after {WARMUP} warm-up calls, device synchronised"},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
