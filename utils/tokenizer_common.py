"""What chapter 4's tokenizers share: pre-tokenizer patterns, special tokens, the one merge routine, the checks.

``GPT2_PATTERN`` (and ``SMOLLM2_PATTERN``) split text into pre-tokens; ``split_special_tokens`` cuts the raw text
at its special tokens (longest first) before anything else, in BPE training, BPE encoding and WordPiece;
``count_pretokens`` counts the pre-tokens (as UTF-8 bytes) that BPE training learns from; ``merge_pair`` is the
one routine that replaces a pair of symbols, in training (``utils.bpe_training``) and in encoding (``utils.bpe``);
``bytes_to_unicode`` is GPT-2's byte -> printable character table, in which byte-level vocabulary files are
written; ``UnknownTokenIdError`` is what ``decode`` of both tokenizers raises for an id outside the vocabulary.

The private checks of arguments, paths and files below are shared by ``utils.bpe``, ``utils.bpe_training`` and
``utils.wordpiece``: each names the argument, what it expected and what it got (with ``utils.checks``).
"""

from __future__ import annotations

import functools
import json
import numbers
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import regex

from utils.checks import check_int, check_tensor, describe, fail

__all__ = [
    "GPT2_PATTERN",
    "SMOLLM2_PATTERN",
    "UnknownTokenIdError",
    "bytes_to_unicode",
    "split_special_tokens",
    "merge_pair",
    "count_pretokens",
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
# Checks of the arguments, shared by utils.bpe, utils.bpe_training and utils.wordpiece: metadata only, or one
# pass over what is built anyway
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

    The one splitter of the tokenizers: BPE training and encoding and WordPiece all cut the raw text with it.

    Returns:
        ``(piece, is_special)`` in text order; the pieces concatenate to ``text`` and none is empty.
    """
    _check_text("text", text)
    spans = _special_spans(text, _special_regex(tuple(_check_special_tokens(special_tokens))))
    return [(text[start:end], is_special) for start, end, is_special in spans]


def merge_pair(symbols: Sequence, pair: tuple, merged) -> list:
    """Replace every occurrence of ``pair`` in ``symbols`` by ``merged``, scanning left to right.

    An occurrence that overlaps one just replaced is skipped: ``[7, 7, 7]`` with the pair ``(7, 7)`` becomes
    ``[merged, 7]``. The one merge routine of the tokenizers (training, ``merge_counts`` and encoding use it);
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


# ----------------------------------------------------------------------------------------------------------
# Pre-token counts (what BPE training learns from)
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
