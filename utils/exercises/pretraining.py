"""Checkers for the exercises of chapter 6, "Pretraining".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a reference
computed independently (``transformers``' ``TopPLogitsWarper``, a formula, the statistics a correct construction
must have). A wrong answer raises :class:`utils.exercises.ExerciseError` saying what is wrong; a right one prints
"✓ name: correct".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch

from utils.exercises import ExerciseError, _require_function, _require_number, check_close, check_shape, check_type

__all__ = ["check_top_p_filter", "check_bits_per_byte", "check_nsp_pairs"]


def check_top_p_filter(top_p_filter: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise 1: ``top_p_filter(logits (B, V), p) -> (B, V)``: ``-inf`` outside the nucleus, logits unchanged inside.

    The nucleus of a row is the smallest set of most likely tokens whose probabilities add up to at least ``p``
    (Holtzman et al. 2020); the checker compares with ``transformers``' ``TopPLogitsWarper``.
    """
    from transformers.generation.logits_process import TopPLogitsWarper

    name = "top_p_filter"
    _require_function(name, top_p_filter, ("logits", "p"))
    g = torch.Generator().manual_seed(11)
    for p in (0.5, 0.9, 0.99):
        logits = torch.randn(4, 50, generator=g) * 2.5
        out = top_p_filter(logits.clone(), p)
        check_type(name, out, torch.Tensor)
        check_shape(name, out, tuple(logits.shape))
        expected = TopPLogitsWarper(top_p=p)(None, logits.clone())
        kept, expected_kept = torch.isfinite(out), torch.isfinite(expected)
        if not torch.equal(kept, expected_kept):
            more = int(kept.sum() - expected_kept.sum())
            detail = f"you keep {abs(more)} token(s) {'more' if more > 0 else 'fewer'} than the nucleus over 4 rows"
            raise ExerciseError(
                f"{name} with p={p}: the kept tokens differ ({detail}); sort the probabilities in descending order, "
                "keep every token until their sum first reaches p, and keep that token too"
            )
        if not torch.equal(out[kept], logits[kept]):
            raise ExerciseError(f"{name}: the kept logits must be returned unchanged (softmax renormalises them later)")
    one_hot = torch.tensor([[10.0, 0.0, 0.0]])
    if not torch.isfinite(top_p_filter(one_hot.clone(), 0.5)[0, 0]):
        raise ExerciseError(f"{name}: the most likely token must always be kept")
    print(f"✓ {name}: correct")


def check_bits_per_byte(bits_per_byte: Callable[[float, int, int], float]) -> None:
    """Exercise 2: ``bits_per_byte(loss, n_tokens, n_bytes) -> float``: total information in bits per byte of text.

    ``loss`` is a mean cross-entropy in nats per token over ``n_tokens`` tokens that encode ``n_bytes`` bytes.
    """
    name = "bits_per_byte"
    _require_function(name, bits_per_byte, ("loss", "n_tokens", "n_bytes"))
    cases = [(3.2, 1000, 2700), (math.log(256), 500, 500), (1.0, 1, 4)]
    for loss, n_tokens, n_bytes in cases:
        given = _require_number(name, bits_per_byte(loss, n_tokens, n_bytes))
        expected = loss * n_tokens / n_bytes / math.log(2)
        if isinstance(given, (int, float)) and not isinstance(given, bool) and math.isclose(
            given, loss * n_tokens / n_bytes, rel_tol=1e-9
        ):
            raise ExerciseError(f"{name}: your answer is in nats per byte: divide by ln 2 to get bits")
        check_close(f"{name}({loss:.3g}, {n_tokens}, {n_bytes})", given, expected, rtol=1e-9,
                    hint="total nats = loss * n_tokens; spread them over the bytes; 1 bit = ln 2 nats")


def _documents() -> list[list[str]]:
    rng = random.Random(2)
    return [[f"d{d}s{s}" for s in range(rng.randint(2, 9))] for d in range(60)]


def check_nsp_pairs(make_nsp_pairs: Callable[[list[list[str]], random.Random], list[tuple[str, str, int]]]) -> None:
    """Exercise 3: ``make_nsp_pairs(documents, rng) -> [(a, b, is_next), ...]``, BERT's next-sentence-prediction data.

    One pair per pair of consecutive sentences ``(doc[i], doc[i + 1])``: with probability 1/2 it is kept
    (``is_next = 1``), else ``b`` is replaced by a random sentence of another document (``is_next = 0``).
    """
    name = "make_nsp_pairs"
    _require_function(name, make_nsp_pairs, ("documents", "rng"))
    documents = _documents()
    where = {s: (d, i) for d, doc in enumerate(documents) for i, s in enumerate(doc)}
    pairs = make_nsp_pairs([list(doc) for doc in documents], random.Random(0))
    check_type(name, pairs, list)
    expected_n = sum(len(doc) - 1 for doc in documents)
    if len(pairs) != expected_n:
        raise ExerciseError(f"{name}: expected one pair per pair of consecutive sentences ({expected_n}), got {len(pairs)}")
    for a, b, is_next in pairs:
        (da, ia), (db, ib) = where[a], where[b]
        if ia == len(documents[da]) - 1:
            raise ExerciseError(f"{name}: sentence a={a!r} is the last of its document: it has no next sentence")
        if is_next == 1 and (db, ib) != (da, ia + 1):
            raise ExerciseError(f"{name}: a pair with is_next=1 must hold a sentence and the one after it, got ({a!r}, {b!r})")
        if is_next == 0 and db == da:
            raise ExerciseError(
                f"{name}: a negative pair must take b from another document, got ({a!r}, {b!r}) from one document"
            )
        if is_next not in (0, 1):
            raise ExerciseError(f"{name}: is_next must be 0 or 1, got {is_next!r}")
    share = sum(p[2] for p in pairs) / len(pairs)
    sigma = math.sqrt(0.25 / len(pairs))  # binomial standard error of the share of positives
    if abs(share - 0.5) > 4 * sigma:
        raise ExerciseError(f"{name}: {share:.1%} of the pairs are positives; expected 50% ± {4 * sigma:.1%} (4σ)")
    again = make_nsp_pairs([list(doc) for doc in documents], random.Random(0))
    if again != pairs:
        raise ExerciseError(f"{name}: draw every random choice from rng, so the same seed gives the same pairs")
    print(f"✓ {name}: correct")
