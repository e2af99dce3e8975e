"""Measuring speed and memory: one place for every timing of the book (chapter 7, used by chapters 3, 5, 6, 10).

Time:
- :func:`synchronize` waits for queued GPU work, so a timer measures the work and not its launch;
- :func:`time_fn` times ``fn()`` after warm-up calls, over repeats (and at least ``min_time_s``): a :class:`Timing`
  with the fastest call, the median and the quartiles;
- :func:`interleaved_times` times several functions in turns (the order flips every round, so a slow spell of a
  shared machine hits all of them alike); :func:`paired_ratios` compares two of them run by run;
- :class:`LapTimer` times a loop's steps one by one; :func:`fastest_per_step` keeps each step's fastest time over
  several runs; :func:`tokens_per_second`.

Compute:
- :func:`non_embedding_parameters` and :func:`training_flops_per_token`, ``6 N + 12 L d_model T`` (Kaplan et al.
  2020, eq. 2.1; the attention term as in the PaLM paper, Chowdhery et al. 2022, appendix B), and
  :func:`flops_left_out`, what that formula does not count;
- :data:`PEAK_BF16_TFLOPS`, :func:`peak_tflops` and :func:`mfu`: model FLOPs utilisation against the dense bf16
  peak of the GPU; a device missing from the table raises :class:`UnknownDeviceError` instead of guessing;
- :func:`matmul_tflops`: what one large matrix product reaches, the practical ceiling of any MFU.

Memory:
- :func:`peak_memory_bytes`: the peak extra memory during ``fn()`` (CUDA allocator; on a CPU the profiler);
- :func:`saved_activation_bytes`: the bytes autograd keeps for the backward pass (what activation memory is);
- :func:`memory_budget`: weights, gradients, AdamW states, autocast's weight copies and activations of a training
  step of a :class:`~utils.transformer.TransformerConfig`, by formula; :func:`checkpoint_blocks` trades the
  activations of every block for recomputation;
- :func:`state_bytes_per_gpu`: weights, gradients and optimizer states per GPU under DDP, ZeRO-1, ZeRO-2 and FSDP.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from utils.checks import check_callable, check_choice, check_int, check_number, fail

__all__ = [
    "synchronize", "Timing", "time_fn", "interleaved_times", "paired_ratios", "LapTimer", "fastest_per_step",
    "tokens_per_second", "non_embedding_parameters", "training_flops_per_token", "flops_left_out", "PEAK_BF16_TFLOPS",
    "UnknownDeviceError", "peak_tflops", "mfu", "matmul_tflops", "peak_memory_bytes", "saved_activation_bytes",
    "memory_budget", "step_peak_bytes", "CheckpointedBlock", "checkpoint_blocks", "SHARDINGS", "state_bytes_per_gpu",
]


# =============================================================================================================
# Time
# =============================================================================================================


def _device(device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        fail(f"device must be a str such as 'cpu' or 'cuda', or a torch.device, got {device!r}", TypeError)
    try:
        return torch.device(device)
    except RuntimeError:
        fail(f"device {device!r} is not a device torch knows: use 'cpu', 'cuda', 'cuda:1' or 'mps'")


def synchronize(device: torch.device | str = "cpu") -> None:
    """Wait until the work queued on ``device`` is done (CUDA and MPS run asynchronously; the CPU does not)."""
    device = _device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Seconds of each timed call (``times``, in the order run) and their summaries.

    The fastest call is the one least disturbed by other work on the machine; the median and the quartiles show
    the spread (quartiles by ``statistics.quantiles(n=4)``).
    """

    times: tuple[float, ...]

    @property
    def fastest(self) -> float:
        """The shortest time, in seconds."""
        return min(self.times)

    @property
    def median(self) -> float:
        """The median time, in seconds."""
        return statistics.median(self.times)

    @property
    def quartiles(self) -> tuple[float, float]:
        """``(q1, q3)`` in seconds; both the single time when there is one."""
        if len(self.times) < 2:
            return self.times[0], self.times[0]
        q1, _, q3 = statistics.quantiles(self.times, n=4)
        return q1, q3

    def describe(self, unit: str = "ms") -> str:
        """``'median 12.3 ms (fastest 11.9, IQR 12.0-12.6, 5 runs)'`` in ``unit`` ('s', 'ms' or 'us')."""
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[check_choice("unit", unit, ("s", "ms", "us"))]
        q1, q3 = self.quartiles
        return (f"median {self.median * scale:.3g} {unit} (fastest {self.fastest * scale:.3g}, "
                f"IQR {q1 * scale:.3g}-{q3 * scale:.3g}, {len(self.times)} runs)")


def time_fn(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    warmup: int = 1,
    repeats: int = 3,
    min_time_s: float = 0.0,
) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then at least ``repeats`` timed ones lasting ``min_time_s`` in all.

    The device is synchronised before the clock starts and after each call. Returns a :class:`Timing`.
    """
    check_callable("fn", fn)
    device = _device(device)
    check_int("warmup", warmup, minimum=0)
    check_int("repeats", repeats, minimum=1)
    check_number("min_time_s", min_time_s, minimum=0)
    for _ in range(warmup):
        fn()
    synchronize(device)
    times: list[float] = []
    while len(times) < repeats or sum(times) < min_time_s:
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return Timing(tuple(times))


def interleaved_times(
    fns: dict[str, Callable[[], object]], device: torch.device | str = "cpu", warmup: int = 1, repeats: int = 5,
    block: int = 1, settle: int = 0,
) -> dict[str, Timing]:
    """Time several functions in turns: ``warmup`` untimed rounds, then ``repeats`` rounds of one turn each.

    A turn is ``settle`` untimed calls of one function, then ``block`` timed ones. The order of the turns reverses
    every round, so drift in the machine's speed falls on all of them alike. With ``block=1, settle=0`` the
    functions strictly alternate, and each call finds the caches as the previous function left them; a few calls
    in a row after a settling one time each function on caches it has warmed itself, as in a process that serves
    one model. Returns ``name -> Timing`` of ``repeats * block`` calls each; call ``i`` of every function shares
    its round.
    """
    if not isinstance(fns, dict) or not fns:
        fail(f"fns must be a non-empty dict name -> function, got {fns!r}", TypeError)
    for name, fn in fns.items():
        check_callable(f"fns[{name!r}]", fn)
    device = _device(device)
    check_int("warmup", warmup, minimum=0)
    check_int("repeats", repeats, minimum=1)
    check_int("block", block, minimum=1)
    check_int("settle", settle, minimum=0)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        order = list(fns) if round_ % 2 == 0 else list(reversed(fns))
        for name in order:
            for _ in range(settle):
                fns[name]()
            synchronize(device)
            for _ in range(block):
                start = time.perf_counter()
                fns[name]()
                synchronize(device)
                times[name].append(time.perf_counter() - start)
    return {name: Timing(tuple(values)) for name, values in times.items()}


def paired_ratios(numerator: Timing, denominator: Timing) -> Timing:
    """Run-by-run ratios ``denominator.times[i] / numerator.times[i]``: the speed-up of ``numerator``, per round.

    Two timings from :func:`interleaved_times` share their rounds; the median of the ratios is less disturbed by
    a slow spell than the ratio of the medians. Returned as a :class:`Timing` of ratios (unitless).
    """
    for name, value in (("numerator", numerator), ("denominator", denominator)):
        if not isinstance(value, Timing):
            fail(f"{name} must be a Timing (from interleaved_times), got {type(value).__name__}", TypeError)
    if len(numerator.times) != len(denominator.times):
        fail(f"numerator and denominator must have as many runs, got {len(numerator.times)} and "
             f"{len(denominator.times)}: time them together with interleaved_times")
    return Timing(tuple(d / n for n, d in zip(numerator.times, denominator.times)))


class LapTimer:
    """Seconds between successive :meth:`lap` calls, the device synchronised at each: ``laps`` (a list)."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device, self.laps = _device(device), []
        synchronize(self.device)
        self._last = time.perf_counter()

    def lap(self) -> float:
        """Record and return the seconds since the previous lap (or since the timer was made)."""
        synchronize(self.device)
        now = time.perf_counter()
        self.laps.append(now - self._last)
        self._last = now
        return self.laps[-1]


def fastest_per_step(runs: Sequence[Sequence[float]]) -> list[float]:
    """Each step's fastest time over several runs of the same loop: ``runs[r][i]`` seconds -> ``[min_r runs[r][i]]``."""
    if not runs or any(len(run) != len(runs[0]) for run in runs):
        fail(f"runs must be a non-empty list of equally long lists of seconds, got lengths {[len(r) for r in runs]}")
    return [min(step) for step in zip(*runs)]


def tokens_per_second(n_tokens: int, seconds: float) -> float:
    """Throughput: ``n_tokens / seconds``."""
    check_int("n_tokens", n_tokens, minimum=0)
    check_number("seconds", seconds, minimum=0)
    if seconds == 0:
        fail("seconds must be > 0: time more work (more steps or a larger batch)")
    return n_tokens / seconds


# =============================================================================================================
# Compute: FLOPs per token and model FLOPs utilisation
# =============================================================================================================


def _config(config):
    from utils.transformer import TransformerConfig

    if not isinstance(config, TransformerConfig):
        fail(f"config must be a utils.transformer.TransformerConfig (e.g. preset('gpt2')), got {type(config).__name__}",
             TypeError)
    return config


def non_embedding_parameters(config) -> int:
    """N of the FLOPs formula: the parameters of ``TransformerLM(config)`` minus the embeddings and the LM head.

    Kaplan et al. (2020) leave out the token and position embeddings; the output layer (tied to the token
    embedding in GPT-2) goes with them. What remains: attention, feed-forward, norms (and a pooler).
    """
    from utils.transformer import parameter_breakdown

    parts = parameter_breakdown(_config(config), lm_head=True)
    return sum(parts.values()) - parts["embeddings"] - parts["lm_head"]


def _seq_len(config, seq_len: int | None) -> int:
    seq_len = config.max_seq_len if seq_len is None else seq_len
    return check_int("seq_len", seq_len, minimum=1, maximum=config.max_seq_len)


def training_flops_per_token(config, seq_len: int | None = None) -> int:
    """Training FLOPs per token, ``6 N + 12 L d_model T`` (forward + backward, the backward costing twice the forward).

    ``N``: :func:`non_embedding_parameters`; every weight does a multiply and an add per token (2 FLOPs), three
    times (forward, gradient of the input, gradient of the weight). ``12 L d_model T``: the two attention products
    ``q k^T`` and ``p v``, ``2 * 2 T d_model`` FLOPs per token and layer forward, times 3. ``T``: ``seq_len``
    (default ``config.max_seq_len``). See :func:`flops_left_out` for what it does not count.
    """
    config = _config(config)
    T = _seq_len(config, seq_len)
    return 6 * non_embedding_parameters(config) + 12 * config.n_layers * config.d_model * T


def flops_left_out(config, seq_len: int | None = None) -> dict[str, int]:
    """Training FLOPs per token that :func:`training_flops_per_token` does not count, or counts but no GPU does.

    - ``lm_head``: the output layer's product, ``6 V d_model`` (left out with the embeddings; large for a small
      model with a large vocabulary);
    - ``vector_params``: ``6 x`` the biases and norm weights, counted in ``N`` but not matrix products (negative:
      counted though no matmul does it);
    - ``causal_half``: ``-6 L d_model T``: the formula counts every query against every key; a causal kernel
      (FlashAttention) skips the masked half;
    - element-wise work (softmax, GELU, norms, the loss, AdamW) is in neither and costs memory traffic, not FLOPs
      of the tensor cores: not counted here.
    """
    config = _config(config)
    T = _seq_len(config, seq_len)
    from utils.transformer import TransformerLM

    with torch.device("meta"):
        model = TransformerLM(config)
    vectors = sum(p.numel() for name, p in model.named_parameters() if p.dim() == 1 and "emb" not in name)
    return {
        "lm_head": 6 * config.vocab_size * config.d_model,
        "vector_params": -6 * vectors,
        "causal_half": -6 * config.n_layers * config.d_model * T,
    }


# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, in TFLOP/s.
PEAK_BF16_TFLOPS: dict[str, float] = {
    "H100 SXM": 989.0,  # H100 SXM5 data sheet: 1,979 with 2:4 sparsity, half of it dense
    "H200 SXM": 989.0,  # the H100's compute with more memory (141 GB HBM3e)
    "H200 NVL": 836.0,  # the PCIe card, lower clocks and power
    "A100": 312.0,  # A100 SXM4 and PCIe, 40 and 80 GB
}
# How torch.cuda.get_device_name() spells them ("NVIDIA H100 80GB HBM3", "NVIDIA H200", "NVIDIA A100-SXM4-80GB").
_NAME_PATTERNS = (
    ("H200 NVL", r"H200.*NVL"),
    ("H200 SXM", r"H200"),
    ("H100 SXM", r"H100(?!.*(PCIE|NVL)).*(SXM|HBM3)"),
    ("A100", r"A100"),
)


class UnknownDeviceError(ValueError):
    """The device has no peak in :data:`PEAK_BF16_TFLOPS`: MFU is not defined for it until one is added."""


def peak_tflops(device_name: str) -> float:
    """The dense bf16 peak (TFLOP/s) of a GPU named as ``torch.cuda.get_device_name()`` names it.

    Raises :class:`UnknownDeviceError` for a device the table does not hold (a CPU, an H100 PCIe...) rather than
    guess: add its data-sheet figure to :data:`PEAK_BF16_TFLOPS` and a pattern for its name.
    """
    if not isinstance(device_name, str):
        fail(f"device_name must be a str such as torch.cuda.get_device_name(), got {type(device_name).__name__}",
             TypeError)
    for key, pattern in _NAME_PATTERNS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return PEAK_BF16_TFLOPS[key]
    raise UnknownDeviceError(
        f"device_name {device_name!r} has no dense bf16 peak in utils.perf.PEAK_BF16_TFLOPS (known: "
        f"{', '.join(PEAK_BF16_TFLOPS)}), so MFU is not defined for it; add the data-sheet figure to compute one"
    )


def mfu(tokens_per_s: float, flops_per_token: float, device_name: str) -> float:
    """Model FLOPs utilisation: ``tokens_per_s * flops_per_token / peak`` (a fraction; 0.45 is 45%).

    ``flops_per_token`` from :func:`training_flops_per_token`; the peak from :func:`peak_tflops` (which raises
    :class:`UnknownDeviceError` for a device without one).
    """
    check_number("tokens_per_s", tokens_per_s, minimum=0)
    check_number("flops_per_token", flops_per_token, minimum=0)
    return tokens_per_s * flops_per_token / (peak_tflops(device_name) * 1e12)


def matmul_tflops(n: int, dtype: torch.dtype = torch.bfloat16, device: torch.device | str = "cpu",
                  repeats: int = 5) -> float:
    """TFLOP/s of an ``(n, n) @ (n, n)`` product (``2 n^3`` FLOPs), the fastest of ``repeats`` after a warm-up."""
    check_int("n", n, minimum=1)
    if not isinstance(dtype, torch.dtype):
        fail(f"dtype must be a torch.dtype such as torch.bfloat16, got {dtype!r}", TypeError)
    device = _device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    timing = time_fn(lambda: a @ b, device, warmup=1, repeats=repeats)
    return 2 * n**3 / timing.fastest / 1e12


# =============================================================================================================
# Memory
# =============================================================================================================


@contextlib.contextmanager
def _stderr_silenced():
    """torch.profiler's C++ layer writes start/stop lines straight to file descriptor 2; hide them."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """The peak of the memory allocated during ``fn()`` above what was allocated before it, in bytes.

    On CUDA: ``torch.cuda.max_memory_allocated`` (what the caching allocator handed out, not what it reserved).
    On a CPU: the running sum of torch.profiler's allocation and free events, in time order. Other devices
    raise ``ValueError`` (their allocators report no peak).
    """
    check_callable("fn", fn)
    device = _device(device)
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    if device.type != "cpu":
        fail(f"device {device} reports no peak memory: measure on 'cuda' or 'cpu'")
    with _stderr_silenced(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                    profile_memory=True) as prof:
        fn()
    events = sorted(prof.events(), key=lambda event: event.time_range.start)
    in_use, peak = 0, 0
    for event in events:
        in_use += event.self_cpu_memory_usage  # bytes allocated by this op, minus bytes it freed
        peak = max(peak, in_use)
    return int(peak)


def saved_activation_bytes(fn: Callable[[], object], model: nn.Module) -> int:
    """Bytes of the tensors autograd saves for the backward pass while ``fn()`` runs (a forward pass of ``model``).

    Counted once per storage (a tensor saved by two operations is one allocation), parameters excluded (they are
    weights, counted elsewhere). autocast's low-precision copies of the weights are saved too, and counted.
    """
    check_callable("fn", fn)
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {type(model).__name__}", TypeError)
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(storages.values())


PRECISIONS = ("fp32", "bf16")
ATTENTIONS = ("sdpa", "scratch")


def _layer_activation_bytes(config, seq_len: int, precision: str, attention: str) -> int:
    """Bytes autograd saves per token in one pre-norm GELU block, counted from what each operation keeps.

    fp32: the block input and LayerNorm output (read by the norm's and q/k/v's backward), q, k, v, the attention
    output (out_proj's input), the residual stream and the second norm's output, GELU's input and output (d_ff
    each); 2 floats of norm statistics per norm. bf16 autocast: the residual stream stays float32; each linear
    layer saves its own bf16 copy of its input (q, k and v each cast the norm's output). SDPA keeps a log-sum-exp
    per head; the from-scratch attention keeps the softmax output and its masked copy, ``n_heads * T`` each.
    """
    h, f, a = config.d_model, config.d_ff, config.n_heads
    d_kv = config.n_kv_heads * config.d_head
    if precision == "fp32":
        layer = 4 * (6 * h + 2 * d_kv + 2 * f) + 4 * 4  # ... + mean and 1/std of two LayerNorms
        attention_bytes = 4 * 2 * a * seq_len if attention == "scratch" else 4 * a
    else:
        residual = 4 * 2 * h  # the block input and the stream after attention, float32 (LayerNorm inputs)
        casts = 2 * (3 * h + h)  # bf16 copies of the norm outputs: q, k, v projections, then the MLP's first layer
        layer = residual + casts + 2 * (h + 2 * d_kv) + 2 * h + 2 * 2 * f + 4 * 4
        attention_bytes = 2 * 2 * a * seq_len if attention == "scratch" else 4 * a
    return layer + attention_bytes


def _head_activation_bytes(config, precision: str) -> int:
    """Per token: the final norm's input, statistics and output (or its bf16 copy), log-softmax's float32 output,
    and the int64 token ids and targets."""
    h, V = config.d_model, config.vocab_size
    norm_out = 4 * h if precision == "fp32" else 2 * h
    return 4 * h + 2 * 4 + norm_out + 4 * V + 8 + 8


def memory_budget(
    config,
    batch_size: int,
    seq_len: int | None = None,
    precision: str = "fp32",
    attention: str = "sdpa",
    checkpointing: bool = False,
) -> dict[str, int]:
    """Bytes of one training step of ``TransformerLM(config)`` with AdamW, by part (a dict of ints).

    - ``weights``: 4 bytes per parameter (float32 master weights, also under autocast);
    - ``gradients``: 4 bytes per parameter;
    - ``optimizer``: AdamW's two moments, 8 bytes per parameter;
    - ``autocast_copies``: under bf16 autocast, a 2-byte copy of every matrix, cached for the step;
    - ``activations``: what autograd saves, ``batch_size * seq_len`` tokens times (``n_layers`` blocks + the
      head), see :func:`saved_activation_bytes`; with ``checkpointing`` each block keeps only its float32 input,
      and ``recompute`` is one block's activations, made again in the backward pass.

    ``precision``: "fp32" or "bf16" (autocast); ``attention``: "sdpa" (fused) or "scratch" (the softmax matrix
    is kept). ``logits_transient``: the float32 gradient of the logits (and, under autocast, the bf16 logits),
    alive while the backward pass starts; :func:`step_peak_bytes` adds the parts up to the step's peak. Valid
    for GELU, pre-norm configs (GPT-2).
    """
    config = _config(config)
    check_int("batch_size", batch_size, minimum=1)
    T = _seq_len(config, seq_len)
    check_choice("precision", precision, PRECISIONS)
    check_choice("attention", attention, ATTENTIONS)
    if config.mlp == "swiglu" or config.norm_position != "pre":
        fail(f"memory_budget counts the activations of pre-norm GELU blocks (GPT-2), got mlp={config.mlp!r}, "
             f"norm_position={config.norm_position!r}")
    from utils.transformer import parameter_breakdown

    parts = parameter_breakdown(config, lm_head=True)
    n_params = sum(parts.values())
    matrices = parts["attention"] + parts["mlp"] - config.n_layers * _vector_params_per_layer(config)
    matrices += config.vocab_size * config.d_model  # the head's matrix (the tied token embedding)
    per_layer = _layer_activation_bytes(config, T, precision, attention)
    layers = config.n_layers * (4 * config.d_model if checkpointing else per_layer)
    tokens = batch_size * T
    masks = config.n_layers * (T * T + T) if attention == "scratch" else 0  # the causal mask and ~mask.any(-1)
    return {
        "weights": 4 * n_params,
        "gradients": 4 * n_params,
        "optimizer": 8 * n_params,
        "autocast_copies": 2 * matrices if precision == "bf16" else 0,
        "activations": tokens * (layers + _head_activation_bytes(config, precision)) + masks,
        "logits_transient": tokens * config.vocab_size * (4 + (2 if precision == "bf16" else 0)),
        "recompute": tokens * per_layer if checkpointing else 0,
    }


def step_peak_bytes(budget: dict[str, int]) -> int:
    """The peak memory of a training step from a :func:`memory_budget`: weights, optimizer states and autocast's
    copies, plus the larger of (activations + the transient logits) and the gradients.

    The peak comes as the backward pass starts: every activation is still held, the float32 gradient of the
    logits is being made, and the gradients (set to None by ``zero_grad``) do not exist yet; they grow as the
    activations are freed. With checkpointing, the recomputed block's activations take the logits' place.
    """
    keys = ("weights", "gradients", "optimizer", "autocast_copies", "activations", "logits_transient", "recompute")
    if not isinstance(budget, dict) or any(key not in budget for key in keys):
        fail(f"budget must be the dict memory_budget returns (keys {keys}), got {budget!r}", TypeError)
    held = budget["weights"] + budget["optimizer"] + budget["autocast_copies"]
    during_backward = budget["activations"] + max(budget["logits_transient"], budget["recompute"])
    return held + max(during_backward, budget["gradients"])


def _vector_params_per_layer(config) -> int:
    """Biases of the attention and MLP linears of one layer (1-D parameters other than norms)."""
    d_kv = config.n_kv_heads * config.d_head
    return 2 * config.d_model + 2 * d_kv + config.d_ff + config.d_model if config.bias else 0


class CheckpointedBlock(nn.Module):
    """A transformer block whose activations are recomputed in the backward pass instead of kept.

    ``torch.utils.checkpoint.checkpoint`` (non-reentrant) keeps only the block's inputs; the backward pass runs
    the block's forward again. Same outputs and gradients, less memory, about one more forward pass of compute."""

    def __init__(self, block: nn.Module):
        super().__init__()
        if not isinstance(block, nn.Module):
            fail(f"block must be an nn.Module (a TransformerBlock), got {type(block).__name__}", TypeError)
        self.block = block

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """``(B, T, d_model) -> (B, T, d_model)``, as the wrapped block (keyword arguments passed on)."""
        from torch.utils.checkpoint import checkpoint

        return checkpoint(self.block, x, use_reentrant=False, **kwargs)


def checkpoint_blocks(model: nn.Module) -> nn.Module:
    """Wrap every block of a ``TransformerLM`` or ``Transformer`` in :class:`CheckpointedBlock`, in place; returns
    ``model``. Its ``state_dict`` keys gain ``.block``: checkpoint the weights before wrapping."""
    from utils.transformer import Transformer, TransformerLM

    if not isinstance(model, (Transformer, TransformerLM)):
        fail(f"model must be a utils.transformer.TransformerLM or Transformer, got {type(model).__name__}", TypeError)
    trunk = model.transformer if isinstance(model, TransformerLM) else model
    for i, block in enumerate(trunk.blocks):
        if not isinstance(block, CheckpointedBlock):
            trunk.blocks[i] = CheckpointedBlock(block)
    return model


SHARDINGS = ("ddp", "zero1", "zero2", "fsdp")  # what each GPU holds of the 16 bytes a parameter, see below


def state_bytes_per_gpu(n_params: int, n_gpus: int, sharding: str = "fsdp") -> float:
    """Bytes of weights, gradients and AdamW states each GPU holds (float32 throughout: 4 + 4 + 8 bytes a parameter).

    - ``ddp``: every GPU holds everything, ``16 P``;
    - ``zero1``: optimizer states sharded, ``8 P + 8 P / n``;
    - ``zero2``: gradients too, ``4 P + 12 P / n``;
    - ``fsdp`` (ZeRO-3, ``fully_shard``): weights too, ``16 P / n`` (plus, briefly, one layer's gathered weights).
    Activations are not included: each GPU keeps those of its own batch.
    """
    check_int("n_params", n_params, minimum=0)
    check_int("n_gpus", n_gpus, minimum=1)
    check_choice("sharding", sharding, SHARDINGS)
    P, n = n_params, n_gpus
    return {"ddp": 16 * P, "zero1": 8 * P + 8 * P / n, "zero2": 4 * P + 12 * P / n, "fsdp": 16 * P / n}[sharding]
