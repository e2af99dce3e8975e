"""Checkers for the exercises of chapter 4, "Tokenization".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a
reference computed independently. A wrong answer raises :class:`utils.exercises.ExerciseError` with what is
wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from utils.exercises import ExerciseError, check_close, check_equal, check_type

__all__ = ["check_count_pairs", "check_apply_merge", "check_bytes_per_token", "check_wordpiece_word"]


def _check_cases(name: str, labels: list[str], given: list, expected: list, hint: str) -> None:
    """Name the first case that differs (without its answer), else print one "✓" line for all cases."""
    for label, g, e in zip(labels, given, expected):
        if g != e:
            check_type(f"{name}({label})", g, type(e))
            detail = f"expected {len(e)} items, got {len(g)}" if len(g) != len(e) else "not equal to the expected answer"
            raise ExerciseError(f"{name}({label}): {detail}. Hint: {hint}")
    check_equal(name, given, expected)


def check_count_pairs(count_pairs: Callable[[list[int]], dict[tuple[int, int], int]]) -> None:
    """Exercise 1: ``count_pairs(ids) -> dict`` mapping each adjacent pair ``(ids[i], ids[i+1])`` to the number
    of positions ``i`` where it occurs (overlapping occurrences count: ``[7, 7, 7]`` holds ``(7, 7)`` twice)."""
    name = "count_pairs"
    cases = [[1, 2, 3, 1, 2], [5], [], [7, 7, 7], [104, 101, 108, 108, 111, 32, 104, 101], [0, 0, 0, 0, 1, 0]]
    given = []
    for ids in cases:
        result = count_pairs(list(ids))
        check_type(f"{name}({ids})", result, dict)
        if any(not isinstance(k, tuple) for k in result):
            raise ExerciseError(f"{name}({ids}): the keys must be tuples (left id, right id)")
        given.append(dict(result))
    expected = [dict(Counter(zip(ids, ids[1:]))) for ids in cases]
    _check_cases(name, [str(c) for c in cases], given, expected,
                 "look at every position i from 0 to len(ids) - 2; overlapping pairs count")


def _merge_reference(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def check_apply_merge(apply_merge: Callable[[list[int], tuple[int, int], int], list[int]]) -> None:
    """Exercise 2: ``apply_merge(ids, pair, new_id) -> list[int]`` replaces every occurrence of ``pair``,
    scanning left to right (an occurrence that overlaps one already replaced is skipped), by ``new_id``."""
    name = "apply_merge"
    cases = [
        ([1, 2, 3, 1, 2], (1, 2), 256),
        ([1, 2], (2, 1), 300),
        ([7, 7, 7], (7, 7), 256),
        ([7, 7, 7, 7], (7, 7), 256),
        ([3, 1, 2], (1, 2), 999),
        ([], (1, 2), 256),
    ]
    given = [apply_merge(list(ids), pair, new_id) for ids, pair, new_id in cases]
    expected = [_merge_reference(ids, pair, new_id) for ids, pair, new_id in cases]
    _check_cases(name, [f"{ids}, {pair}, {new_id}" for ids, pair, new_id in cases], given, expected,
                 "after replacing a pair, continue two positions later; keep the last id when it is unpaired")


def check_bytes_per_token(bytes_per_token: Callable[[list[str], Callable[[str], list[int]]], float]) -> None:
    """Exercise 3: ``bytes_per_token(texts, encode) -> float``: total UTF-8 bytes of ``texts`` / total tokens."""
    name = "bytes_per_token"

    def by_word(text: str) -> list[int]:
        return [len(w) for w in text.split()]

    texts = ["the king is dead", "long live the king", "café — naïve", "東京"]
    expected = sum(len(t.encode("utf-8")) for t in texts) / sum(len(by_word(t)) for t in texts)
    given = bytes_per_token(list(texts), by_word)
    if isinstance(given, int):
        given = float(given)
    check_type(name, given, float)
    check_close(name, given, expected, rtol=1e-9,
                hint="count bytes with len(text.encode('utf-8')) (not characters), and divide the totals, "
                     "not the average of per-text ratios")


def check_wordpiece_word(wordpiece_word: Callable[[str, set[str]], list[str]]) -> None:
    """Exercise 4: ``wordpiece_word(word, vocab) -> list[str]``: greedy longest match from the left; pieces
    after the first are looked up with the prefix ``"##"``; if some position matches nothing, the whole word is
    ``["[UNK]"]``."""
    from utils.tokenizer import wordpiece_word as reference

    name = "wordpiece_word"
    vocab = {"un", "unaff", "##aff", "##able", "##a", "##ff", "##ab", "##le", "a", "##b", "play", "##ing", "##s",
             "p", "##l", "##a", "##y"}
    words = ["unaffable", "playing", "plays", "ab", "a", "xyz", "playx", "unaffab"]
    given = [wordpiece_word(word, set(vocab)) for word in words]
    expected = [reference(word, vocab) for word in words]
    _check_cases(name, [repr(w) for w in words], given, expected,
                 "try the longest remaining substring first, shrink it from the right, prefix '##' after the first "
                 "piece, and give ['[UNK]'] for the whole word if some position has no match")
