"""Chapter 7's GPU run: the speed ladder, transformers' GPT-2 beside ours, and the memory budget, in one run.

On a GPU (about 5 minutes on an H100 or H200) it trains our GPT-2-124M config with ``utils.training.fit`` up a
ladder of settings, each rung adding one change to the one before:

    fp32 eager, from-scratch attention -> TF32 -> bf16 autocast -> SDPA (flash) -> torch.compile
    -> fused AdamW -> vocabulary padded to a multiple of 128 -> gradient accumulation (4 micro-batches)

and records tokens/s, step time, MFU and peak memory of each; then ``transformers``' ``GPT2LMHeadModel`` of the same
config under the best rung's settings; the peak memory of a training step for several batch sizes beside
``utils.perf.memory_budget``; a profile of the best rung (where the time goes); DDP over NCCL when there are 2 or
more GPUs. The JSON it writes (default ``notebooks/recorded/training_ladder_cuda.json``) holds the numbers with
their provenance (device, versions, date, a hash of the code that produced them); chapter 7 renders it.

    python scripts/gpu_run.py                                  # on the GPU machine
    python scripts/gpu_run.py --smoke --out /tmp/ladder.json   # a tiny config on a CPU: every code path, seconds

Only torch, transformers and numpy are needed (no Jupyter); nothing depends on exact versions.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
# The GPU machine gets a copy of the repository, not an installed package: import utils from the copy.
sys.path.insert(0, str(ROOT))

from utils.hf import hf_config  # noqa: E402
from utils.lm import causal_lm_loss, get_batch  # noqa: E402
from utils.perf import (  # noqa: E402
    UnknownDeviceError,
    checkpoint_blocks,
    matmul_tflops,
    memory_budget,
    mfu,
    peak_memory_bytes,
    step_peak_bytes,
    synchronize,
    training_flops_per_token,
)
from utils.training import TrainConfig, fit, make_optimizer  # noqa: E402
from utils.transformer import TransformerLM, preset  # noqa: E402

CODE_FILES = ("scripts/gpu_run.py", "utils/perf.py", "utils/training.py", "utils/lm.py", "utils/transformer.py",
              "utils/attention.py", "utils/positions.py", "utils/hf.py")
DEFAULT_OUT = ROOT / "notebooks" / "recorded" / "training_ladder_cuda.json"


@dataclasses.dataclass(frozen=True)
class Rung:
    """The settings of one rung of the ladder (each rung changes one of them)."""

    name: str
    attention: str = "scratch"  # "scratch" (utils.attention's softmax, written out) or "sdpa" (fused kernels)
    tf32: bool = False  # float32 matrix products on the tensor cores with 10-bit mantissas
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    compile: bool = False  # torch.compile the model
    fused_adamw: bool = False  # AdamW's update in one kernel for all parameters
    pad_vocab: bool = False  # vocabulary padded to a multiple of 128 (50,257 -> 50,304)
    grad_accum: int = 1  # micro-batches per optimizer step


def ladder() -> list[Rung]:
    """The rungs, in order: each adds one change to the previous one."""
    rungs = [Rung("fp32 eager, from-scratch attention")]
    for name, change in (("+ TF32", dict(tf32=True)), ("+ bf16 autocast", dict(precision="bf16")),
                         ("+ SDPA (flash)", dict(attention="sdpa")), ("+ torch.compile", dict(compile=True)),
                         ("+ fused AdamW", dict(fused_adamw=True)), ("+ vocab padded to 128", dict(pad_vocab=True)),
                         ("+ 4 accumulated micro-batches", dict(grad_accum=4))):
        rungs.append(dataclasses.replace(rungs[-1], name=name, **change))
    return rungs


def padded(vocab_size: int, multiple: int = 128) -> int:
    """``vocab_size`` rounded up to a multiple of ``multiple`` (50,257 -> 50,304)."""
    return -(-vocab_size // multiple) * multiple


def with_vocab(base_config, rung: Rung):
    """``base_config`` with its vocabulary padded to a multiple of 128 when the rung pads it."""
    if not rung.pad_vocab:
        return base_config
    return dataclasses.replace(base_config, vocab_size=padded(base_config.vocab_size))


def build_model(base_config, rung: Rung, seed: int = 0) -> TransformerLM:
    """Our TransformerLM with the rung's vocabulary and attention, seeded."""
    torch.manual_seed(seed)
    config = with_vocab(base_config, rung)
    model = TransformerLM(config)
    for block in model.transformer.blocks:
        block.attn.use_sdpa = rung.attention == "sdpa"
    return model


class LogitsOnly(nn.Module):
    """``transformers``' ``GPT2LMHeadModel`` called as ours: ``forward(input_ids (B, T)) -> logits (B, T, V)``."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf_model = hf_model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, vocab_size)``."""
        return self.hf_model(input_ids=input_ids, use_cache=False).logits


def build_hf_model(base_config, rung: Rung, seed: int = 0) -> nn.Module:
    """``GPT2LMHeadModel`` of the same config (padded vocabulary if the rung pads), SDPA attention."""
    import transformers

    config = with_vocab(base_config, rung)
    hf_cfg = hf_config(config, "gpt2")
    hf_cfg.use_cache = False
    try:
        hf_cfg._attn_implementation = "sdpa" if rung.attention == "sdpa" else "eager"
    except (AttributeError, ValueError):  # a version that chooses by itself
        pass
    torch.manual_seed(seed)
    return LogitsOnly(transformers.GPT2LMHeadModel(hf_cfg))


def _optimizer(model: nn.Module, config: TrainConfig, fused: bool) -> torch.optim.Optimizer:
    groups = make_optimizer(model, config).param_groups  # decay on matrices only, as the course's loop does
    if fused:
        return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=True)
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


_COMPILED: dict[int, nn.Module] = {}  # id(model) -> its compiled module, so a model is compiled once


def compiled(model: nn.Module, backend: str) -> nn.Module:
    """``torch.compile(model)``, made once per model (a later rung that keeps the model keeps its compiled code)."""
    if id(model) not in _COMPILED:
        torch._dynamo.reset()  # a fresh compile: no shapes remembered from an earlier model
        _COMPILED.clear()
        _COMPILED[id(model)] = torch.compile(model, backend=backend)
    return _COMPILED[id(model)]


def same_model(previous: Rung | None, rung: Rung) -> bool:
    """Whether ``rung`` can keep the previous rung's model: same vocabulary, attention and compilation."""
    keys = ("pad_vocab", "attention", "compile")
    return previous is not None and all(getattr(previous, k) == getattr(rung, k) for k in keys)


def measure_rung(model: nn.Module, rung: Rung, settings: dict, device: torch.device) -> dict:
    """Train ``model`` under ``rung`` with ``fit``: warm-up steps, then timed ones; tokens/s, step time, peak memory."""
    torch.backends.cuda.matmul.allow_tf32 = rung.tf32
    torch.backends.cudnn.allow_tf32 = rung.tf32
    vocab = settings["data_vocab_size"]
    tokens = np.random.default_rng(0).integers(0, vocab, size=settings["data_tokens"], dtype=np.int64)
    batch_size, seq_len = settings["batch_size"], settings["seq_len"]

    def config(steps: int) -> TrainConfig:
        return TrainConfig(max_steps=steps, precision=rung.precision, grad_accum_steps=rung.grad_accum,
                           schedule="constant", clip_grad_norm=1.0, device=str(device), progress=False)

    model = compiled(model.to(device), settings["compile_backend"]) if rung.compile else model.to(device)
    optimizer = _optimizer(model, config(1), rung.fused_adamw)
    batches = lambda: get_batch(tokens, batch_size, seq_len, device)  # noqa: E731
    started = time.perf_counter()
    fit(model, causal_lm_loss, batches, config(settings["warmup_steps"]), optimizer=optimizer)
    synchronize(device)
    warmup_s = time.perf_counter() - started
    steps = settings["timed_steps"]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    started = time.perf_counter()
    history = fit(model, causal_lm_loss, batches, config(steps), optimizer=optimizer)
    synchronize(device)
    mean_step_s = (time.perf_counter() - started) / steps
    # The median of the steps' own times (fit records them; each step waits for its losses, so on a GPU the
    # times are of work done, not launched): a step slowed by other work on a shared machine does not count.
    step_s = statistics.median(history.seconds)
    tokens_per_step = batch_size * seq_len * rung.grad_accum
    row = {"rung": rung.name, "settings": dataclasses.asdict(rung), "step_s": step_s, "mean_step_s": mean_step_s,
           "fastest_step_s": min(history.seconds),
           "tokens_per_step": tokens_per_step, "tokens_per_s": tokens_per_step / step_s, "warmup_s": warmup_s,
           "loss_last": history.train_loss[-1]}
    if device.type == "cuda":
        row["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
    return row


def add_mfu(row: dict, flops_per_token: int, device_name: str) -> None:
    """MFU of a measured row against the device's dense bf16 peak (None, with the reason, on an unknown device)."""
    try:
        row["mfu"] = mfu(row["tokens_per_s"], flops_per_token, device_name)
    except UnknownDeviceError as error:
        row["mfu"], row["mfu_note"] = None, str(error)


def memory_rows(base_config, settings: dict, device: torch.device) -> list[dict]:
    """Peak memory of one training step (eager, AdamW states already made) beside the budget formula."""
    rows = []
    tokens = np.random.default_rng(1).integers(0, base_config.vocab_size, size=settings["data_tokens"], dtype=np.int64)
    seq_len = settings["seq_len"]
    for precision, attention, batch_size, checkpointing in settings["memory_grid"]:
        rung = Rung("memory", attention=attention, precision=precision)
        model = build_model(base_config, rung).to(device)
        if checkpointing:
            checkpoint_blocks(model)
        cfg = TrainConfig(max_steps=1, precision=precision, schedule="constant", device=str(device), progress=False)
        optimizer = make_optimizer(model, cfg)
        batches = lambda: get_batch(tokens, batch_size, seq_len, device)  # noqa: E731
        step = lambda: fit(model, causal_lm_loss, batches, cfg, optimizer=optimizer)  # noqa: E731
        step()  # makes AdamW's states, so the measured step holds all of them
        held = sum(t.numel() * t.element_size() for t in _tensors(model, optimizer))
        measured = held + peak_memory_bytes(step, device) if device.type == "cpu" else None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            step()
            synchronize(device)
            measured = torch.cuda.max_memory_allocated(device)
        budget = memory_budget(base_config, batch_size, seq_len, precision, attention, checkpointing)
        predicted = step_peak_bytes(budget)
        rows.append({"precision": precision, "attention": attention, "batch_size": batch_size,
                     "checkpointing": checkpointing, "measured_peak_bytes": int(measured),
                     "predicted_peak_bytes": int(predicted), "budget": budget,
                     "relative_error": predicted / measured - 1})
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def _tensors(model: nn.Module, optimizer: torch.optim.Optimizer):
    seen = set()
    for t in [*model.parameters(), *(v for s in optimizer.state.values() for v in s.values())]:
        if isinstance(t, torch.Tensor) and t.data_ptr() not in seen and t.numel() > 1:
            seen.add(t.data_ptr())
            yield t


def profile_rows(model: nn.Module, rung: Rung, settings: dict, device: torch.device, top: int = 12) -> list[dict]:
    """The kernels (or CPU ops) that take the most time in 2 steps of ``rung``: name, share of the total."""
    activity = torch.profiler.ProfilerActivity.CUDA if device.type == "cuda" else torch.profiler.ProfilerActivity.CPU
    small = {**settings, "warmup_steps": 1, "timed_steps": 2}
    with torch.profiler.profile(activities=[activity]) as prof:
        measure_rung(model, rung, small, device)  # compiled already: the ladder's last rung kept the model
    averages = prof.key_averages()
    key = "self_cpu_time_total"
    if device.type == "cuda":  # renamed from self_cuda_time_total in torch 2.4
        key = "self_device_time_total" if hasattr(averages[0], "self_device_time_total") else "self_cuda_time_total"
    events = [e for e in averages if getattr(e, key, 0) > 0]
    total = sum(getattr(e, key) for e in events)
    events.sort(key=lambda e: getattr(e, key), reverse=True)
    return [{"name": e.key[:90], "share": getattr(e, key) / total, "calls": e.count} for e in events[:top]]


def ddp_nccl(device_count: int) -> dict:
    """DDP with NCCL over every GPU through torchrun (scripts/ddp_train.py), when there are two or more."""
    if device_count < 2:
        return {"skipped": f"{device_count} GPU on this machine: DDP over NCCL needs 2 or more"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                          str(device_count), str(ROOT / "scripts" / "ddp_train.py"), "--device", "cuda",
                          "--dtype", "float32"], capture_output=True, text=True, timeout=180)
    return {"returncode": run.returncode, "output": (run.stdout + run.stderr)[-2000:]}


def provenance(device: torch.device) -> dict:
    """Device, versions, date and a hash of the code that produced the numbers."""
    import transformers

    digest = hashlib.sha256()
    for name in CODE_FILES:
        digest.update((ROOT / name).read_bytes())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {"device": device.type, "device_name": name,
            "gpu_count": torch.cuda.device_count() if device.type == "cuda" else 0,
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "transformers": transformers.__version__, "numpy": np.__version__,
                         "cuda": torch.version.cuda},
            "measured_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "code_sha256": digest.hexdigest(), "code_files": list(CODE_FILES)}


def run_settings(smoke: bool, device: torch.device) -> tuple[object, dict]:
    """The config and the sizes: GPT-2-124M at batch 16 x 1,024 on a GPU, a tiny config for the smoke run."""
    if smoke:
        config = preset("tiny-gpt2", max_seq_len=64)
        return config, {"batch_size": 4, "seq_len": 64, "warmup_steps": 1, "timed_steps": 1, "data_tokens": 4096,
                        "data_vocab_size": config.vocab_size, "compile_backend": "eager", "matmul_n": 128,
                        "memory_grid": [("fp32", "scratch", 2, False), ("bf16", "sdpa", 4, True)]}
    config = preset("gpt2")
    return config, {"batch_size": 16, "seq_len": 1024, "warmup_steps": 3, "timed_steps": 8, "data_tokens": 2**22,
                    "data_vocab_size": config.vocab_size, "compile_backend": "inductor", "matmul_n": 8192,
                    "memory_grid": [("bf16", "sdpa", 1, False), ("bf16", "sdpa", 4, False), ("bf16", "sdpa", 16, False),
                                    ("fp32", "sdpa", 4, False), ("fp32", "scratch", 4, False),
                                    ("bf16", "sdpa", 16, True)]}


def main(argv: list[str] | None = None) -> int:
    """Run every section, writing the JSON after each (a section that fails records its error and the run goes on)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--smoke", action="store_true", help="tiny config on any device: a test of the code paths")
    parser.add_argument("--device", default=None, help="default: cuda when available (the smoke run: cpu)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip a later section that would not finish this many seconds after the start "
                             "(default 340 on a GPU, no limit for the smoke run)")
    args = parser.parse_args(argv)
    import transformers

    transformers.logging.set_verbosity_error()  # the tiny smoke config's token ids make it warn
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.smoke else "cpu"))
    config, settings = run_settings(args.smoke, device)
    budget_s = args.budget_s if args.budget_s is not None else (float("inf") if args.smoke else 340.0)
    started = time.perf_counter()
    result = {"what": "chapter 7's speed ladder, transformers' GPT-2 ratio and memory budget, one run",
              "smoke": args.smoke, "provenance": provenance(device), "config": dataclasses.asdict(config),
              "settings": {k: v for k, v in settings.items()}, "errors": {}}
    name = result["provenance"]["device_name"]
    flops = training_flops_per_token(config, settings["seq_len"])
    result["flops_per_token"] = flops

    def section(key: str, fn, needs_s: float = 0.0) -> None:
        t0 = time.perf_counter()
        if t0 - started + needs_s > budget_s:
            result["errors"][key] = f"skipped: {t0 - started:.0f} of {budget_s:.0f} s gone, it needs {needs_s:.0f} s"
            fn = None
        try:
            if fn is not None:
                result[key] = fn()
        except Exception as error:  # recorded in the JSON; the other sections still run
            result["errors"][key] = f"{type(error).__name__}: {error}"[:2000]
            if device.type == "cuda":
                torch.cuda.empty_cache()
        result.setdefault("section_seconds", {})[key] = time.perf_counter() - t0
        result["wall_s"] = time.perf_counter() - started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        outcome = result["errors"].get(key, "done")
        print(f"[{result['wall_s']:6.1f} s] {key}: {outcome}", flush=True)

    section("matmul_tflops", lambda: matmul_tflops(settings["matmul_n"], torch.bfloat16, device))
    ladder_rows: list[dict] = []
    models: dict[str, nn.Module] = {}

    def run_ladder() -> list[dict]:
        model, previous = None, None
        for rung in ladder():
            if not same_model(previous, rung):
                model = None
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                model = build_model(config, rung)
            row = measure_rung(model, rung, settings, device)
            add_mfu(row, flops, name)
            ladder_rows.append(row)
            previous = rung
            print(f"  {rung.name:<36} {row['tokens_per_s']:>12,.0f} tokens/s  step {row['step_s'] * 1e3:8.1f} ms",
                  flush=True)
        models["best"] = model
        return ladder_rows

    section("ladder", run_ladder)
    best = max(ladder_rows, key=lambda r: r["tokens_per_s"]) if ladder_rows else None

    def transformers_ratio() -> dict:
        rung = Rung(**best["settings"])
        rows = {"transformers": measure_rung(build_hf_model(config, rung), rung, settings, device)}
        rows["ours"] = measure_rung(build_model(config, rung), rung, settings, device)  # the same, right after
        for row in rows.values():
            add_mfu(row, flops, name)
        return {"settings_of": best["rung"], **rows, "ours_in_ladder": best,
                "ratio_ours_over_transformers": rows["ours"]["tokens_per_s"] / rows["transformers"]["tokens_per_s"]}

    if best is not None and models.get("best") is not None:  # the last rung's model, compiled already
        section("profile", lambda: profile_rows(models["best"], Rung(**best["settings"]), settings, device), 20)
    models.clear()
    section("memory", lambda: memory_rows(config, settings, device), 30)
    if best is not None:
        section("transformers", transformers_ratio, 100)  # compiles GPT2LMHeadModel and ours again
    section("ddp_nccl", lambda: ddp_nccl(torch.cuda.device_count() if device.type == "cuda" else 0))
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
