"""Byte-level BPE training from scratch (chapter 4): the vocabulary and the merges learned from a text.

``train_bpe(path, vocab_size, special_tokens)`` learns ``vocab: dict[int, bytes]`` (id -> token) and
``merges: list[tuple[bytes, bytes]]`` from a UTF-8 text file; ``train_bpe_from_counts`` learns them from pre-token
counts (``utils.tokenizer_common.count_pretokens``); ``merge_counts`` replays a list of merges on such counts and
reports how frequent each merged pair was (a greedy training result merges a most frequent pair at every step).
Both update the pair counts incrementally with the one merge routine of ``utils.tokenizer_common``;
``utils.bpe.Tokenizer`` encodes text with what they learn.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from utils.checks import check_int, describe, fail
from utils.tokenizer_common import (
    GPT2_PATTERN,
    _check_merges,
    _check_path,
    _check_special_tokens,
    _compile_pattern,
    _merge_pair,
    _read_utf8,
    count_pretokens,
)

__all__ = ["train_bpe", "train_bpe_from_counts", "merge_counts"]


def _check_word_counts(word_counts) -> None:
    """Raise unless ``word_counts`` maps pre-tokens (bytes) to counts (ints >= 0), as ``count_pretokens`` gives."""
    if not isinstance(word_counts, Mapping):
        hint = ("count the pre-tokens of the text first: count_pretokens(text)" if isinstance(word_counts, str)
                else "a dict pre-token (bytes) -> count, e.g. count_pretokens(text); are two arguments swapped?")
        fail(f"word_counts must be a dict of pre-token counts, got {describe(word_counts)}", TypeError, hint)
    for word, n in word_counts.items():
        if not isinstance(word, bytes):
            fail(f"word_counts must map bytes to counts, got the key {describe(word)}", TypeError,
                 "count_pretokens gives bytes keys; encode yours: {w.encode('utf-8'): n for w, n in counts.items()}")
        if type(n) is not int or n < 0:
            check_int(f"word_counts[{word!r}]", n, minimum=0)


def _pair_changes(before: Sequence, after: Sequence) -> dict[tuple, int]:
    """How the count of each adjacent pair changes from ``before`` to ``after`` (pairs of both; zeros included)."""
    change: dict[tuple, int] = {}
    for pair in zip(before, before[1:]):
        change[pair] = change.get(pair, 0) - 1
    for pair in zip(after, after[1:]):
        change[pair] = change.get(pair, 0) + 1
    return change


class _Descending:
    """Wraps a pair of byte strings so that a min-heap pops the lexicographically GREATEST pair first."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[bytes, bytes]):
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key


def _check_vocab_size(vocab_size, specials: list[str]) -> None:
    check_int("vocab_size", vocab_size, hint="the number of tokens, e.g. 1000")
    if vocab_size < 256 + len(specials):
        fail(f"vocab_size must be at least 256 (one id per byte) + {len(specials)} special tokens "
             f"= {256 + len(specials)}, got {vocab_size}", ValueError, "the merges come on top of the 256 bytes")


def train_bpe_from_counts(
    word_counts: dict[bytes, int], vocab_size: int, special_tokens: Sequence[str] | None = None
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Learn byte-level BPE merges from pre-token counts (see ``train_bpe``).

    Args:
        word_counts: pre-token (bytes) -> count, e.g. from ``count_pretokens``.
        vocab_size: size of the final vocabulary: 256 bytes + the merges + the special tokens.
        special_tokens: strings given the last ids; never merged.

    Returns:
        (vocab, merges) as described in ``train_bpe``.
    """
    _check_word_counts(word_counts)
    check_int("vocab_size", vocab_size, hint="the number of tokens, e.g. 1000")  # before a swapped special_tokens
    specials = _check_special_tokens(special_tokens)
    _check_vocab_size(vocab_size, specials)
    vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
    merges: list[tuple[bytes, bytes]] = []
    n_merges = vocab_size - 256 - len(specials)

    # Each distinct pre-token is a list of token ids with a count.
    words = [list(w) for w in word_counts]
    freqs = [int(n) for n in word_counts.values()]
    pair_counts: Counter[tuple[int, int]] = Counter()
    where: dict[tuple[int, int], set[int]] = {}  # pair -> indices of the words that contain (or once contained) it
    for wi, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += freq
            where.setdefault(pair, set()).add(wi)

    # Max-heap on (count, pair bytes). Lazy updates: an entry's count is never below the pair's current count
    # (a pair whose count grows is pushed again); a popped entry whose count is too high is pushed back with
    # the current count, so the first entry popped with a current count is the true maximum.
    heap = [(-c, _Descending((vocab[p[0]], vocab[p[1]])), p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    while len(merges) < n_merges and heap:
        neg_count, key, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current != -neg_count:
            if current > 0:
                heapq.heappush(heap, (-current, key, pair))
            continue
        new_id = len(vocab)
        vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
        merges.append((vocab[pair[0]], vocab[pair[1]]))

        grown: set[tuple[int, int]] = set()
        for wi in where.pop(pair, ()):  # only the words that contain the pair change
            merged = _merge_pair(words[wi], pair, new_id)
            for p, delta in _pair_changes(words[wi], merged).items():
                if delta:
                    pair_counts[p] += delta * freqs[wi]
                if delta > 0:
                    where.setdefault(p, set()).add(wi)
                    grown.add(p)
            words[wi] = merged
        del pair_counts[pair]
        for p in grown:
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], _Descending((vocab[p[0]], vocab[p[1]])), p))

    for tok in specials:
        vocab[len(vocab)] = tok.encode("utf-8")
    return vocab, merges


def train_bpe(
    path: str | Path,
    vocab_size: int,
    special_tokens: Sequence[str] | None = None,
    pattern: str = GPT2_PATTERN,
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE tokenizer on a UTF-8 text file.

    Algorithm: count the pre-tokens of the text (``count_pretokens``); start from the 256 single bytes; then
    repeatedly merge the most frequent adjacent pair of tokens inside the pre-tokens, updating the pair counts
    incrementally (only the words that contain the merged pair are revisited).

    Tie-breaking (deterministic): among pairs with the same count, the lexicographically greatest pair of byte
    strings ``(left, right)`` is merged first (Python's ordering of ``tuple[bytes, bytes]``). The result does
    not depend on dictionary or file order, only on the text.

    Args:
        path: a UTF-8 text file.
        vocab_size: final vocabulary size, counting the 256 bytes and the special tokens.
        special_tokens: strings that split the text and are never merged; they get the last ids.
        pattern: the pre-tokenizer regular expression (``regex`` syntax, ``\\p{L}`` classes allowed).

    Returns:
        vocab: dict id -> bytes; ids 0-255 are the single bytes, then one id per merge in order, then the
            special tokens (UTF-8 encoded).
        merges: list of (left, right) byte strings, in the order they were learned (= their rank).
    """
    path = _check_path("path", path, "to train on a text in memory: train_bpe_from_counts(count_pretokens(text, "
                       "special_tokens), vocab_size, special_tokens)")
    check_int("vocab_size", vocab_size, hint="the number of tokens, e.g. 1000")
    _check_vocab_size(vocab_size, _check_special_tokens(special_tokens))  # before reading a large file
    _compile_pattern(pattern)
    text = _read_utf8("path", path)
    return train_bpe_from_counts(count_pretokens(text, special_tokens, pattern), vocab_size, special_tokens)


def merge_counts(word_counts: dict[bytes, int], merges: Sequence[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
    """Replay ``merges`` on pre-token counts and report, step by step, how frequent each merged pair was.

    Each pre-token starts as its single bytes; merge ``i`` joins every left-to-right occurrence of its pair,
    as in training and encoding. A merge list is a greedy BPE training result (for some way of breaking ties)
    exactly when the two numbers are equal at every step; two such lists with the same counts at every rank
    differ only in how they order pairs of equal count.

    Args:
        word_counts: pre-token (bytes) -> count, e.g. from ``count_pretokens``.
        merges: (left, right) byte strings in rank order, e.g. from ``train_bpe`` or ``Tokenizer.merges``.

    Returns:
        One ``(count of the merged pair, largest count of any pair)`` per merge, just before that merge.
    """
    _check_word_counts(word_counts)
    merges = _check_merges(merges)
    words = [[bytes([b]) for b in w] for w in word_counts]
    freqs = [int(n) for n in word_counts.values()]
    pair_counts: Counter[tuple[bytes, bytes]] = Counter()
    where: dict[tuple[bytes, bytes], set[int]] = {}  # pair -> words that contain (or once contained) it
    for wi, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += freq
            where.setdefault(pair, set()).add(wi)
    steps = []
    for left, right in merges:
        pair = (left, right)
        steps.append((pair_counts.get(pair, 0), max(pair_counts.values(), default=0)))
        for wi in where.pop(pair, ()):
            merged = _merge_pair(words[wi], pair, left + right)
            for p, delta in _pair_changes(words[wi], merged).items():
                if delta:
                    pair_counts[p] += delta * freqs[wi]
                if delta > 0:
                    where.setdefault(p, set()).add(wi)
            words[wi] = merged
        pair_counts.pop(pair, None)
    return steps
