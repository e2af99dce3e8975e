"""WordPiece, BERT's tokenizer, built from scratch (chapter 4).

``WordPieceTokenizer`` reproduces Hugging Face's BERT tokenizer: normalization (``bert_normalize``: clean-up,
lower case, accents stripped), a split on whitespace and punctuation (``bert_pre_tokenize``), then greedy
longest match of each word against the vocabulary (``wordpiece_word``), with ``##`` marking word-internal pieces.
``utils.data.load_minilm_wordpiece`` builds it with MiniLM's vocabulary, next to the ``transformers`` reference.

Conventions shared with ``utils.bpe``: ``vocab`` is id -> token (``str`` here) and ``vocab_size`` its length;
special tokens are cut out of the raw text by ``split_special_tokens``; ``decode`` raises
``UnknownTokenIdError`` (a ``ValueError``) for an id outside the vocabulary. Every public function checks its
arguments first, with the same checks as ``utils.bpe`` (``utils.tokenizer_common``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Container, Iterable, Mapping, Sequence
from pathlib import Path

import regex

from utils.tokenizer_common import (
    _check_path,
    _check_special_tokens,
    _check_text,
    _check_token_id_map,
    _huggingface_spec,
    _lookup,
    _read_utf8,
    _special_spans,
    _special_regex,
)
from utils.checks import check_bool, check_int, describe, fail

__all__ = ["bert_normalize", "bert_pre_tokenize", "wordpiece_word", "WordPieceTokenizer"]


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
    _check_text("text", text)
    check_bool("lowercase", lowercase)
    if strip_accents is not None:
        check_bool("strip_accents", strip_accents)
    return _normalize(text, lowercase, strip_accents)


def _normalize(text: str, lowercase: bool, strip_accents: bool | None = None) -> str:
    """``bert_normalize`` without the checks, for ``WordPieceTokenizer.tokenize``."""
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
    return _BERT_WORD.findall(_check_text("text", text))


def wordpiece_word(
    word: str,
    tokens: Container[str],
    unk_token: str = "[UNK]",
    prefix: str = "##",
    max_input_chars_per_word: int = 100,
) -> list[str]:
    """Split one word into WordPiece tokens by greedy longest match, left to right.

    At each position take the longest piece in ``tokens`` (the token strings of the vocabulary: a set, or the
    keys of a token -> id dict; pieces after the first carry ``prefix``).
    If some position has no match at all, the WHOLE word becomes ``[unk_token]`` (BERT's rule), as does a
    word longer than ``max_input_chars_per_word`` characters.
    """
    _check_text("word", word)
    if any(ch.isspace() for ch in word):
        fail(f"word must be one word, without whitespace, got {word[:40]!r}", ValueError,
             "split the text first: bert_pre_tokenize(bert_normalize(text)), then one word at a time")
    _check_tokens(tokens)
    _check_text("unk_token", unk_token)
    _check_text("prefix", prefix)
    check_int("max_input_chars_per_word", max_input_chars_per_word, minimum=1)
    return _wordpiece_word(word, tokens, unk_token, prefix, max_input_chars_per_word)


def _check_tokens(tokens) -> None:
    """Raise unless ``tokens`` holds token strings (a set, or a dict keyed by them): one item is looked at."""
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Container) or not isinstance(tokens, Iterable):
        fail(f"tokens must be a set of token strings, got {describe(tokens)}", TypeError,
             "e.g. set(tokenizer.vocab.values()); a str would match any substring")
    first = next(iter(tokens), None)
    if first is not None and not isinstance(first, str):
        hint = ("tokenizer.vocab maps id -> token: pass set(tokenizer.vocab.values())" if isinstance(tokens, Mapping)
                else "the vocabulary's token strings, e.g. {'un', '##aff', '##able'}")
        fail(f"tokens must hold token strings, got {describe(first)} in {type(tokens).__name__}", TypeError, hint)


def _wordpiece_word(word: str, tokens: Container[str], unk_token: str, prefix: str,
                    max_input_chars_per_word: int) -> list[str]:
    """``wordpiece_word`` without the checks, for ``WordPieceTokenizer``."""
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces: list[str] = []
    start = 0
    while start < len(word):
        end = len(word)
        piece = None
        while start < end:
            candidate = (prefix if start > 0 else "") + word[start:end]
            if candidate in tokens:
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
        vocab: id -> token (str), the same meaning as ``Tokenizer.vocab``; ``from_vocab_file`` reads BERT's
            ``vocab.txt`` into it.
        unk_token: the token for words that cannot be split.
        prefix: marks a piece that continues a word.
        lowercase: lower-case (and strip accents) during normalization (True for "uncased" models).
        special_tokens: strings matched in the raw text before normalization, one id each.
        max_input_chars_per_word: longer words become ``unk_token``.
    """

    def __init__(
        self,
        vocab: dict[int, str],
        unk_token: str = "[UNK]",
        prefix: str = "##",
        lowercase: bool = True,
        special_tokens: Sequence[str] | None = None,
        max_input_chars_per_word: int = 100,
    ):
        _check_token_id_map(vocab, str, "WordPieceTokenizer.from_vocab_file(path)")
        _check_text("unk_token", unk_token)
        _check_text("prefix", prefix)
        if not prefix:
            fail("prefix must not be empty: decode glues the pieces that carry it to the previous one", ValueError,
                 "BERT's prefix is '##'")
        self.vocab = dict(vocab)
        self._id_of = {t: i for i, t in sorted(self.vocab.items(), reverse=True)}  # the lowest id of each token
        if unk_token not in self._id_of:
            fail(f"unk_token {unk_token!r} is not in the vocabulary", ValueError,
                 "pass the vocabulary's own unknown token, e.g. '[UNK]' for BERT")
        self.unk_token, self.prefix, self.lowercase = unk_token, prefix, check_bool("lowercase", lowercase)
        self.max_input_chars_per_word = check_int("max_input_chars_per_word", max_input_chars_per_word, minimum=1)
        self.special_tokens = _check_special_tokens(special_tokens)
        for tok in self.special_tokens:
            if tok not in self._id_of:
                fail(f"unknown special token {tok!r}: it is not in the vocabulary", ValueError,
                     "add it to the vocabulary or leave it out of special_tokens")
        self._special_re = _special_regex(tuple(self.special_tokens))
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_vocab_file(cls, path: str | Path, **kwargs) -> WordPieceTokenizer:
        """Read BERT's ``vocab.txt`` (one token per line; the line number is the id)."""
        path = _check_path("path", path)
        if path.is_dir():
            fail(f"path must be the vocabulary file, got the folder {path}", IsADirectoryError,
                 f"the file inside it: {path / 'vocab.txt'}")
        tokens = _read_utf8("path", path).split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        return cls(dict(enumerate(tokens)), **kwargs)

    @classmethod
    def from_huggingface(cls, tokenizer) -> WordPieceTokenizer:
        """Build from a Hugging Face WordPiece tokenizer (``transformers`` fast tokenizer or ``tokenizers``)."""
        spec = _huggingface_spec(tokenizer, "WordPiece", "Tokenizer")
        model, norm = spec["model"], spec.get("normalizer") or {}
        if norm.get("type") != "BertNormalizer" or norm.get("strip_accents") not in (None, norm.get("lowercase")):
            raise ValueError(f"unsupported normalizer: {norm!r}")
        return cls(
            {i: t for t, i in model["vocab"].items()},
            unk_token=model["unk_token"],
            prefix=model["continuing_subword_prefix"],
            lowercase=norm["lowercase"],
            special_tokens=[a["content"] for a in spec.get("added_tokens", [])],
            max_input_chars_per_word=model["max_input_chars_per_word"],
        )

    def tokenize(self, text: str) -> list[str]:
        """Tokens (str) of ``text``, without [CLS]/[SEP]."""
        if not isinstance(text, str):
            _check_text("text", text)
        tokens: list[str] = []
        for start, end, is_special in _special_spans(text, self._special_re):
            if is_special:
                tokens.append(text[start:end])
            else:
                for word in _BERT_WORD.findall(_normalize(text[start:end], self.lowercase)):
                    tokens.extend(self._word(word))
        return tokens

    def _word(self, word: str) -> list[str]:
        pieces = self._cache.get(word)
        if pieces is None:
            pieces = _wordpiece_word(word, self._id_of, self.unk_token, self.prefix, self.max_input_chars_per_word)
            if len(self._cache) >= 1_000_000:
                self._cache.clear()
            self._cache[word] = pieces
        return pieces

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` (as the Hugging Face tokenizer with ``add_special_tokens=False``)."""
        return [self._id_of[t] for t in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens, gluing ``##`` pieces to the previous one (lower-cased text, not the original).

        Raises ValueError (naming the id and the vocabulary size) for an id outside the vocabulary."""
        return " ".join(_lookup(self.vocab, ids)).replace(" " + self.prefix, "")

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"
