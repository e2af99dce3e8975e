"""Chapter 4 exercises: the solutions pass their checkers, known-wrong answers are rejected."""

import pytest

from utils.exercises import ExerciseError
from utils.exercises import tokenization as ex

# ---------------------------------------------------------------- solutions


def count_pairs(ids):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def apply_merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


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


@pytest.mark.parametrize(
    "checker, solution",
    [
        (ex.check_count_pairs, count_pairs),
        (ex.check_apply_merge, apply_merge),
        (ex.check_bytes_per_token, bytes_per_token),
        (ex.check_wordpiece_word, wordpiece_word),
    ],
)
def test_solutions_pass(checker, solution, capsys):
    checker(solution)
    out = capsys.readouterr().out
    assert out.count("✓") == 1 and "correct" in out


# ---------------------------------------------------------------- known-wrong answers


def count_pairs_non_overlapping(ids):
    counts, i = {}, 0
    while i + 1 < len(ids):
        counts[(ids[i], ids[i + 1])] = counts.get((ids[i], ids[i + 1]), 0) + 1
        i += 2
    return counts


def count_pairs_string_keys(ids):
    return {f"{a},{b}": n for (a, b), n in count_pairs(ids).items()}


def count_pairs_as_list(ids):
    return list(count_pairs(ids).items())


def apply_merge_overlapping(ids, pair, new_id):
    # replaces every position where the pair starts, even inside an occurrence already replaced
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            out.append(ids[i])
        i += 1
    return out


def apply_merge_drops_last(ids, pair, new_id):
    out, i = [], 0
    while i + 1 < len(ids):
        if (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def apply_merge_tuple(ids, pair, new_id):
    return tuple(apply_merge(ids, pair, new_id))


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
        (ex.check_count_pairs, count_pairs_non_overlapping, r"count_pairs\(\[1, 2, 3, 1, 2\]\): expected 3 items, got 2.*overlapping"),
        (ex.check_count_pairs, count_pairs_string_keys, "keys must be tuples"),
        (ex.check_count_pairs, count_pairs_as_list, "expected a value of type dict, got list"),
        (ex.check_apply_merge, apply_merge_overlapping, r"apply_merge\(\[7, 7, 7\], \(7, 7\), 256\): not equal.*two positions later"),
        (ex.check_apply_merge, apply_merge_drops_last, r"apply_merge\(\[1, 2\], \(2, 1\), 300\): expected 2 items, got 1.*keep the last id"),
        (ex.check_apply_merge, apply_merge_tuple, "expected a value of type list, got tuple"),
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


@pytest.mark.parametrize(
    "checker", [ex.check_count_pairs, ex.check_apply_merge, ex.check_bytes_per_token, ex.check_wordpiece_word]
)
def test_stub_raises_not_implemented(checker):
    with pytest.raises(NotImplementedError):
        checker(not_attempted)


def test_messages_do_not_reveal_the_answer():
    with pytest.raises(ExerciseError) as info:
        ex.check_apply_merge(apply_merge_drops_last)
    assert "256, 3, 256" not in str(info.value)  # the expected list is never printed
