"""A classifier as an ONNX file, run by onnxruntime, and its int8 version (chapter 10).

- :func:`export_onnx` writes a text classifier ``(input_ids, attention_mask) -> logits`` to one ``.onnx`` file with
  ``torch.onnx.export(..., dynamo=True)``, the ``torch.export``-based exporter (the default since PyTorch 2.9), with
  the batch and sequence dimensions left free. The older TorchScript exporter (``dynamo=False``) traces Python
  integers as constants and is being removed.
- :func:`quantize_onnx_int8` is onnxruntime's dynamic quantization: the weights of every matrix product stored as
  int8 with one scale per tensor, the activations quantized on the fly per batch. It replaces
  ``torch.ao.quantization.quantize_dynamic``, deprecated in PyTorch 2.10 and slated for removal (its successor,
  ``torchao``'s ``quantize_``, is a separate package).
- :func:`onnx_session` opens a file with a fixed number of threads; :class:`OnnxTextClassifier` and
  :class:`TorchTextClassifier` turn sentences into probabilities the same way (tokenizer, padding to the longest
  sentence of the batch), so their latencies compare like with like.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.checks import check_bool, check_int, describe, fail

__all__ = ["export_onnx", "quantize_onnx_int8", "onnx_session", "TorchTextClassifier", "OnnxTextClassifier"]

INPUT_NAMES = ("input_ids", "attention_mask")


def _check_path(name: str, path, suffix: str = ".onnx") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        fail(f"{name} must be a path (str or pathlib.Path), got {describe(path)}", TypeError)
    path = Path(path)
    if path.suffix != suffix:
        fail(f"{name} must end in {suffix}, got {str(path)!r}", ValueError, f"e.g. Path('model{suffix}')")
    return path


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        fail(f"texts must be a non-empty list of strings, got {describe(texts)}", TypeError,
             "one sentence goes in a list: [text]")
    if not all(isinstance(t, str) for t in texts):
        fail(f"texts must hold strings only, got {sorted({type(t).__name__ for t in texts})}", TypeError)
    return list(texts)


def _check_tokenizer(tokenizer) -> None:
    from transformers import PreTrainedTokenizerBase

    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        fail(f"tokenizer must be a transformers tokenizer (e.g. MiniLM's), got {describe(tokenizer)}", TypeError,
             "utils.data.load_minilm() returns (tokenizer, model)")


def export_onnx(model: nn.Module, path, example_len: int = 16, opset: int = 18) -> Path:
    """Write ``model`` ``(input_ids (B, T) int64, attention_mask (B, T) int64) -> logits (B, C)`` to ``path``.

    Exported by tracing with ``torch.export`` on a ``(2, example_len)`` example, with ``B`` and ``T`` dynamic; the
    weights are stored inside the one file. Returns ``path``.
    """
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {describe(model)}", TypeError)
    path = _check_path("path", path)
    check_int("example_len", example_len, minimum=2, maximum=512)
    check_int("opset", opset, minimum=17)
    import onnx

    was_training = model.training
    model.eval()
    example = torch.ones(2, example_len, dtype=torch.int64)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes from torch.export's internals about axis names and tree specs
        torch.onnx.export(model, (example, example.clone()), str(path), input_names=list(INPUT_NAMES),
                          output_names=["logits"], dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}),
                          dynamo=True, external_data=False, opset_version=opset, verbose=False)
    model.train(was_training)
    graph = onnx.load(str(path))
    del graph.graph.value_info[:]  # shapes recorded for the example; onnxruntime's quantizer re-infers them
    onnx.save(graph, str(path))
    return path


def quantize_onnx_int8(source, target, per_channel: bool = False) -> Path:
    """onnxruntime's dynamic int8 quantization of ``source`` (an ``.onnx`` file), written to ``target``.

    Weights of ``MatMul``/``Gemm`` become int8 (symmetric, one scale per tensor, or per output channel with
    ``per_channel``); activations are quantized to uint8 at run time from each batch's range. Returns ``target``.
    """
    source, target = _check_path("source", source), _check_path("target", target)
    if not source.is_file():
        fail(f"source {str(source)!r} does not exist", FileNotFoundError, "write it first with export_onnx")
    if source.resolve() == target.resolve():
        fail("target must differ from source: the fp32 file is the reference of the int8 one", ValueError)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice to pre-process: not needed for MatMul weights
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=bool(per_channel))
    finally:
        logging.getLogger().setLevel(previous)
    return target


def onnx_session(path, threads: int | None = None, spinning: bool = False):
    """An ``onnxruntime.InferenceSession`` of ``path`` on the CPU with ``threads`` intra-op threads (default: torch's).

    onnxruntime's memory arena is off, so each run allocates what it needs from the system, as PyTorch does, and a
    measure of the process's peak memory (``utils.compression.peak_rss_bytes``) sees it. Its intra-op threads do not
    spin after a run (``session.intra_op.allow_spinning = 0``; onnxruntime's default is to busy-wait for the next
    one): a spinning pool holds the cores it ran on and slows whatever runs next in the process, PyTorch included,
    which makes an alternating benchmark measure the spinning rather than the models. ``spinning=True`` keeps
    onnxruntime's default, for a process where onnxruntime owns the cores (or to show the effect).
    """
    path = _check_path("path", path)
    threads = torch.get_num_threads() if threads is None else check_int("threads", threads, minimum=1)
    spinning = check_bool("spinning", spinning)
    if not path.is_file():
        fail(f"path {str(path)!r} does not exist", FileNotFoundError, "write it with export_onnx or quantize_onnx_int8")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3  # errors only
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")  # 0: idle threads sleep
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class TorchTextClassifier:
    """Sentences -> probabilities ``(N, C)`` float64 with a PyTorch classifier: ``clf(texts)``.

    Tokenized with ``tokenizer`` to at most ``max_len`` tokens, padded to the longest sentence of the call, run
    under ``torch.inference_mode``.
    """

    def __init__(self, model: nn.Module, tokenizer, max_len: int = 64):
        if not isinstance(model, nn.Module):
            fail(f"model must be an nn.Module, got {describe(model)}", TypeError)
        _check_tokenizer(tokenizer)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_len = check_int("max_len", max_len, minimum=3, maximum=512)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Logits ``(N, C)`` float32 of ``texts``."""
        enc = self.tokenizer(_check_texts(texts), truncation=True, max_length=self.max_len, padding=True,
                             return_tensors="pt")
        with torch.inference_mode():
            return self.model(enc["input_ids"], enc["attention_mask"]).float().numpy()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return _softmax(self.logits(texts).astype(np.float64))


class OnnxTextClassifier:
    """Sentences -> probabilities ``(N, C)`` float64 with an onnxruntime session of :func:`export_onnx`'s file."""

    def __init__(self, session, tokenizer, max_len: int = 64):
        if not callable(getattr(session, "run", None)) or not hasattr(session, "get_inputs"):
            fail(f"session must be an onnxruntime.InferenceSession, got {describe(session)}", TypeError,
                 "open one with onnx_session(path)")
        names = tuple(i.name for i in session.get_inputs())
        if names != INPUT_NAMES:
            fail(f"session must take inputs {INPUT_NAMES}, got {names}", ValueError, "export the model with export_onnx")
        _check_tokenizer(tokenizer)
        self.session, self.tokenizer = session, tokenizer
        self.max_len = check_int("max_len", max_len, minimum=3, maximum=512)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Logits ``(N, C)`` float32 of ``texts``."""
        enc = self.tokenizer(_check_texts(texts), truncation=True, max_length=self.max_len, padding=True,
                             return_tensors="np")
        feeds = {name: enc[name].astype(np.int64) for name in INPUT_NAMES}
        return self.session.run(None, feeds)[0]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return _softmax(self.logits(texts).astype(np.float64))
