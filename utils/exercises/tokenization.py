"""Checkers for the exercises of chapter 4, "Tokenization".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a
reference computed independently. A wrong answer raises :class:`utils.exercises.ExerciseError` with what is
wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from utils.exercises import ExerciseError, _require_function, _require_number, check_close, check_equal, check_type

__all__ = ["TOY_MERGES", "check_encode_pretoken", "check_split_special", "check_bytes_per_token", "check_wordpiece_word"]


def _check_cases(name: str, labels: list[str], given: list, expected: list, hint: str | list[str]) -> None:
    """Name the first case that differs (without its answer), else print one "✓" line for all cases.

    ``hint`` is one hint for every case, or one per case."""
    hints = [hint] * len(labels) if isinstance(hint, str) else hint
    for label, g, e, case_hint in zip(labels, given, expected, hints):
        if g != e:
            check_type(f"{name}({label})", g, type(e))
            detail = f"expected {len(e)} items, got {len(g)}" if len(g) != len(e) else "not equal to the expected answer"
            raise ExerciseError(f"{name}({label}): {detail}. Hint: {case_hint}")
    check_equal(name, given, expected)


#: The eight merges the chapter learns from its toy corpus ("low", "lower", "newest", "widest"), in rank order.
TOY_MERGES = [(b"s", b"t"), (b"e", b"st"), (b"o", b"w"), (b"l", b"ow"), (b"w", b"est"), (b"n", b"e"),
              (b"ne", b"west"), (b" ", b"newest")]


def _encode_reference(word: bytes, merges: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    """The pieces of ``word`` by the course's encoder: one pre-token (the pattern takes the whole text)."""
    from utils.bpe import Tokenizer

    vocab = dict(enumerate([bytes([b]) for b in range(256)] + [a + b for a, b in merges]))
    tokenizer = Tokenizer(vocab, merges, pattern=r"[\s\S]+")
    return [tokenizer.vocab[i] for i in tokenizer.encode(word.decode("utf-8"))]


def check_encode_pretoken(encode_pretoken: Callable[[bytes, list[tuple[bytes, bytes]]], list[bytes]]) -> None:
    """Exercise 1: ``encode_pretoken(word, merges) -> list[bytes]``: start from the single bytes of ``word`` and,
    again and again, merge the adjacent pair of lowest rank (its index in ``merges``), every occurrence of it,
    until no adjacent pair is a merge. The pieces concatenate to ``word``."""
    name = "encode_pretoken"
    _require_function(name, encode_pretoken, ("word", "merges"))
    rank_trap = [(b"b", b"c"), (b"a", b"b")]  # leftmost-first merges (a, b); the lower rank is (b, c)
    cases = [(b" lowest", TOY_MERGES), (b" newest", TOY_MERGES), (b"stews", TOY_MERGES), (b" widest", TOY_MERGES),
             (b"abc", rank_trap), (b"abcabc", rank_trap), (b"aaa", [(b"a", b"a"), (b"aa", b"aa")]),
             (b"aaaa", [(b"a", b"a"), (b"aa", b"aa")]), ("été".encode(), [(b"\xc3", b"\xa9"), (b"\xc3\xa9", b"t")]),
             (b"xyz", TOY_MERGES), (b"", TOY_MERGES)]
    given = []
    for word, merges in cases:
        result = encode_pretoken(bytes(word), list(merges))
        check_type(f"{name}({word!r})", result, list)
        if any(not isinstance(piece, bytes) for piece in result):
            raise ExerciseError(f"{name}({word!r}): the pieces must be bytes (like b'st'), got "
                                f"{sorted({type(p).__name__ for p in result})}")
        if b"".join(result) != word:
            raise ExerciseError(f"{name}({word!r}): the pieces do not concatenate back to the word; a merge joins "
                                "two neighbours, it never drops or reorders bytes")
        given.append(result)
    expected = [_encode_reference(word, merges) for word, merges in cases]
    _check_cases(name, [repr(word) for word, _ in cases], given, expected,
                 "among ALL adjacent pairs, merge the one that comes first in merges (lowest rank), not the "
                 "leftmost one; then look again, until no adjacent pair is in merges")


def check_split_special(split_special: Callable[[str, list[str]], list[str]]) -> None:
    """Exercise 2: ``split_special(text, special_tokens) -> list[str]``: the pieces of ``text`` in order, each
    special token a piece of its own, no empty piece; where two special tokens overlap, the longer wins."""
    from utils.tokenizer_common import split_special_tokens

    name = "split_special"
    _require_function(name, split_special, ("text", "special_tokens"))
    eot, a, ab = "<|endoftext|>", "<a>", "<a><b>"
    escape = "escape the tokens (re.escape): '|' means 'or' in a regular expression"
    empty = "drop the empty pieces (re.split gives one where a special token starts or ends the text)"
    cases = [("Hello<|endoftext|>World", [eot], escape), ("x|y<|endoftext|>", [eot], empty),
             ("x<a><b>y<a>", [a, ab], "try the longest special token first, so that '<a><b>' wins over '<a>'"),
             ("<a><a>", [a], "drop the empty piece between two adjacent special tokens"),
             ("plain text", [], "with no special tokens the text is one piece"),
             ("no special token here", [eot], escape), ("", [a], empty)]
    given = []
    for text, specials, _ in cases:
        result = split_special(text, list(specials))
        check_type(f"{name}({text!r})", result, list)
        if "".join(map(str, result)) != text:
            raise ExerciseError(f"{name}({text!r}, {specials}): the pieces do not concatenate back to the text; "
                                "keep the special tokens as pieces (a capturing group in re.split keeps them)")
        given.append(result)
    expected = [[piece for piece, _ in split_special_tokens(text, specials)] for text, specials, _ in cases]
    _check_cases(name, [f"{text!r}, {specials}" for text, specials, _ in cases], given, expected,
                 [hint for _, _, hint in cases])


def check_bytes_per_token(bytes_per_token: Callable[[list[str], Callable[[str], list[int]]], float]) -> None:
    """Exercise 3: ``bytes_per_token(texts, encode) -> float``: total UTF-8 bytes of ``texts`` / total tokens."""
    name = "bytes_per_token"
    _require_function(name, bytes_per_token, ("texts", "encode"))

    def by_word(text: str) -> list[int]:
        return [len(w) for w in text.split()]

    texts = ["the king is dead", "long live the king", "café — naïve", "東京"]
    expected = sum(len(t.encode("utf-8")) for t in texts) / sum(len(by_word(t)) for t in texts)
    given = _require_number(name, bytes_per_token(list(texts), by_word))
    # Both totals are integers, so the right answer is one float64 division (exact to 2**-53 relative); rtol=1e-9
    # only allows another order of float sums, while the wrong answers tested differ by more than 1e-2.
    check_close(name, given, expected, rtol=1e-9,
                hint="count bytes with len(text.encode('utf-8')) (not characters), and divide the totals, "
                     "not the average of per-text ratios")


def check_wordpiece_word(wordpiece_word: Callable[[str, set[str]], list[str]]) -> None:
    """Exercise 4: ``wordpiece_word(word, vocab) -> list[str]``: greedy longest match from the left; pieces
    after the first are looked up with the prefix ``"##"``; if some position matches nothing, the whole word is
    ``["[UNK]"]``."""
    from utils.wordpiece import wordpiece_word as reference

    name = "wordpiece_word"
    _require_function(name, wordpiece_word, ("word", "vocab"))
    vocab = {"un", "unaff", "##aff", "##able", "##a", "##ff", "##ab", "##le", "a", "##b", "play", "##ing", "##s",
             "p", "##l", "##a", "##y"}
    words = ["unaffable", "playing", "plays", "ab", "a", "xyz", "playx", "unaffab"]
    given = [wordpiece_word(word, set(vocab)) for word in words]
    expected = [reference(word, vocab) for word in words]
    _check_cases(name, [repr(w) for w in words], given, expected,
                 "try the longest remaining substring first, shrink it from the right, prefix '##' after the first "
                 "piece, and give ['[UNK]'] for the whole word if some position has no match")
