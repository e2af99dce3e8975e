"""Tokenizers built from scratch: byte-level BPE (trainer and encoder) and WordPiece.

Byte-level BPE
--------------
``train_bpe(path, vocab_size, special_tokens)`` learns ``vocab: dict[int, bytes]`` and
``merges: list[tuple[bytes, bytes]]`` from a UTF-8 text file; ``Tokenizer(vocab, merges, special_tokens)``
encodes text into ids with them. Text is first cut at special tokens (longest first), then split into
pre-tokens by a regular expression (``GPT2_PATTERN`` by default), and each pre-token's UTF-8 bytes are merged
pair by pair in the order the merges were learned. ``Tokenizer.from_huggingface`` builds the same class from
a Hugging Face byte-level BPE tokenizer (SmolLM2's, for example), so that our encoder can be checked id for id
against the reference.

WordPiece
---------
``WordPieceTokenizer`` reproduces BERT's tokenizer: normalization (clean-up, lower case, accents stripped),
a split on whitespace and punctuation, then greedy longest-match of each word against the vocabulary with
``##`` marking word-internal pieces.
"""

from __future__ import annotations

import heapq
import json
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import regex

__all__ = [
    "GPT2_PATTERN",
    "bytes_to_unicode",
    "count_pretokens",
    "train_bpe",
    "train_bpe_from_counts",
    "merge_counts",
    "Tokenizer",
    "load_smollm2_tokenizer",
    "bytes_per_token",
    "bert_normalize",
    "bert_pre_tokenize",
    "wordpiece_word",
    "WordPieceTokenizer",
    "load_minilm_wordpiece",
]

#: GPT-2's pre-tokenizer: English contractions, runs of letters or of digits (each with at most one leading
#: space), runs of other symbols, and whitespace (a run of spaces leaves its last space to the next word).
#: Hugging Face's ``ByteLevel(use_regex=True)`` pre-tokenizer uses this same expression.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# encode_iterable holds back the last characters of its buffer: a pre-token that ends this far before the
# end of the buffer cannot change when more text arrives (the longest fixed alternative of GPT-2-style
# patterns, "'ll", is 3 characters; runs of one class are only ever extended, never split differently).
_STREAM_LOOKBACK = 16


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
# Training
# ----------------------------------------------------------------------------------------------------------
def _special_regex(special_tokens: Sequence[str]) -> regex.Pattern | None:
    """An alternation of the special tokens, longest first, so that overlapping ones match the longest."""
    if not special_tokens:
        return None
    ordered = sorted(set(special_tokens), key=lambda s: (-len(s), s))
    return regex.compile("|".join(regex.escape(s) for s in ordered))


def _check_special_tokens(special_tokens: Sequence[str] | None) -> list[str]:
    if special_tokens is None:
        return []
    if isinstance(special_tokens, str):
        raise TypeError(
            f"special_tokens must be a list of str, got the str {special_tokens!r}; write [{special_tokens!r}]"
        )
    tokens = list(special_tokens)
    for tok in tokens:
        if not isinstance(tok, str) or not tok:
            raise TypeError(f"each special token must be a non-empty str, got {tok!r}")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"special_tokens contains duplicates: {tokens}")
    return tokens


def count_pretokens(
    text: str, special_tokens: Sequence[str] | None = None, pattern: str = GPT2_PATTERN
) -> Counter[bytes]:
    """Count the pre-tokens of ``text``, as UTF-8 bytes.

    The text is cut at the special tokens first (they are removed: no merge may cross or include them), then
    each piece is split with the regular expression ``pattern``.

    Returns:
        Counter mapping each distinct pre-token (bytes) to its number of occurrences.
    """
    specials = _check_special_tokens(special_tokens)
    splitter = _special_regex(specials)
    pieces = splitter.split(text) if splitter else [text]
    compiled = regex.compile(pattern)
    counts: Counter[str] = Counter()
    for piece in pieces:
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
    specials = _check_special_tokens(special_tokens)
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    if vocab_size < 256 + len(specials):
        raise ValueError(
            f"vocab_size must be at least 256 (one id per byte) + {len(specials)} special tokens "
            f"= {256 + len(specials)}, got {vocab_size}"
        )
    vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
    merges: list[tuple[bytes, bytes]] = []
    n_merges = vocab_size - 256 - len(specials)

    # Each distinct pre-token is a list of token ids with a count.
    words = [list(w) for w in word_counts]
    freqs = [int(n) for n in word_counts.values()]
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}  # pair -> indices of the words that contain it
    for wi, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + freq
            where.setdefault(pair, set()).add(wi)

    # Max-heap on (count, pair bytes). Lazy updates: an entry's count is never below the pair's current count
    # (a pair whose count grows is pushed again); a popped entry whose count is too high is pushed back with
    # the current count, so the first entry popped with a current count is the true maximum.
    heap = [(-c, _Descending((vocab[p[0]], vocab[p[1]])), p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    def add(p: tuple[int, int], delta: int, wi: int) -> None:
        pair_counts[p] = pair_counts.get(p, 0) + delta
        if delta > 0:
            where.setdefault(p, set()).add(wi)

    while len(merges) < n_merges and heap:
        neg_count, key, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current != -neg_count:
            if current > 0:
                heapq.heappush(heap, (-current, key, pair))
            continue
        a, b = pair
        new_id = len(vocab)
        vocab[new_id] = vocab[a] + vocab[b]
        merges.append((vocab[a], vocab[b]))

        grown: set[tuple[int, int]] = set()
        for wi in where.pop(pair, ()):
            word, freq = words[wi], freqs[wi]
            merged: list[int] = []
            i, n = 0, len(word)
            while i < n:
                if i + 1 < n and word[i] == a and word[i + 1] == b:
                    if merged:  # the left neighbour now pairs with the new token
                        add((merged[-1], a), -freq, wi)
                        add((merged[-1], new_id), freq, wi)
                        grown.add((merged[-1], new_id))
                    if i + 2 < n:  # so does the right neighbour
                        add((b, word[i + 2]), -freq, wi)
                        add((new_id, word[i + 2]), freq, wi)
                        grown.add((new_id, word[i + 2]))
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            words[wi] = merged
        del pair_counts[pair]
        for p in grown:
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, _Descending((vocab[p[0]], vocab[p[1]])), p))

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
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"train_bpe needs a UTF-8 text file; {path} does not exist")
    text = path.read_text(encoding="utf-8")
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
    words = [tuple(bytes([b]) for b in w) for w in word_counts]
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
            word, freq = words[wi], freqs[wi]
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            for p in zip(word, word[1:]):  # take this word's pairs out, put the merged word's in
                pair_counts[p] -= freq
            for p in zip(merged, merged[1:]):
                pair_counts[p] += freq
                where.setdefault(p, set()).add(wi)
            words[wi] = tuple(merged)
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
        ValueError: when the vocabulary and merges do not fit together, or a special token is not in the
            vocabulary.
    """

    def __init__(
        self,
        vocab: dict[int, bytes],
        merges: Sequence[tuple[bytes, bytes]],
        special_tokens: Sequence[str] | None = None,
        pattern: str = GPT2_PATTERN,
    ):
        self.vocab = dict(vocab)
        self.merges = [(bytes(a), bytes(b)) for a, b in merges]
        self.special_tokens = _check_special_tokens(special_tokens)
        self.pattern = pattern
        self._pretokenizer = regex.compile(pattern)
        self._special_re = _special_regex(self.special_tokens)

        self._id_of: dict[bytes, int] = {}
        for i, tok in sorted(self.vocab.items()):
            if not isinstance(tok, (bytes, bytearray)):
                raise TypeError(f"vocab values must be bytes, got {type(tok).__name__} for id {i}")
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
        ``ByteLevel`` (GPT-2 pattern) or a regex ``Split`` followed by ``ByteLevel(use_regex=False)``.
        """
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        spec = json.loads(backend.to_str())
        model = spec["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"from_huggingface needs a BPE model, got {model.get('type')!r}")
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
            best_rank, best = None, None
            for pair in zip(parts, parts[1:]):
                r = ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best_rank, best = r, pair
            if best is None:
                break
            a, b = best
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        id_of = self._id_of
        ids = tuple(id_of[p] for p in parts if p in id_of)  # a byte missing from the vocabulary is dropped
        if len(self._cache) >= 1_000_000:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def _pieces(self, text: str) -> Iterator[tuple[str, bool, int, int]]:
        """(piece, is_special, start, end) for the special tokens and the text between them."""
        pos = 0
        if self._special_re is not None:
            for m in self._special_re.finditer(text):
                if m.start() > pos:
                    yield text[pos : m.start()], False, pos, m.start()
                yield m.group(), True, m.start(), m.end()
                pos = m.end()
        if pos < len(text):
            yield text[pos:], False, pos, len(text)

    def encode(self, text: str) -> list[int]:
        """Encode a string to token ids (list of int). Special tokens in ``text`` become their own id."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
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
        buffer = ""
        for chunk in iterable:
            if not isinstance(chunk, str):
                raise TypeError(f"encode_iterable expects str chunks, got {type(chunk).__name__}")
            buffer += chunk
            ids, cut = self._stable_prefix(buffer)
            if cut:
                yield from ids
                buffer = buffer[cut:]
        if buffer:
            yield from self.encode(buffer)

    # -- decoding ---------------------------------------------------------------------------------------
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Concatenate the bytes of the tokens ``ids``. Raises ValueError for an id outside the vocabulary."""
        out = []
        for i in ids:
            tok = self.vocab.get(int(i))
            if tok is None:
                raise ValueError(f"unknown token id {i}: the vocabulary has ids 0..{max(self.vocab)}")
            out.append(tok)
        return b"".join(out)

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to a string.

        A sequence of ids may end in the middle of a multi-byte UTF-8 character, or contain bytes that are not
        valid UTF-8 in any order. With ``errors="replace"`` (the default, as in Hugging Face and tiktoken)
        each invalid byte sequence becomes U+FFFD "�"; with ``errors="strict"`` a ValueError says where the
        invalid bytes are.
        """
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
    raise ValueError(f"unsupported pre-tokenizer for from_huggingface: {json.dumps(spec)[:200]}")


def load_smollm2_tokenizer() -> tuple[Tokenizer, object]:
    """Our Tokenizer with SmolLM2-135M-Instruct's vocabulary, merges and special tokens.

    The reference is read from the model's GGUF file (a 4-bit Q4_1 release; only its tokenizer is used here)
    with ``transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)``.

    Returns:
        (ours, reference): our ``Tokenizer`` and the ``transformers`` tokenizer it was built from.
    """
    from transformers import AutoTokenizer

    from utils import data

    folder, name = data.smollm2_gguf()
    reference = AutoTokenizer.from_pretrained(str(folder), gguf_file=name)
    return Tokenizer.from_huggingface(reference), reference


def bytes_per_token(texts: Iterable[str], encode: Callable[[str], Sequence[int]]) -> float:
    """Compression of a tokenizer: total UTF-8 bytes of ``texts`` divided by their total number of tokens."""
    n_bytes = n_tokens = 0
    for text in texts:
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(encode(text))
    if n_tokens == 0:
        raise ValueError("bytes_per_token: the texts produced no tokens (are they empty?)")
    return n_bytes / n_tokens


# ----------------------------------------------------------------------------------------------------------
# WordPiece (BERT)
# ----------------------------------------------------------------------------------------------------------
def _is_chinese_char(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B920 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


# Rust's char::is_whitespace (the White_Space property), which Hugging Face's BERT tokenizer uses.
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# The ASCII part of the normalizer as one str.translate table: controls removed, tab/newline/CR -> space.
_ASCII_CLEAN = {c: None for c in [*range(32), 127] if chr(c) not in "\t\n\r"} | {ord(c): " " for c in "\t\n\r"}
_ASCII_PUNCT = "".join(chr(c) for c in [*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)])
# A word: a run of characters that are neither whitespace nor punctuation; punctuation stands alone.
_BERT_WORD = regex.compile(
    "[^" + regex.escape(_WHITESPACE + _ASCII_PUNCT) + r"\p{P}]+|[" + regex.escape(_ASCII_PUNCT) + r"\p{P}]"
)


def _clean_char(ch: str) -> str:
    """BERT's clean-up of one non-ASCII character: "" for a control, " " for whitespace, CJK spaced out."""
    if ch == "\ufffd" or unicodedata.category(ch).startswith("C"):
        return ""
    if ch in _WHITESPACE:
        return " "
    if _is_chinese_char(ord(ch)):
        return " " + ch + " "
    return ch


def bert_normalize(text: str, lowercase: bool = True, strip_accents: bool | None = None) -> str:
    """BERT's normalizer (Hugging Face ``BertNormalizer``), in this order: drop U+0000, U+FFFD and control
    characters (Unicode category C, except tab, newline and carriage return); map whitespace to " "; put
    spaces around CJK ideographs; strip accents (NFD, then drop non-spacing marks; by default only when
    lower-casing); lower-case each character on its own (as Rust's ``char::to_lowercase``: a final capital
    sigma becomes "σ", not "ς" as in Python's ``str.lower``).
    """
    text = text.translate(_ASCII_CLEAN)
    if text.isascii():
        return text.lower() if lowercase else text
    text = "".join(ch if ch < "\x80" else _clean_char(ch) for ch in text)
    if strip_accents or (strip_accents is None and lowercase):
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    if lowercase:
        text = "".join(c.lower() for c in text)
    return text


def bert_pre_tokenize(text: str) -> list[str]:
    """Split normalized text into words: whitespace separates, each punctuation character stands alone
    (ASCII symbols such as ``$`` and ``+`` count as punctuation, as in BERT)."""
    return _BERT_WORD.findall(text)


def wordpiece_word(
    word: str,
    vocab: dict[str, int] | set[str],
    unk_token: str = "[UNK]",
    prefix: str = "##",
    max_input_chars_per_word: int = 100,
) -> list[str]:
    """Split one word into WordPiece tokens by greedy longest match, left to right.

    At each position take the longest piece in the vocabulary (pieces after the first carry ``prefix``).
    If some position has no match at all, the WHOLE word becomes ``[unk_token]`` (BERT's rule), as does a
    word longer than ``max_input_chars_per_word`` characters.
    """
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces: list[str] = []
    start = 0
    while start < len(word):
        end = len(word)
        piece = None
        while start < end:
            candidate = (prefix if start > 0 else "") + word[start:end]
            if candidate in vocab:
                piece = candidate
                break
            end -= 1
        if piece is None:
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


class WordPieceTokenizer:
    """BERT's tokenizer: ``bert_normalize`` -> ``bert_pre_tokenize`` -> ``wordpiece_word`` per word.

    Args:
        vocab: token (str) -> id.
        unk_token: the token for words that cannot be split.
        prefix: marks a piece that continues a word.
        lowercase: lower-case (and strip accents) during normalization (True for "uncased" models).
        special_tokens: strings matched in the raw text before normalization, one id each.
        max_input_chars_per_word: longer words become ``unk_token``.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        unk_token: str = "[UNK]",
        prefix: str = "##",
        lowercase: bool = True,
        special_tokens: Sequence[str] | None = None,
        max_input_chars_per_word: int = 100,
    ):
        self.vocab = dict(vocab)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        if unk_token not in self.vocab:
            raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
        self.unk_token, self.prefix, self.lowercase = unk_token, prefix, lowercase
        self.max_input_chars_per_word = max_input_chars_per_word
        self.special_tokens = _check_special_tokens(special_tokens)
        for tok in self.special_tokens:
            if tok not in self.vocab:
                raise ValueError(f"unknown special token {tok!r}: it is not in the vocabulary")
        self._special_re = _special_regex(self.special_tokens)
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_vocab_file(cls, path: str | Path, **kwargs) -> WordPieceTokenizer:
        """Read BERT's ``vocab.txt`` (one token per line; the line number is the id)."""
        tokens = Path(path).read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        return cls({t: i for i, t in enumerate(tokens)}, **kwargs)

    @classmethod
    def from_huggingface(cls, tokenizer) -> WordPieceTokenizer:
        """Build from a Hugging Face WordPiece tokenizer (``transformers`` fast tokenizer or ``tokenizers``)."""
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        spec = json.loads(backend.to_str())
        model, norm = spec["model"], spec.get("normalizer") or {}
        if model.get("type") != "WordPiece":
            raise ValueError(f"from_huggingface needs a WordPiece model, got {model.get('type')!r}")
        if norm.get("type") != "BertNormalizer" or norm.get("strip_accents") not in (None, norm.get("lowercase")):
            raise ValueError(f"unsupported normalizer: {norm!r}")
        return cls(
            model["vocab"],
            unk_token=model["unk_token"],
            prefix=model["continuing_subword_prefix"],
            lowercase=norm["lowercase"],
            special_tokens=[a["content"] for a in spec.get("added_tokens", [])],
            max_input_chars_per_word=model["max_input_chars_per_word"],
        )

    def tokenize(self, text: str) -> list[str]:
        """Tokens (str) of ``text``, without [CLS]/[SEP]."""
        if not isinstance(text, str):
            raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
        pieces = self._special_re.split(text) if self._special_re else [text]
        specials = self._special_re.findall(text) if self._special_re else []
        tokens: list[str] = []
        for k, piece in enumerate(pieces):
            for word in bert_pre_tokenize(bert_normalize(piece, self.lowercase)):
                tokens.extend(self._word(word))
            if k < len(specials):
                tokens.append(specials[k])
        return tokens

    def _word(self, word: str) -> list[str]:
        pieces = self._cache.get(word)
        if pieces is None:
            pieces = wordpiece_word(word, self.vocab, self.unk_token, self.prefix, self.max_input_chars_per_word)
            if len(self._cache) >= 1_000_000:
                self._cache.clear()
            self._cache[word] = pieces
        return pieces

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` (as the Hugging Face tokenizer with ``add_special_tokens=False``)."""
        return [self.vocab[t] for t in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens, gluing ``##`` pieces to the previous one (lower-cased text, not the original)."""
        text = " ".join(self.id_to_token[int(i)] for i in ids)
        return text.replace(" " + self.prefix, "")

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={len(self.vocab)}, lowercase={self.lowercase})"


def load_minilm_wordpiece() -> tuple[WordPieceTokenizer, object]:
    """Our WordPieceTokenizer with MiniLM's (all-MiniLM-L6-v2, uncased BERT) vocabulary.

    Returns:
        (ours, reference): ours, read from ``vocab.txt``, and ``transformers.AutoTokenizer`` on the same folder.
    """
    from transformers import AutoTokenizer

    from utils import data

    folder = data.minilm_dir()
    reference = AutoTokenizer.from_pretrained(str(folder))
    ours = WordPieceTokenizer.from_vocab_file(
        Path(folder) / "vocab.txt", special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    return ours, reference

