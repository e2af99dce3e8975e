"""Byte-level BPE encoding built from scratch (chapter 4): the ``Tokenizer`` class, its files, ``bytes_per_token``.

``Tokenizer(vocab, merges, special_tokens)`` encodes text into ids with what ``utils.bpe_training.train_bpe``
learns. Text is first cut at special tokens (``split_special_tokens``, longest first), then split into pre-tokens
by a regular expression (``GPT2_PATTERN`` by default), and each pre-token's UTF-8 bytes are merged pair by pair in
the order the merges were learned, with the merge routine training uses (all three in ``utils.tokenizer_common``).
``Tokenizer.from_huggingface`` builds the same class from a Hugging Face byte-level BPE tokenizer (SmolLM2's, for
example), so that our encoder can be checked id for id against the reference; ``Tokenizer.save`` and
``Tokenizer.load`` write and read ``vocab.json`` + ``merges.txt`` (GPT-2's file format, readable by Hugging Face
``tokenizers``) and ``tokenizer_config.json`` (special tokens, pattern). ``bytes_per_token`` measures the
compression of any tokenizer's ``encode``.

Conventions shared with ``utils.wordpiece``: ``vocab`` is id -> token and ``vocab_size`` its length; special
tokens are cut out of the raw text by ``split_special_tokens``; ``decode`` raises ``UnknownTokenIdError`` (a
``ValueError``) for an id outside the vocabulary. Every public function checks its arguments first (with
``utils.checks``) and names the argument, what it expected and what it got.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from utils.checks import check_callable, check_choice, describe, fail
from utils.tokenizer_common import (
    GPT2_PATTERN,
    SMOLLM2_PATTERN,
    _check_merges,
    _check_path,
    _check_special_tokens,
    _check_text,
    _check_token_id_map,
    _compile_pattern,
    _huggingface_spec,
    _lookup,
    _merge_pair,
    _read_utf8,
    _special_regex,
    _special_spans,
    bytes_to_unicode,
)

__all__ = ["Tokenizer", "bytes_per_token"]

# encode_iterable holds back the last characters of its buffer: a pre-token that ends this far before the
# end of the buffer cannot change when more text arrives (the longest fixed alternative of GPT-2-style
# patterns, "'ll", is 3 characters; runs of one class are only ever extended, never split differently).
_STREAM_LOOKBACK = 16
_NO_RANK = float("inf")  # the rank of a pair that no merge joins
_DECODE_ERRORS = ("replace", "strict", "ignore", "backslashreplace", "surrogateescape")  # bytes.decode's handlers


def _read_json(path: Path):
    """The JSON value in the file ``path``, or a message that names the file."""
    try:
        return json.loads(_read_utf8("the file", path))
    except json.JSONDecodeError as err:
        fail(f"{path} is not valid JSON ({err})", ValueError, "was it written by Tokenizer.save? write it again")


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
