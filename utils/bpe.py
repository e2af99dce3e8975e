"""Byte-level BPE built from scratch: the trainer, the encoder and its files (chapter 4).

``train_bpe(path, vocab_size, special_tokens)`` learns ``vocab: dict[int, bytes]`` (id -> token) and
``merges: list[tuple[bytes, bytes]]`` from a UTF-8 text file; ``Tokenizer(vocab, merges, special_tokens)``
encodes text into ids with them. Text is first cut at special tokens (``split_special_tokens``, longest first),
then split into pre-tokens by a regular expression (``GPT2_PATTERN`` by default), and each pre-token's UTF-8
bytes are merged pair by pair in the order the merges were learned (``merge_pair`` is the one routine that
replaces a pair, in training and in encoding). ``Tokenizer.from_huggingface`` builds the same class from a Hugging
Face byte-level BPE tokenizer (SmolLM2's, for example), so that our encoder can be checked id for id against the
reference; ``Tokenizer.save`` and ``Tokenizer.load`` write and read ``vocab.json`` + ``merges.txt`` (GPT-2's file
format, readable by Hugging Face ``tokenizers``) and ``tokenizer_config.json`` (special tokens, pattern).

Conventions shared with ``utils.wordpiece``: ``vocab`` is id -> token and ``vocab_size`` its length; special
tokens are cut out of the raw text by ``split_special_tokens``; ``decode`` raises ``UnknownTokenIdError`` (a
``ValueError``) for an id outside the vocabulary. Every public function checks its arguments first (with
``utils.checks``) and names the argument, what it expected and what it got.
"""

from __future__ import annotations

import functools
import heapq
import json
import numbers
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import regex

from utils.checks import check_callable, check_choice, check_int, check_tensor, describe, fail

__all__ = [
    "GPT2_PATTERN",
    "SMOLLM2_PATTERN",
    "UnknownTokenIdError",
    "bytes_to_unicode",
    "split_special_tokens",
    "merge_pair",
    "count_pretokens",
    "train_bpe",
    "train_bpe_from_counts",
    "merge_counts",
    "Tokenizer",
    "bytes_per_token",
]

#: GPT-2's pre-tokenizer: English contractions, runs of letters or of numeric characters (each with at most one
#: leading space), runs of other symbols, and whitespace (a run of spaces leaves its last space to the next word).
#: ``\p{L}`` is any letter and ``\p{N}`` any numeric character (Unicode categories Nd, Nl, No: "7", "٣", "½", "²").
#: Hugging Face's ``ByteLevel(use_regex=True)`` pre-tokenizer uses this same expression.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: SmolLM2's own pre-tokenizer (``smollm`` in its GGUF file; ``Digits(individual_digits=True)`` then
#: ``ByteLevel`` in Hugging Face): every numeric character (``\p{N}``: digits of any script, "½", "²", ...) is a
#: pre-token of its own, the rest is split with GPT-2's pattern. Written as one expression: a run of whitespace
#: before a numeric character is kept whole, since the digit split ends the piece there.
SMOLLM2_PATTERN = r"""\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+"""

# encode_iterable holds back the last characters of its buffer: a pre-token that ends this far before the
# end of the buffer cannot change when more text arrives (the longest fixed alternative of GPT-2-style
# patterns, "'ll", is 3 characters; runs of one class are only ever extended, never split differently).
_STREAM_LOOKBACK = 16
_NO_RANK = float("inf")  # the rank of a pair that no merge joins
_DECODE_ERRORS = ("replace", "strict", "ignore", "backslashreplace", "surrogateescape")  # bytes.decode's handlers


class UnknownTokenIdError(ValueError):
    """Raised by ``decode`` of both tokenizers (BPE and WordPiece) for an id outside the vocabulary.

    The message names the id and the vocabulary size.
    """

    def __init__(self, token_id: int, vocab_size: int):
        super().__init__(
            f"unknown token id {token_id}: the vocabulary has {vocab_size:,} tokens (ids 0 to {vocab_size - 1}); "
            "were these ids made by another tokenizer?"
        )
        self.token_id, self.vocab_size = token_id, vocab_size


# ----------------------------------------------------------------------------------------------------------
# Checks of the arguments (shared with utils.wordpiece): metadata only, or one pass over what is built anyway
# ----------------------------------------------------------------------------------------------------------
def _check_text(name: str, value, hint: str = "") -> str:
    """``value`` if it is a ``str``; bytes and lists of texts get the fix in the message."""
    if not isinstance(value, str):
        if not hint and isinstance(value, (bytes, bytearray)):
            hint = "decode the bytes first: value.decode('utf-8')"
        elif not hint and isinstance(value, (list, tuple)):
            hint = "one text at a time, e.g. [f(text) for text in texts]"
        fail(f"{name} must be a str, got {describe(value)}", TypeError, hint)
    return value


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def _compile_pattern(pattern) -> regex.Pattern:
    """The pre-tokenizer ``pattern`` compiled (once per pattern), or a message naming it."""
    _check_text("pattern", pattern, "a regular expression such as GPT2_PATTERN")
    try:
        return _compiled(pattern)
    except regex.error as err:
        fail(f"pattern is not a valid regular expression ({err}): {pattern[:60]!r}", ValueError,
             "regex syntax, where \\p{L} is a letter and \\p{N} a numeric character; see GPT2_PATTERN")


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


def _check_merges(merges) -> list:
    """``merges`` as a list if it holds ``(left, right)`` byte-string pairs in rank order."""
    if isinstance(merges, (str, bytes, Mapping)) or not isinstance(merges, Iterable):
        fail(f"merges must be a list of (left, right) byte pairs, got {describe(merges)}", TypeError,
             "a dict looks like a vocabulary: are vocab and merges swapped?" if isinstance(merges, Mapping) else "")
    merges = list(merges)
    for rank, merge in enumerate(merges):
        if not (isinstance(merge, (tuple, list)) and len(merge) == 2
                and all(isinstance(part, (bytes, bytearray)) for part in merge)):
            fail(f"merges must hold (left, right) pairs of bytes, got merges[{rank}] = {describe(merge)}", TypeError,
                 "as train_bpe returns them, e.g. (b' t', b'he')")
    return merges


def _check_path(name: str, path, text_hint: str = "pass the file's path") -> Path:
    """``path`` as a ``Path`` if it is a str or a path object; ``text_hint`` for a str that is a text, not a path."""
    if not isinstance(path, (str, os.PathLike)):
        fail(f"{name} must be a path (str or pathlib.Path), got {describe(path)}", TypeError)
    if isinstance(path, str) and ("\n" in path or len(path) > 1024):
        fail(f"{name} must be a path, got a str of {len(path):,} characters that looks like the text itself",
             ValueError, text_hint)
    return Path(path)


def _read_utf8(name: str, path: Path) -> str:
    """The text of the UTF-8 file ``path``, or a message that names ``name`` and the fix."""
    if path.is_dir():
        fail(f"{name} must be a file, got the folder {path}", IsADirectoryError, "name a file inside it")
    if not path.is_file():
        fail(f"{name} {path} does not exist", FileNotFoundError, "check the path, e.g. with path.exists()")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        fail(f"{name} {path} is not UTF-8 text: bytes {err.object[err.start:err.end]!r} at byte offset {err.start}",
             ValueError, "convert the file to UTF-8 first")


def _read_json(path: Path):
    """The JSON value in the file ``path``, or a message that names the file."""
    try:
        return json.loads(_read_utf8("the file", path))
    except json.JSONDecodeError as err:
        fail(f"{path} is not valid JSON ({err})", ValueError, "was it written by Tokenizer.save? write it again")


def _huggingface_spec(tokenizer, wanted: str, other: str) -> dict:
    """The backend JSON of a Hugging Face tokenizer whose model is ``wanted`` (``'BPE'`` or ``'WordPiece'``)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not callable(getattr(backend, "to_str", None)):
        fail(f"tokenizer must be a Hugging Face fast tokenizer or a tokenizers.Tokenizer, got {describe(tokenizer)}",
             TypeError, "load it with transformers.AutoTokenizer.from_pretrained(folder) (use_fast=True)")
    spec = json.loads(backend.to_str())
    kind = spec["model"].get("type")
    if kind != wanted:
        fail(f"tokenizer must have a {wanted} model, got {kind!r}", ValueError,
             f"{other}.from_huggingface builds a {kind} tokenizer" if kind in ("BPE", "WordPiece") else "")
    return spec


def _check_token_id_map(vocab, value_type: type | tuple[type, ...], loader: str) -> None:
    """Raise unless ``vocab`` is a dict id (int) -> token (``value_type``), the meaning both tokenizers share."""
    kind = (value_type if isinstance(value_type, type) else value_type[0]).__name__
    if not isinstance(vocab, Mapping):
        fail(f"vocab must be a dict id -> token ({kind}), got {describe(vocab)}", TypeError,
             "from a list of tokens in id order: dict(enumerate(tokens))")
    for i, tok in vocab.items():
        if type(i) is not int or not isinstance(tok, value_type):
            if isinstance(i, str) and isinstance(tok, int):
                fail(f"vocab must map id -> token, got the token -> id entry {i!r}: {tok!r}", TypeError,
                     f"invert it with {{i: t for t, i in vocab.items()}}, or read the files with {loader}")
            check_int("vocab's keys (token ids)", i, minimum=0)
            if not isinstance(tok, value_type):
                fail(f"vocab must map id -> token ({kind}), got {describe(tok)} for id {i!r}", TypeError,
                     "encode the tokens, e.g. token.encode('utf-8')" if kind == "bytes" else "")


def _token_ids(ids) -> Iterable[int]:
    """``ids`` (a list, a 1-D int tensor or array) as an iterable of Python ints to look up, else a message."""
    if isinstance(ids, (str, bytes)):
        fail(f"ids must be a list of int token ids, got {describe(ids)}", TypeError,
             "to turn text into ids, call encode(text)")
    if hasattr(ids, "ndim") and hasattr(ids, "tolist"):  # a tensor or an array
        if ids.ndim != 1:
            fail(f"ids must be one sequence (1-D), got {describe(ids)}", ValueError,
                 "decode each row: [tokenizer.decode(row) for row in ids]" if ids.ndim == 2 else
                 "a single id is decode([i])")
        if type(ids).__module__.startswith("torch"):
            check_tensor("ids", ids, dtype="int")
        elif ids.dtype.kind not in "iu":
            fail(f"ids must be integers, got {describe(ids)}", TypeError, "convert them with .astype(int)")
        return ids.tolist()
    if not isinstance(ids, Iterable):
        fail(f"ids must be a list of int token ids, got {describe(ids)}", TypeError, "a single id is decode([i])")
    return ids


def _lookup(vocab: dict, ids) -> list:
    """The tokens of ``ids`` in ``vocab``; ``UnknownTokenIdError`` for an id outside it (an int id, never rounded)."""
    tokens = []
    for position, i in enumerate(_token_ids(ids)):
        if type(i) is not int:
            i = check_int(f"ids[{position}]", i, hint="token ids are ints: round or convert them with int(...)")
        tok = vocab.get(i)
        if tok is None:
            raise UnknownTokenIdError(i, len(vocab))
        tokens.append(tok)
    return tokens


# ----------------------------------------------------------------------------------------------------------
# Byte <-> printable-character table (GPT-2)
# ----------------------------------------------------------------------------------------------------------
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table mapping each of the 256 byte values to a printable Unicode character.

    Printable Latin-1 bytes map to themselves; the other 68 (controls, space, ...) map to U+0100 onwards, so
    that the space byte 0x20 becomes ``"Ġ"`` and the newline 0x0A becomes ``"Ċ"``. Hugging Face stores
    byte-level vocabularies and merges written with these characters.

    Returns:
        dict of 256 entries, byte value (int) -> one-character str.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


# ----------------------------------------------------------------------------------------------------------
# Special tokens and the one merge routine
# ----------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _special_regex(special_tokens: tuple[str, ...]) -> regex.Pattern | None:
    """An alternation of the special tokens, longest first, so that overlapping ones match the longest."""
    if not special_tokens:
        return None
    ordered = sorted(set(special_tokens), key=lambda s: (-len(s), s))
    return regex.compile("|".join(regex.escape(s) for s in ordered))


def _check_special_tokens(special_tokens: Sequence[str] | None) -> list[str]:
    """``special_tokens`` as a list of distinct non-empty strings (``None`` is no special token)."""
    if special_tokens is None:
        return []
    if isinstance(special_tokens, str):
        if len(special_tokens) > 30:  # a pattern or a text in the place of the special tokens
            fail(f"special_tokens must be a list of str, got a str of {len(special_tokens)} characters "
                 f"{describe(special_tokens)}", TypeError, "is it the pattern? pass it by name: pattern=...")
        fail(f"special_tokens must be a list of str, got the str {special_tokens!r}", TypeError,
             f"write [{special_tokens!r}]")
    if isinstance(special_tokens, (bytes, Mapping)) or not isinstance(special_tokens, Iterable):
        fail(f"special_tokens must be a list of str, got {describe(special_tokens)}", TypeError,
             "e.g. ['<|endoftext|>']; is an argument in the wrong place?")
    tokens = list(special_tokens)
    for tok in tokens:
        if not isinstance(tok, str):
            fail(f"special_tokens must be a list of str, got the item {describe(tok)}", TypeError,
                 "write each special token as text, e.g. '<|endoftext|>'")
        if not tok:
            fail("special_tokens must not contain the empty str", ValueError, "leave it out")
    if len(set(tokens)) != len(tokens):
        fail(f"special_tokens must not repeat a token, got {tokens}", ValueError, "list each one once")
    return tokens


def _special_spans(text: str, special_re: regex.Pattern | None) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, is_special)`` of the special tokens of ``text`` and of the non-empty text between them."""
    pos = 0
    if special_re is not None:
        for m in special_re.finditer(text):
            if m.start() > pos:
                yield pos, m.start(), False
            yield m.start(), m.end(), True
            pos = m.end()
    if pos < len(text):
        yield pos, len(text), False


def split_special_tokens(text: str, special_tokens: Sequence[str] | None) -> list[tuple[str, bool]]:
    """Cut ``text`` at its special tokens, matched left to right, the longest first where two overlap.

    The one splitter of this module: BPE training and encoding and WordPiece all cut the raw text with it.

    Returns:
        ``(piece, is_special)`` in text order; the pieces concatenate to ``text`` and none is empty.
    """
    _check_text("text", text)
    spans = _special_spans(text, _special_regex(tuple(_check_special_tokens(special_tokens))))
    return [(text[start:end], is_special) for start, end, is_special in spans]


def merge_pair(symbols: Sequence, pair: tuple, merged) -> list:
    """Replace every occurrence of ``pair`` in ``symbols`` by ``merged``, scanning left to right.

    An occurrence that overlaps one just replaced is skipped: ``[7, 7, 7]`` with the pair ``(7, 7)`` becomes
    ``[merged, 7]``. The one merge routine of this module (training, ``merge_counts`` and encoding use it);
    symbols may be ids (training) or byte strings (encoding).

    Returns:
        a new list, shorter by the number of occurrences replaced.
    """
    if isinstance(symbols, (Mapping, set, frozenset)) or not isinstance(symbols, Sequence):
        fail(f"symbols must be a list (ids or byte strings in order), got {describe(symbols)}", TypeError,
             "convert it with list(...)")
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        fail(f"pair must be a tuple of two symbols, got {describe(pair)}", TypeError,
             "write it as (left, right), e.g. (b'a', b'b'); a bytes b'ab' unpacks to two ints")
    if symbols and any(_kind(part) != _kind(symbols[0]) for part in pair):
        fail(f"pair must hold the same kind of symbol as symbols: pair {describe(pair)}, symbols[0] "
             f"{describe(symbols[0])}", ValueError, "ids and byte strings never compare equal: use one kind")
    return _merge_pair(symbols, pair, merged)


def _kind(symbol) -> str:
    """``'bytes'``, ``'int'``, ``'str'`` or the type's name: the kinds of symbol that can compare equal."""
    if isinstance(symbol, (bytes, bytearray)):
        return "bytes"
    if isinstance(symbol, numbers.Integral):
        return "int"
    return type(symbol).__name__


def _merge_pair(symbols: Sequence, pair: tuple, merged) -> list:
    """``merge_pair`` without the checks, for the loops of training and encoding."""
    left, right = pair
    out, i, n = [], 0, len(symbols)
    while i < n:
        if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _pair_changes(before: Sequence, after: Sequence) -> dict[tuple, int]:
    """How the count of each adjacent pair changes from ``before`` to ``after`` (pairs of both; zeros included)."""
    change: dict[tuple, int] = {}
    for pair in zip(before, before[1:]):
        change[pair] = change.get(pair, 0) - 1
    for pair in zip(after, after[1:]):
        change[pair] = change.get(pair, 0) + 1
    return change


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------
def count_pretokens(
    text: str, special_tokens: Sequence[str] | None = None, pattern: str = GPT2_PATTERN
) -> Counter[bytes]:
    """Count the pre-tokens of ``text``, as UTF-8 bytes.

    The text is cut at the special tokens first (they are removed: no merge may cross or include them), then
    each piece is split with the regular expression ``pattern``.

    Returns:
        Counter mapping each distinct pre-token (bytes) to its number of occurrences.
    """
    _check_text("text", text, "" if not isinstance(text, (list, tuple)) else
                "join the texts first, e.g. '\\n'.join(texts), or add up the Counters of each text")
    compiled = _compile_pattern(pattern)
    counts: Counter[str] = Counter()
    for piece, is_special in split_special_tokens(text, special_tokens):
        if not is_special:
            counts.update(compiled.findall(piece))
    return Counter({word.encode("utf-8"): n for word, n in counts.items()})


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


# ----------------------------------------------------------------------------------------------------------
# Encoding and decoding
# ----------------------------------------------------------------------------------------------------------
class Tokenizer:
    """A byte-level BPE tokenizer: ``encode`` text to ids, ``decode`` ids to text.

    Args:
        vocab: id -> bytes. Every single byte should be a token, so that any text can be encoded; a byte
            that is not one is dropped by ``encode`` (as Hugging Face does), and listed in ``missing_bytes``.
        merges: (left, right) pairs in rank order; each ``left``, ``right`` and ``left + right`` must be in
            the vocabulary.
        special_tokens: strings encoded as one id each, matched in the raw text before anything else (longest
            first when they overlap) and never merged with their neighbours. Each must be in the vocabulary.
        pattern: the pre-tokenizer regular expression.

    Raises:
        TypeError: when an argument has the wrong kind (a token -> id dict, str tokens, merges that are not
            pairs of bytes, a pattern that is not a str).
        ValueError: when the vocabulary and merges do not fit together, a special token is not in the
            vocabulary, or the pattern does not compile.
    """

    def __init__(
        self,
        vocab: dict[int, bytes],
        merges: Sequence[tuple[bytes, bytes]],
        special_tokens: Sequence[str] | None = None,
        pattern: str = GPT2_PATTERN,
    ):
        _check_token_id_map(vocab, (bytes, bytearray), "Tokenizer.load(folder)")
        merges = _check_merges(merges)
        self.vocab = dict(vocab)
        self.merges = [(bytes(a), bytes(b)) for a, b in merges]
        self.special_tokens = _check_special_tokens(special_tokens)
        self._pretokenizer = _compile_pattern(pattern)
        self.pattern = pattern
        self._special_re = _special_regex(tuple(self.special_tokens))

        self._id_of: dict[bytes, int] = {}
        for i, tok in sorted(self.vocab.items()):
            self._id_of.setdefault(bytes(tok), i)
        # Single bytes absent from the vocabulary cannot be encoded; like Hugging Face's BPE without an
        # unknown token, encode drops them (SmolLM2 lacks 21 bytes, e.g. b"\x04", that never occur in its data).
        self.missing_bytes = bytes(b for b in range(256) if bytes([b]) not in self._id_of)
        self._ranks: dict[tuple[bytes, bytes], int] = {}
        for rank, (a, b) in enumerate(self.merges):
            for part, role in ((a, "left part"), (b, "right part"), (a + b, "result")):
                if part not in self._id_of:
                    raise ValueError(
                        f"vocabulary and merges do not fit together: merge #{rank} {(a, b)!r} has its {role} "
                        f"{part!r} missing from the vocabulary (were they trained together?)"
                    )
            self._ranks.setdefault((a, b), rank)
        self._special_ids: dict[str, int] = {}
        for tok in self.special_tokens:
            tid = self._id_of.get(tok.encode("utf-8"))
            if tid is None:
                raise ValueError(
                    f"unknown special token {tok!r}: it is not in the vocabulary; add it to the vocabulary "
                    f"(train_bpe does so for the special_tokens it is given) or leave it out of special_tokens"
                )
            self._special_ids[tok] = tid
        self._cache: dict[str, tuple[int, ...]] = {}

    # -- construction from Hugging Face -------------------------------------------------------------------
    @classmethod
    def from_huggingface(cls, tokenizer) -> Tokenizer:
        """Build our Tokenizer from a Hugging Face byte-level BPE tokenizer.

        Args:
            tokenizer: a ``transformers`` tokenizer with a fast backend, or a ``tokenizers.Tokenizer``.

        The vocabulary and merges are read from the backend's JSON and turned back into bytes with the GPT-2
        byte-to-unicode table; the added tokens become our special tokens; the pre-tokenizer must be
        ``ByteLevel`` (GPT-2 pattern), ``Digits(individual_digits=True)`` then ``ByteLevel`` (``SMOLLM2_PATTERN``),
        or a regex ``Split`` followed by ``ByteLevel(use_regex=False)``.
        """
        spec = _huggingface_spec(tokenizer, "BPE", "WordPieceTokenizer")
        model = spec["model"]
        if spec.get("normalizer") is not None:
            raise ValueError(f"from_huggingface supports no normalizer, got {spec['normalizer']!r}")
        pattern = _pattern_from_pre_tokenizer(spec.get("pre_tokenizer"))
        byte_of = {c: b for b, c in bytes_to_unicode().items()}

        def to_bytes(token: str) -> bytes:
            try:
                return bytes(byte_of[c] for c in token)
            except KeyError as err:
                raise ValueError(f"token {token!r} is not written with the byte-level alphabet") from err

        added = {a["content"]: a["id"] for a in spec.get("added_tokens", [])}
        for a in spec.get("added_tokens", []):
            if a.get("lstrip") or a.get("rstrip") or a.get("single_word") or a.get("normalized"):
                raise ValueError(f"added token {a['content']!r} uses options this Tokenizer does not implement")
        vocab = {i: (tok.encode("utf-8") if tok in added else to_bytes(tok)) for tok, i in model["vocab"].items()}
        for tok, i in added.items():
            vocab[i] = tok.encode("utf-8")
        merges = []
        for m in model["merges"]:
            left, right = m.split(" ") if isinstance(m, str) else m
            merges.append((to_bytes(left), to_bytes(right)))
        specials = sorted(added, key=added.get)
        return cls(vocab, merges, specials, pattern)

    # -- encoding ---------------------------------------------------------------------------------------
    def _bpe(self, word: str) -> tuple[int, ...]:
        """Ids of one pre-token: merge its bytes, lowest rank first, until no merge applies."""
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        parts = [bytes([b]) for b in word.encode("utf-8")]
        ranks = self._ranks
        while len(parts) > 1:
            best_rank, best = _NO_RANK, None
            for pair in zip(parts, parts[1:]):  # the adjacent pair of lowest rank
                rank = ranks.get(pair, _NO_RANK)
                if rank < best_rank:
                    best_rank, best = rank, pair
            if best is None:
                break
            parts = _merge_pair(parts, best, best[0] + best[1])
        id_of = self._id_of
        ids = tuple(id_of[p] for p in parts if p in id_of)  # a byte missing from the vocabulary is dropped
        if len(self._cache) >= 1_000_000:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def _pieces(self, text: str) -> Iterator[tuple[str, bool, int, int]]:
        """(piece, is_special, start, end) for the special tokens and the text between them."""
        for start, end, is_special in _special_spans(text, self._special_re):
            yield text[start:end], is_special, start, end

    def encode(self, text: str) -> list[int]:
        """Encode a string to token ids (list of int). Special tokens in ``text`` become their own id."""
        if not isinstance(text, str):
            _check_text("text", text)
        ids: list[int] = []
        for piece, is_special, _, _ in self._pieces(text):
            if is_special:
                ids.append(self._special_ids[piece])
            else:
                for word in self._pretokenizer.findall(piece):
                    ids.extend(self._bpe(word))
        return ids

    def _stable_prefix(self, buffer: str) -> tuple[list[int], int]:
        """Ids of the pieces of ``buffer`` that more text cannot change, and where they end.

        The pieces are taken from the matches in the whole buffer: re-encoding ``buffer[:cut]`` on its own would
        not do, since a pattern such as ``\\s+(?!\\S)`` matches differently at the end of a string.
        """
        longest_special = max((len(s) for s in self.special_tokens), default=0)
        limit = len(buffer) - _STREAM_LOOKBACK - longest_special
        ids: list[int] = []
        cut = 0
        for piece, is_special, start, end in self._pieces(buffer):
            if start >= limit:
                break
            if is_special:
                if end > limit:
                    break
                ids.append(self._special_ids[piece])
                cut = end
                continue
            for m in self._pretokenizer.finditer(piece):
                if start + m.end() > limit:
                    return ids, cut
                ids.extend(self._bpe(m.group()))
                cut = start + m.end()
        return ids, cut

    def encode_iterable(self, iterable: Iterable[str]) -> Iterator[int]:
        """Encode a stream of strings (e.g. the lines of an open file) lazily, yielding ids one by one.

        The ids are exactly those of ``encode("".join(iterable))``: a pre-token or special token cut by a
        chunk boundary is held back until the next chunk arrives, so memory stays bounded by the chunk size.
        """
        if isinstance(iterable, (bytes, bytearray, os.PathLike)) or not isinstance(iterable, Iterable):
            fail(f"iterable must give str chunks, e.g. an open text file, got {describe(iterable)}", TypeError,
                 "with open(path, encoding='utf-8') as f: ids = list(tokenizer.encode_iterable(f))")
        if "b" in str(getattr(iterable, "mode", "")):
            fail(f"iterable is a file opened in binary mode ({iterable.mode!r}): its chunks are bytes", TypeError,
                 "open it in text mode: open(path, encoding='utf-8')")
        return self._encode_chunks(iterable)

    def _encode_chunks(self, iterable: Iterable[str]) -> Iterator[int]:
        buffer = ""
        for position, chunk in enumerate(iterable):
            if not isinstance(chunk, str):
                fail(f"iterable must give str chunks, got {describe(chunk)} at position {position}", TypeError,
                     "open files in text mode; decode bytes with .decode('utf-8')")
            buffer += chunk
            ids, cut = self._stable_prefix(buffer)
            if cut:
                yield from ids
                buffer = buffer[cut:]
        if buffer:
            yield from self.encode(buffer)

    # -- decoding ---------------------------------------------------------------------------------------
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Concatenate the bytes of the tokens ``ids``. Raises ValueError (naming the id and the vocabulary size)
        for an id outside the vocabulary."""
        return b"".join(_lookup(self.vocab, ids))

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to a string.

        A sequence of ids may end in the middle of a multi-byte UTF-8 character, or contain bytes that are not
        valid UTF-8 in any order. With ``errors="replace"`` (the default, as in Hugging Face and tiktoken)
        each invalid byte sequence becomes U+FFFD "�"; with ``errors="strict"`` a ValueError says where the
        invalid bytes are.
        """
        check_choice("errors", errors, _DECODE_ERRORS)
        data = self.decode_bytes(ids)
        if errors != "strict":
            return data.decode("utf-8", errors=errors)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"the tokens decode to invalid UTF-8: bytes {data[err.start:err.end]!r} at byte offset "
                f"{err.start} ({err.reason}); use decode(ids, errors='replace') to get U+FFFD instead"
            ) from err

    # -- files ------------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[Path]:
        """Write the tokenizer to ``folder`` as three files a reader can open.

        ``vocab.json`` (token -> id) and ``merges.txt`` (one ``left right`` merge per line, in rank order) use
        GPT-2's format, tokens written with the byte-to-unicode table (so ``" the"`` is ``"Ġthe"``; special tokens
        as their own text), which Hugging Face ``tokenizers.models.BPE.from_file`` also reads;
        ``tokenizer_config.json`` holds the special tokens and the pre-tokenizer pattern.

        Returns:
            the paths of the three files.
        """
        folder = _check_path("folder", folder)
        if folder.exists() and not folder.is_dir():
            fail(f"folder must be a folder, got the file {folder}", NotADirectoryError,
                 "save writes three files into a folder: name a new or existing folder")
        folder.mkdir(parents=True, exist_ok=True)
        table = bytes_to_unicode()

        def as_text(token: bytes) -> str:
            return "".join(table[b] for b in token)

        specials = {tok.encode("utf-8"): tok for tok in self.special_tokens}
        written = {i: specials.get(tok) or as_text(tok) for i, tok in sorted(self.vocab.items())}
        if len(set(written.values())) != len(written):
            repeated = sorted({t for t in written.values() if list(written.values()).count(t) > 1})[:5]
            raise ValueError(f"cannot save: several ids share the tokens {repeated}; vocab.json needs one id per token")
        paths = [folder / "vocab.json", folder / "merges.txt", folder / "tokenizer_config.json"]
        paths[0].write_text(json.dumps({t: i for i, t in written.items()}, ensure_ascii=False, indent=0), "utf-8")
        lines = ["#version: 0.2"] + [f"{as_text(left)} {as_text(right)}" for left, right in self.merges]
        paths[1].write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = {"special_tokens": self.special_tokens, "pattern": self.pattern}
        paths[2].write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        return paths

    @classmethod
    def load(cls, folder: str | Path) -> Tokenizer:
        """Read a tokenizer written by ``save`` (the same vocabulary, id for id, merges, special tokens, pattern)."""
        folder = _check_path("folder", folder)
        if folder.is_file():
            fail(f"folder must be the folder written by Tokenizer.save, got the file {folder}", NotADirectoryError,
                 f"pass its folder: {folder.parent}")
        missing = [n for n in ("vocab.json", "merges.txt", "tokenizer_config.json") if not (folder / n).is_file()]
        if missing:
            fail(f"Tokenizer.load: folder {folder} lacks {missing}", FileNotFoundError,
                 "write them with Tokenizer.save")
        config = _read_json(folder / "tokenizer_config.json")
        if not isinstance(config, dict) or not {"special_tokens", "pattern"} <= set(config):
            fail(f"{folder / 'tokenizer_config.json'} must hold 'special_tokens' and 'pattern', got {describe(config)}",
                 ValueError, "write the folder again with Tokenizer.save")
        specials = _check_special_tokens(config["special_tokens"])
        written = _read_json(folder / "vocab.json")
        if not isinstance(written, dict):
            fail(f"{folder / 'vocab.json'} must hold a dict token -> id, got {describe(written)}", ValueError,
                 "write the folder again with Tokenizer.save")
        byte_of = {c: b for b, c in bytes_to_unicode().items()}

        def to_bytes(token: str, file: str) -> bytes:
            if not all(c in byte_of for c in token):
                fail(f"{folder / file}: the token {token!r} is not written with the byte-level alphabet", ValueError,
                     "the files of a byte-level BPE (GPT-2's format), as Tokenizer.save writes them")
            return bytes(byte_of[c] for c in token)

        vocab = {i: (t.encode("utf-8") if t in specials else to_bytes(t, "vocab.json")) for t, i in written.items()}
        lines = _read_utf8("the file", folder / "merges.txt").splitlines()
        merges = []
        for line in lines:
            if line and not line.startswith("#version"):
                parts = line.split(" ")
                if len(parts) != 2:
                    fail(f"{folder / 'merges.txt'}: the line {line!r} is not 'left right'", ValueError,
                         "one merge per line, two tokens separated by one space")
                merges.append((to_bytes(parts[0], "merges.txt"), to_bytes(parts[1], "merges.txt")))
        return cls(vocab, merges, specials, config["pattern"])

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self.vocab)

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={len(self.special_tokens)})"
        )


def _pattern_from_pre_tokenizer(spec: dict | None) -> str:
    """The regular expression equivalent to a Hugging Face byte-level pre-tokenizer (JSON spec)."""
    if spec is None:
        raise ValueError("from_huggingface needs a byte-level pre-tokenizer, got none")
    kind = spec.get("type")
    if kind == "ByteLevel":
        if spec.get("add_prefix_space"):
            raise ValueError("ByteLevel(add_prefix_space=True) is not supported: it changes the text")
        if not spec.get("use_regex", True):
            raise ValueError("ByteLevel(use_regex=False) alone does not split the text; nothing to match")
        return GPT2_PATTERN
    if kind == "Sequence":
        steps = spec.get("pretokenizers", [])
        if (
            len(steps) == 2
            and steps[0].get("type") == "Split"
            and "Regex" in steps[0].get("pattern", {})
            and steps[0].get("behavior") == "Isolated"
            and not steps[0].get("invert", False)
            and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)
            and not steps[1].get("add_prefix_space")
        ):
            return steps[0]["pattern"]["Regex"]
        if (
            len(steps) == 2
            and steps[0].get("type") == "Digits"
            and steps[0].get("individual_digits")
            and steps[1].get("type") == "ByteLevel"
            and steps[1].get("use_regex", True)
            and not steps[1].get("add_prefix_space")
        ):
            return SMOLLM2_PATTERN
    raise ValueError(f"unsupported pre-tokenizer for from_huggingface: {json.dumps(spec)[:200]}")


def bytes_per_token(texts: Iterable[str], encode: Callable[[str], Sequence[int]]) -> float:
    """Compression of a tokenizer: total UTF-8 bytes of ``texts`` divided by their total number of tokens.

    Args:
        texts: a list (or any iterable) of str; one text is ``[text]``.
        encode: text -> list of ids, e.g. ``tokenizer.encode``.
    """
    if callable(texts) and not callable(encode):
        fail(f"texts and encode are swapped: texts is {describe(texts)}", TypeError,
             "call bytes_per_token(texts, encode)")
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        fail(f"texts must be a list of str, got {describe(texts)}", TypeError,
             "wrap one text in a list: bytes_per_token([text], encode); a str would be read character by character")
    check_callable("encode", encode, "pass the function itself, e.g. tokenizer.encode (no parentheses)")
    n_bytes = n_tokens = 0
    for text in texts:
        if not isinstance(text, str):
            fail(f"texts must hold str, got {describe(text)}", TypeError, "a list of texts, e.g. ['a text', ...]")
        ids = encode(text)
        if not hasattr(ids, "__len__"):
            fail(f"encode must return the ids of one text (a list), got {describe(ids)}", TypeError,
                 "pass the tokenizer's encode method, e.g. tokenizer.encode")
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(ids)
    if n_tokens == 0:
        fail("bytes_per_token: the texts produced no tokens (are they empty?)", ValueError,
             "give texts that are not empty")
    return n_bytes / n_tokens
