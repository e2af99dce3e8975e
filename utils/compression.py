"""Making a classifier smaller and faster, and measuring what that buys (chapter 10).

Measure (all timings through ``utils.perf``):

- :func:`compare_latency` times several predictors ``texts -> probs`` in turns on the same sentences: each
  one's p50 and p95 at batch 1 and its throughput at batch 32, as :class:`LatencyReport`;
  :func:`speedup` is the median of the run-by-run ratios against a reference;
- :func:`serialized_bytes` is the size of a model on disk (optionally compressed, which shows what zeros save);
  :func:`peak_rss_bytes` the extra resident memory of the process during a call (any library, not only torch).

Compress:

- :func:`prune_magnitude` zeroes the smallest weights of every linear layer of the encoder (unstructured);
  :func:`prune_ffn_neurons` removes whole hidden neurons of every feed-forward block (structured: smaller matrices);
  :func:`linear_sparsity` is the fraction of zero weights;
- :func:`student_from_teacher` keeps some blocks of a classifier, initialised from the teacher's;
  :func:`distillation_loss` is Hinton et al.'s (2015) loss, the KL divergence to the teacher's softened
  probabilities times ``T**2`` mixed with the cross-entropy to the labels; :func:`train_student` trains a student
  with it through ``utils.training.fit``.

Int8 and ONNX live in ``utils.export``.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import os
import pickle
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.checks import check_callable, check_int, check_number, check_tensor, describe, fail

__all__ = [
    "LatencyReport", "compare_latency", "speedup", "predict_in_batches", "serialized_bytes", "peak_rss_bytes", "prune_magnitude",
    "prune_ffn_neurons", "linear_sparsity", "student_from_teacher", "distillation_loss", "train_student",
]


# =============================================================================================
# 1. Latency, size, memory
# =============================================================================================


@dataclass(frozen=True)
class LatencyReport:
    """One predictor's timings: ``single`` (one sentence per call) and ``batch`` (``batch_size`` per call)."""

    single: object  # utils.perf.Timing of the batch-1 calls, seconds
    batch: object  # utils.perf.Timing of the batch calls, seconds
    batch_size: int

    @property
    def p50_ms(self) -> float:
        """Median latency of one sentence, ms."""
        return 1e3 * float(np.percentile(self.single.times, 50))

    @property
    def p95_ms(self) -> float:
        """95th percentile of the latency of one sentence, ms (NumPy's linear interpolation)."""
        return 1e3 * float(np.percentile(self.single.times, 95))

    @property
    def throughput(self) -> float:
        """Sentences per second at ``batch_size`` (median call)."""
        return self.batch_size / self.batch.median


def _check_predictors(predictors) -> None:
    if not isinstance(predictors, dict) or not predictors:
        fail(f"predictors must be a non-empty dict name -> function texts -> probs, got {describe(predictors)}",
             TypeError)
    for name, fn in predictors.items():
        check_callable(f"predictors[{name!r}]", fn, hint="a function that takes a list of sentences")


def _cycling(fn: Callable, chunks: list[list[str]]) -> Callable[[], object]:
    state = {"i": 0}

    def call():
        chunk = chunks[state["i"] % len(chunks)]
        state["i"] += 1
        return fn(chunk)

    return call


def compare_latency(predictors: dict[str, Callable[[list[str]], object]], texts: Sequence[str], batch_size: int = 32,
                    n_single: int = 40, n_batch: int = 5, warmup: int = 2, block: int = 4,
                    settle: int = 1) -> dict[str, LatencyReport]:
    """Time every predictor on the same sentences, in turns (``utils.perf.interleaved_times``).

    Batch 1: ``n_single`` timed calls of each predictor (rounded up to whole turns of ``block``), call ``i`` on
    sentence ``i`` (cycling through ``texts``). Batch ``batch_size``: ``n_batch`` timed calls on consecutive chunks
    of ``texts``, one per turn. Each turn starts with ``settle`` untimed calls, so every timed call finds the caches
    as the same predictor left them, as in a process that serves one model; ``block=1, settle=0`` alternates the
    predictors call by call instead. Returns ``name -> LatencyReport``.
    """
    from utils.perf import interleaved_times

    _check_predictors(predictors)
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts or not all(isinstance(t, str) for t in texts):
        fail(f"texts must be a non-empty list of strings, got {describe(texts)}", TypeError)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if len(texts) < batch_size:
        fail(f"texts must hold at least batch_size={batch_size} sentences, got {len(texts)}", ValueError)
    n_single, n_batch = check_int("n_single", n_single, minimum=2), check_int("n_batch", n_batch, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    block, settle = check_int("block", block, minimum=1), check_int("settle", settle, minimum=0)
    singles = [[t] for t in texts]
    chunks = [list(texts[i:i + batch_size]) for i in range(0, len(texts) - batch_size + 1, batch_size)]
    single = interleaved_times({k: _cycling(fn, singles) for k, fn in predictors.items()}, warmup=warmup,
                               repeats=-(-n_single // block), block=block, settle=settle)
    batch = interleaved_times({k: _cycling(fn, chunks) for k, fn in predictors.items()}, warmup=min(warmup, 1),
                              repeats=n_batch, settle=settle)
    return {k: LatencyReport(single[k], batch[k], batch_size) for k in predictors}


def speedup(reports: dict[str, LatencyReport], name: str, reference: str, kind: str = "single") -> float:
    """How many times faster ``name`` is than ``reference``: the median of their run-by-run time ratios.

    ``kind`` is ``"single"`` (batch 1) or ``"batch"``; both from one :func:`compare_latency` call.
    """
    from utils.perf import paired_ratios

    if not isinstance(reports, dict) or not all(isinstance(r, LatencyReport) for r in reports.values()):
        fail(f"reports must be compare_latency's dict name -> LatencyReport, got {describe(reports)}", TypeError)
    for label, key in (("name", name), ("reference", reference)):
        if key not in reports:
            fail(f"{label} {key!r} is not in reports, which holds {sorted(reports)}", KeyError)
    if kind not in ("single", "batch"):
        fail(f"kind must be 'single' or 'batch', got {describe(kind)}", ValueError)
    return paired_ratios(getattr(reports[name], kind), getattr(reports[reference], kind)).median


def predict_in_batches(predict: Callable[[list[str]], np.ndarray], texts: Sequence[str],
                       batch_size: int = 64) -> np.ndarray:
    """``predict`` over all ``texts`` in batches of similar length (little padding), rows back in ``texts``' order.

    ``predict(list of sentences) -> (n, ...)`` array; returns the ``(N, ...)`` rows stacked. Lengths are counted in
    characters, a cheap stand-in for tokens.
    """
    check_callable("predict", predict, hint="a function list of sentences -> array, e.g. TorchTextClassifier(...)")
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts or not all(isinstance(t, str) for t in texts):
        fail(f"texts must be a non-empty list of strings, got {describe(texts)}", TypeError)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    order = np.argsort([len(t) for t in texts], kind="stable")
    parts = [np.asarray(predict([texts[i] for i in order[start:start + batch_size]]))
             for start in range(0, len(texts), batch_size)]
    out = np.empty((len(texts), *parts[0].shape[1:]), dtype=parts[0].dtype)
    out[order] = np.concatenate(parts)
    return out


def serialized_bytes(obj, compress: bool = False) -> int:
    """Bytes of ``obj`` on disk: a file's size (a path), a module's ``state_dict`` saved by ``torch.save``, or a pickle.

    ``compress=True`` gives the size after ``zlib`` (level 1) instead: runs of zeros, such as pruned weights, shrink.
    """
    if isinstance(obj, (str, os.PathLike)):
        if not os.path.isfile(obj):
            fail(f"obj {str(obj)!r} is not a file", FileNotFoundError)
        with open(obj, "rb") as handle:
            data = handle.read() if compress else None
        return len(zlib.compress(data, 1)) if compress else os.path.getsize(obj)
    if obj is None:
        fail("obj must be a model, a file path or a picklable object, got None", TypeError)
    buffer = io.BytesIO()
    if isinstance(obj, nn.Module):
        torch.save(obj.state_dict(), buffer)
    else:
        pickle.dump(obj, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    data = buffer.getvalue()
    return len(zlib.compress(data, 1)) if compress else len(data)


def _resident_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _release_free_memory() -> None:
    """Hand memory that was freed back to the system (glibc's ``malloc_trim``), so the next peak is measured afresh."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another C library: freed memory may stay resident and hide part of a peak
        pass


def peak_rss_bytes(fn: Callable[[], object]) -> int:
    """The peak resident memory of this process during ``fn()`` above its resident memory before, in bytes.

    Linux only: freed memory is returned to the system first (``malloc_trim``), then the kernel's high-water mark
    (``VmHWM``) is reset through ``/proc/self/clear_refs``. Unlike
    ``utils.perf.peak_memory_bytes`` (torch's allocations) it sees every library, onnxruntime included.
    """
    check_callable("fn", fn)
    if not os.path.exists("/proc/self/clear_refs"):
        fail("peak_rss_bytes reads Linux's /proc/self/status, which this system does not have", OSError,
             "on other systems use utils.perf.peak_memory_bytes (torch's allocations only)")
    _release_free_memory()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # reset the peak resident set size to the current one
    before = _resident_kib("VmRSS")
    fn()
    return max(0, _resident_kib("VmHWM") - before) * 1024


# =============================================================================================
# 2. Pruning
# =============================================================================================


def _encoder_linears(model: nn.Module) -> list[nn.Linear]:
    encoder = getattr(model, "encoder", None)
    if not isinstance(model, nn.Module) or encoder is None or not hasattr(encoder, "blocks"):
        fail(f"model must be a utils.classifiers.SequenceClassifier, got {describe(model)}", TypeError)
    return [m for block in encoder.blocks for m in block.modules() if isinstance(m, nn.Linear)]


def prune_magnitude(model: nn.Module, amount: float) -> nn.Module:
    """A copy of ``model`` whose encoder linear layers each have their ``amount`` smallest-|w| weights set to 0.

    Unstructured (``torch.nn.utils.prune.l1_unstructured``, made permanent): the matrices keep their shapes, so a
    dense file and a dense matrix product cost what they did; only a compressed file or sparse kernels gain.
    """
    from torch.nn.utils import prune

    _encoder_linears(model)
    amount = check_number("amount", amount, minimum=0.0, maximum=1.0)
    pruned = copy.deepcopy(model)
    for layer in _encoder_linears(pruned):
        prune.l1_unstructured(layer, "weight", amount=amount)
        prune.remove(layer, "weight")
    return pruned


def prune_ffn_neurons(model: nn.Module, fraction: float) -> nn.Module:
    """A copy of ``model`` with ``fraction`` of each feed-forward block's hidden neurons removed (structured).

    A neuron ``j`` of ``FFN(x) = W2 gelu(W1 x + b1) + b2`` is row ``j`` of ``W1`` and column ``j`` of ``W2``; its
    score is ``||W1[j]|| * ||W2[:, j]||`` and the lowest scores go. ``w1`` becomes ``(d_ff', d_model)`` and ``w2``
    ``(d_model, d_ff')``: smaller files and faster products with any kernel.
    """
    _encoder_linears(model)
    fraction = check_number("fraction", fraction, minimum=0.0, maximum=0.99)
    pruned = copy.deepcopy(model)
    for block in pruned.encoder.blocks:
        mlp = block.mlp
        if not (hasattr(mlp, "w1") and hasattr(mlp, "w2")) or hasattr(mlp, "w3"):
            fail("prune_ffn_neurons needs GELU feed-forward blocks (w1, w2), e.g. BERT's or MiniLM's", ValueError)
        d_ff = mlp.w1.out_features
        keep_n = max(1, round(d_ff * (1.0 - fraction)))
        scores = mlp.w1.weight.norm(dim=1) * mlp.w2.weight.norm(dim=0)  # (d_ff,)
        keep = scores.topk(keep_n).indices.sort().values
        mlp.w1 = _sliced(mlp.w1, rows=keep)
        mlp.w2 = _sliced(mlp.w2, cols=keep)
    return pruned


def _sliced(layer: nn.Linear, rows: Tensor | None = None, cols: Tensor | None = None) -> nn.Linear:
    weight = layer.weight.detach()
    weight = weight[rows] if rows is not None else weight[:, cols]
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None)
    with torch.no_grad():
        new.weight.copy_(weight)
        if layer.bias is not None:
            new.bias.copy_(layer.bias.detach()[rows] if rows is not None else layer.bias.detach())
    return new


def linear_sparsity(model: nn.Module) -> float:
    """The fraction of exactly-zero weights over all linear layers of the encoder's blocks."""
    layers = _encoder_linears(model)
    zeros = sum(int((layer.weight == 0).sum()) for layer in layers)
    return zeros / sum(layer.weight.numel() for layer in layers)


# =============================================================================================
# 3. Distillation
# =============================================================================================


def student_from_teacher(teacher: nn.Module, keep_layers: Sequence[int]) -> nn.Module:
    """A copy of the classifier ``teacher`` with only the blocks ``keep_layers`` (in that order), weights copied.

    Embeddings, pooler and head are the teacher's; ``config.n_layers`` is updated. DistilBERT (Sanh et al., 2019)
    initialises its student the same way, from every other layer of the teacher.
    """
    _encoder_linears(teacher)
    n_layers = len(teacher.encoder.blocks)
    if isinstance(keep_layers, (str, bytes)) or not isinstance(keep_layers, Sequence) or not keep_layers:
        fail(f"keep_layers must be a non-empty list of block indices, got {describe(keep_layers)}", TypeError)
    for i in keep_layers:
        check_int("keep_layers[i]", i, minimum=0, maximum=n_layers - 1)
    if len(set(keep_layers)) != len(keep_layers):
        fail(f"keep_layers must not repeat a block, got {list(keep_layers)}", ValueError)
    student = copy.deepcopy(teacher)
    student.encoder.blocks = nn.ModuleList(student.encoder.blocks[i] for i in keep_layers)
    student.encoder.config = dataclasses.replace(student.encoder.config, n_layers=len(keep_layers))
    return student


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, temperature: float = 2.0,
                      alpha: float = 0.5) -> Tensor:
    """``alpha * T**2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, labels)``, mean over the batch.

    ``student_logits`` and ``teacher_logits`` are ``(B, C)``, ``labels`` int64 ``(B,)``. ``T**2`` keeps the soft
    term's gradients on the scale of the hard one's as ``T`` grows (Hinton et al., 2015). ``alpha=0``: hard labels
    only; ``alpha=1``: the teacher only.
    """
    check_tensor("student_logits", student_logits, ndim=2, dtype="float")
    check_tensor("teacher_logits", teacher_logits, ndim=2, dtype="float")
    check_tensor("labels", labels, ndim=1, dtype="int")
    if student_logits.shape != teacher_logits.shape:
        fail(f"teacher_logits must be shaped like student_logits {tuple(student_logits.shape)}, got "
             f"{tuple(teacher_logits.shape)}", ValueError)
    if labels.shape[0] != student_logits.shape[0]:
        fail(f"labels must hold one label per row ({student_logits.shape[0]}), got {labels.shape[0]}", ValueError)
    temperature = check_number("temperature", temperature, above=0.0)
    alpha = check_number("alpha", alpha, minimum=0.0, maximum=1.0)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_probs = F.softmax(teacher_logits.float() / temperature, dim=-1)
    soft = F.kl_div(log_student, teacher_probs, reduction="batchmean") * temperature**2
    hard = F.cross_entropy(student_logits.float(), labels)
    return alpha * soft + (1.0 - alpha) * hard


def _soft_label_batches(encoded, labels: Tensor, teacher_logits: Tensor, batch_size: int):
    """A function returning the next ``(ids, mask, labels, teacher_logits)`` of a shuffled pass (torch's RNG)."""
    state = {"order": torch.empty(0, dtype=torch.int64), "next": 0}

    def next_batch():
        if state["next"] + batch_size > len(state["order"]):
            state["order"], state["next"] = torch.randperm(len(labels)), 0
        index = state["order"][state["next"]:state["next"] + batch_size]
        state["next"] += batch_size
        return (*encoded.rows(index), labels[index], teacher_logits[index])

    return next_batch


def train_student(student: nn.Module, encoded, labels, teacher_logits, steps: int, lr: float = 1e-4,
                  batch_size: int = 32, temperature: float = 2.0, alpha: float = 0.5, seed: int = 0,
                  freeze_embeddings: bool = True):
    """Train ``student`` with :func:`distillation_loss` through ``utils.training.fit``; returns its ``StepHistory``.

    ``encoded``: ``utils.classifiers.EncodedTexts`` of ``N`` sentences; ``labels`` int ``(N,)``, or ``None`` with
    ``alpha=1`` (the teacher's probabilities only: a *transfer set* of unlabelled sentences, as Hinton et al. use);
    ``teacher_logits`` ``(N, C)``, computed once by the teacher. AdamW, warm-up over a tenth of the steps, cosine
    decay to 0, clipping at 1. ``freeze_embeddings`` keeps the token embeddings (half of MiniLM's weights) as the
    teacher's.
    """
    from utils.classifiers import EncodedTexts
    from utils.training import TrainConfig, fit

    _encoder_linears(student)
    if not isinstance(encoded, EncodedTexts):
        fail(f"encoded must be EncodedTexts (from utils.classifiers.encode_texts), got {describe(encoded)}", TypeError)
    alpha = check_number("alpha", alpha, minimum=0.0, maximum=1.0)
    if labels is None:
        if alpha != 1.0:
            fail(f"labels=None (unlabelled sentences) needs alpha=1, the teacher's probabilities only; got alpha={alpha}",
                 ValueError, "pass the labels, or alpha=1.0 to train on the soft labels alone")
        labels = np.zeros(len(encoded), dtype=np.int64)  # never read: the hard term has weight 0
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    teacher_logits = torch.as_tensor(np.asarray(teacher_logits), dtype=torch.float32)
    if labels.shape != (len(encoded),) or teacher_logits.shape[0] != len(encoded) or teacher_logits.ndim != 2:
        fail(f"labels must be ({len(encoded)},) and teacher_logits ({len(encoded)}, C), one row per sentence; got "
             f"{tuple(labels.shape)} and {tuple(teacher_logits.shape)}", ValueError)
    steps, batch_size = check_int("steps", steps, minimum=2), check_int("batch_size", batch_size, minimum=1)
    check_number("temperature", temperature, above=0.0)
    for parameter in student.parameters():  # a student copied from a frozen teacher starts frozen too
        parameter.requires_grad_(True)
    student.encoder.token_emb.weight.requires_grad_(not freeze_embeddings)

    def loss_fn(model, batch):
        ids, mask, y, teacher = batch
        return distillation_loss(model(ids, mask), teacher, y, temperature, alpha), len(y)

    config = TrainConfig(max_steps=steps, lr=check_number("lr", lr, above=0.0), min_lr=0.0,
                         warmup_steps=max(1, steps // 10) if steps > 2 else 0, weight_decay=0.01,
                         betas=(0.9, 0.999), clip_grad_norm=1.0, device="cpu", seed=check_int("seed", seed, minimum=0),
                         progress=False)
    history = fit(student, loss_fn, _soft_label_batches(encoded, labels, teacher_logits, batch_size), config)
    student.eval()
    return history
