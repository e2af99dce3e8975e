"""Chapter 4 exercises: the solutions pass their checkers, known-wrong answers are rejected with a helpful message."""

import re

import pytest

from utils.exercises import ExerciseError
from utils.exercises import tokenization as ex
from utils.bpe_training import train_bpe_from_counts
from utils.tokenizer_common import count_pretokens

# ---------------------------------------------------------------- solutions


def encode_pretoken(word, merges):
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    parts = [bytes([b]) for b in word]
    while len(parts) > 1:
        pairs = [p for p in zip(parts, parts[1:]) if p in ranks]
        if not pairs:
            break
        best = min(pairs, key=ranks.get)
        out, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                out.append(parts[i] + parts[i + 1])
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return parts


def split_special(text, special_tokens):
    if not special_tokens:
        return [text] if text else []
    longest_first = sorted(special_tokens, key=len, reverse=True)
    pattern = "(" + "|".join(re.escape(t) for t in longest_first) + ")"
    return [piece for piece in re.split(pattern, text) if piece]


def bytes_per_token(texts, encode):
    return sum(len(t.encode("utf-8")) for t in texts) / sum(len(encode(t)) for t in texts)


def wordpiece_word(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


SOLUTIONS = [
    (ex.check_encode_pretoken, encode_pretoken),
    (ex.check_split_special, split_special),
    (ex.check_bytes_per_token, bytes_per_token),
    (ex.check_wordpiece_word, wordpiece_word),
]


@pytest.mark.parametrize("checker, solution", SOLUTIONS)
def test_solutions_pass(checker, solution, capsys):
    checker(solution)
    out = capsys.readouterr().out
    assert out.count("✓") == 1 and "correct" in out


def test_toy_merges_are_the_chapters():
    """The checker's toy merges are those the chapter trains on its toy corpus (8 merges)."""
    toy = count_pretokens("low low low low low lower lower newest newest newest newest newest newest "
                          "widest widest widest")
    assert train_bpe_from_counts(toy, 256 + 8)[1] == ex.TOY_MERGES


# ---------------------------------------------------------------- known-wrong answers


def encode_leftmost_first(word, merges):
    # merges the leftmost pair that is a merge, whatever its rank
    known = set(merges)
    parts = [bytes([b]) for b in word]
    while True:
        for i, pair in enumerate(zip(parts, parts[1:])):
            if pair in known:
                parts[i : i + 2] = [pair[0] + pair[1]]
                break
        else:
            return parts


def encode_one_merge_only(word, merges):
    # applies the best merge once and stops
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    parts = [bytes([b]) for b in word]
    pairs = [p for p in zip(parts, parts[1:]) if p in ranks]
    if not pairs:
        return parts
    best = min(pairs, key=ranks.get)
    i = list(zip(parts, parts[1:])).index(best)
    return parts[:i] + [best[0] + best[1]] + parts[i + 2 :]


def encode_as_str(word, merges):
    return [p.decode("utf-8", "replace") for p in encode_pretoken(word, merges)]


def encode_drops_unmerged(word, merges):
    return [p for p in encode_pretoken(word, merges) if len(p) > 1]


def split_unescaped(text, special_tokens):
    if not special_tokens:
        return [text] if text else []
    pattern = "(" + "|".join(sorted(special_tokens, key=len, reverse=True)) + ")"
    return [piece for piece in re.split(pattern, text) if piece]


def split_in_given_order(text, special_tokens):
    if not special_tokens:
        return [text] if text else []
    pattern = "(" + "|".join(re.escape(t) for t in special_tokens) + ")"
    return [piece for piece in re.split(pattern, text) if piece]


def split_keeps_empty(text, special_tokens):
    if not special_tokens:
        return [text]
    pattern = "(" + "|".join(re.escape(t) for t in sorted(special_tokens, key=len, reverse=True)) + ")"
    return re.split(pattern, text)


def split_drops_tokens(text, special_tokens):
    if not special_tokens:
        return [text] if text else []
    pattern = "|".join(re.escape(t) for t in sorted(special_tokens, key=len, reverse=True))
    return [piece for piece in re.split(pattern, text) if piece]


def bytes_per_token_characters(texts, encode):
    return sum(len(t) for t in texts) / sum(len(encode(t)) for t in texts)


def bytes_per_token_mean_of_ratios(texts, encode):
    return sum(len(t.encode("utf-8")) / len(encode(t)) for t in texts) / len(texts)


def wordpiece_shortest_first(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(start + 1, len(word) + 1):
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


def wordpiece_no_prefix(word, vocab):
    return [p.removeprefix("##") for p in wordpiece_word(word, vocab)]


def wordpiece_unk_per_piece(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            pieces.append("[UNK]")
            start += 1
    return pieces


def not_attempted(*args):
    raise NotImplementedError("Exercise: fill in")


@pytest.mark.parametrize(
    "checker, wrong, message",
    [
        (ex.check_encode_pretoken, encode_leftmost_first, r"encode_pretoken\(b'abc'\): not equal.*lowest rank"),
        (ex.check_encode_pretoken, encode_one_merge_only, r"encode_pretoken\(b' lowest'\): expected 3 items, got 6.*look again"),
        (ex.check_encode_pretoken, encode_as_str, r"the pieces must be bytes"),
        (ex.check_encode_pretoken, encode_drops_unmerged, r"encode_pretoken\(b' lowest'\): the pieces do not concatenate"),
        (ex.check_split_special, split_unescaped, r"split_special\('Hello<\|endoftext\|>World', \['<\|endoftext\|>'\]\): expected 3 items, got \d+.*re.escape.*'or'"),
        (ex.check_split_special, split_in_given_order, r"split_special\('x<a><b>y<a>', \['<a>', '<a><b>'\]\): not equal.*longest"),
        (ex.check_split_special, split_keeps_empty, r"split_special\('x\|y<\|endoftext\|>', \['<\|endoftext\|>'\]\): expected 2 items, got 3.*empty pieces"),
        (ex.check_split_special, split_drops_tokens, r"do not concatenate back.*capturing group"),
        (ex.check_bytes_per_token, bytes_per_token_characters, r"not close enough.*text.encode\('utf-8'\)"),
        (ex.check_bytes_per_token, bytes_per_token_mean_of_ratios, "not close enough.*divide the totals"),
        (ex.check_wordpiece_word, wordpiece_shortest_first, r"wordpiece_word\('unaffable'\): expected 2 items, got 1.*longest"),
        (ex.check_wordpiece_word, wordpiece_no_prefix, r"wordpiece_word\('unaffable'\).*'##'"),
        (ex.check_wordpiece_word, wordpiece_unk_per_piece, r"wordpiece_word\('xyz'\): expected 1 items, got 3"),
    ],
)
def test_wrong_answers_rejected(checker, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checker(wrong)


@pytest.mark.parametrize("checker", [checker for checker, _ in SOLUTIONS])
def test_stub_raises_not_implemented(checker):
    with pytest.raises(NotImplementedError):
        checker(not_attempted)


def test_messages_do_not_reveal_the_answer():
    with pytest.raises(ExerciseError) as info:
        ex.check_encode_pretoken(encode_leftmost_first)
    assert "b'bc'" not in str(info.value)  # the expected pieces of b'abc' are never printed
    with pytest.raises(ExerciseError) as info:
        ex.check_split_special(split_in_given_order)
    assert "'<a><b>', 'y'" not in str(info.value)
