"""Data-parallel training of our TransformerLM with DistributedDataParallel, started by torchrun.

Each process (rank) holds a full copy of the model and takes its own slice of every global batch; after the
backward pass of the last micro-batch of a step, DDP averages the gradients of all ranks (an all-reduce), so every
copy takes the same optimizer step. On the earlier micro-steps ``no_sync()`` skips the all-reduce: the gradients
accumulate locally and are averaged once. Backend: gloo on CPUs, NCCL on GPUs.

    torchrun --standalone --nproc_per_node 2 scripts/ddp_train.py --out /tmp/ddp.pt            # 2 CPU processes
    torchrun --standalone --nproc_per_node 8 scripts/ddp_train.py --device cuda --out ddp.pt    # 8 GPUs

Rank 0 writes the gradients and the parameters after the last step (and the losses) to ``--out``;
:func:`reference_step` computes the same step in one process with ``utils.training.fit`` on the global batch,
which is what DDP must equal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from utils.training import TrainConfig, fit, make_optimizer
from utils.transformer import TransformerLM, preset

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def build_model(seed: int, dtype: torch.dtype, config_name: str = "tiny-gpt2") -> TransformerLM:
    """The same randomly initialised model on every rank (and in the reference run): seeded, in ``dtype``."""
    torch.manual_seed(seed)
    return TransformerLM(preset(config_name)).to(dtype)


def global_micro_batches(seed: int, global_batch: int, seq_len: int, vocab_size: int, steps: int,
                         grad_accum: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``steps * grad_accum`` micro-batches ``(inputs, targets)``, int64 ``(global_batch, seq_len)``, seeded."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(steps * grad_accum):
        windows = torch.randint(vocab_size, (global_batch, seq_len + 1), generator=generator)
        batches.append((windows[:, :-1], windows[:, 1:]))
    return batches


def lm_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Next-token cross-entropy in the model's own dtype (float64 here, so the comparison is not about rounding)."""
    inputs, targets = batch
    logits = model(inputs)  # (B, T, vocab_size)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten()), targets.numel()


def train_config(steps: int, grad_accum: int, device: str) -> TrainConfig:
    """The run's settings, shared by the DDP run and the reference: constant lr, no clipping (gradients kept as is)."""
    return TrainConfig(max_steps=steps, lr=1e-3, schedule="constant", grad_accum_steps=grad_accum,
                       clip_grad_norm=None, device=device, progress=False)


def reference_step(args: argparse.Namespace) -> dict:
    """The same training in one process with ``utils.training.fit`` on the global batches: gradients and parameters."""
    model = build_model(args.seed, DTYPES[args.dtype])
    batches = global_micro_batches(args.seed + 1, args.global_batch, args.seq_len, model.config.vocab_size,
                                   args.steps, args.grad_accum)
    history = fit(model, lm_loss, batches, train_config(args.steps, args.grad_accum, "cpu"))
    return _snapshot(model, history.train_loss, world_size=1)


def _snapshot(model: torch.nn.Module, losses: list[float], world_size: int) -> dict:
    return {"grads": {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()},
            "params": {n: p.detach().cpu().clone() for n, p in model.named_parameters()},
            "losses": losses, "world_size": world_size}


def ddp_train(args: argparse.Namespace) -> dict:
    """Train under DDP on this rank: each micro-batch's rows ``rank * b : (rank + 1) * b``, b = global / world size."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if args.global_batch % world_size != 0:
        raise ValueError(f"--global-batch {args.global_batch} must be divisible by the {world_size} processes")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if args.device == "cuda" else "cpu")
    model = build_model(args.seed, DTYPES[args.dtype]).to(device)
    ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    config = train_config(args.steps, args.grad_accum, str(device))
    optimizer = make_optimizer(model, config)
    local = args.global_batch // world_size
    rows = slice(rank * local, (rank + 1) * local)
    batches = global_micro_batches(args.seed + 1, args.global_batch, args.seq_len, model.config.vocab_size,
                                   args.steps, args.grad_accum)
    losses = []
    for step in range(args.steps):
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), dtype=torch.float64, device=device)
        for micro in range(args.grad_accum):
            inputs, targets = (t[rows].to(device) for t in batches[step * args.grad_accum + micro])
            last = micro == args.grad_accum - 1
            with contextlib.nullcontext() if last else ddp_model.no_sync():  # all-reduce once, after the last
                loss, _ = lm_loss(ddp_model, (inputs, targets))
                (loss / args.grad_accum).backward()
            step_loss += loss.detach().double() / args.grad_accum
        optimizer.step()
        dist.all_reduce(step_loss)  # the mean loss over all ranks, for the log
        losses.append(step_loss.item() / world_size)
    return _snapshot(model, losses, world_size)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (also used by the tests to build the same run)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="where rank 0 writes gradients, parameters and losses (torch.save)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu: gloo; cuda: NCCL, one GPU a rank")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=2, help="micro-batches per step on every rank")
    parser.add_argument("--global-batch", type=int, default=8, help="rows of every micro-batch, over all ranks")
    parser.add_argument("--seq-len", type=int, default=16)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Join the process group torchrun set up, train, and write rank 0's snapshot."""
    args = parse_args(argv)
    torch.set_num_threads(1)  # one thread per process: the processes share the machine's cores
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    try:
        snapshot = ddp_train(args)
        if dist.get_rank() == 0:
            print(f"{snapshot['world_size']} processes ({dist.get_backend()}), {args.steps} step(s) of "
                  f"{args.grad_accum} micro-batches of {args.global_batch} x {args.seq_len} tokens: "
                  f"losses {[round(x, 4) for x in snapshot['losses']]}")
            if args.out is not None:
                torch.save(snapshot, args.out)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
