"""The chapter-6 checkers accept the solutions and reject known-wrong answers with a message that helps."""

import math

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises.pretraining import check_bits_per_byte, check_nsp_pairs, check_top_p_filter

# ---------------------------------------------------------------- solutions (as in the notebook)


def top_p_filter(logits, p):
    probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)
    before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
    remove_sorted = before >= p  # the nucleus is complete without this token
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def bits_per_byte(loss, n_tokens, n_bytes):
    return loss * n_tokens / n_bytes / math.log(2)


def make_nsp_pairs(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 1))
            else:
                other = rng.choice([j for j in range(len(documents)) if j != d])
                pairs.append((doc[i], rng.choice(documents[other]), 0))
    return pairs


def test_solutions_pass(capsys):
    check_top_p_filter(top_p_filter)
    check_bits_per_byte(bits_per_byte)
    check_nsp_pairs(make_nsp_pairs)
    assert capsys.readouterr().out.count("✓") >= 5


# ---------------------------------------------------------------- known-wrong answers


def test_top_p_without_the_token_that_crosses_p_fails():
    def strict(logits, p):
        probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)
        remove_sorted = probs.cumsum(dim=-1) > p  # drops the token that brings the sum over p
        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
        return logits.masked_fill(remove, float("-inf"))

    with pytest.raises(ExerciseError, match="kept tokens differ .* fewer"):
        check_top_p_filter(strict)


def test_top_p_with_probabilities_above_p_fails():
    with pytest.raises(ExerciseError, match="kept tokens differ"):
        check_top_p_filter(lambda logits, p: logits.masked_fill(torch.softmax(logits, -1) < 1 - p, float("-inf")))


def test_top_p_returning_probabilities_fails():
    def as_probs(logits, p):
        out = top_p_filter(logits, p)
        return torch.where(torch.isfinite(out), torch.softmax(logits, -1), out)

    with pytest.raises(ExerciseError, match="unchanged"):
        check_top_p_filter(as_probs)


def test_bits_per_byte_in_nats_or_per_token_fails():
    with pytest.raises(ExerciseError, match="nats per byte"):
        check_bits_per_byte(lambda loss, n_tokens, n_bytes: loss * n_tokens / n_bytes)
    with pytest.raises(ExerciseError, match="not close enough"):
        check_bits_per_byte(lambda loss, n_tokens, n_bytes: loss / math.log(2))


def test_nsp_pairs_from_the_same_document_or_unbalanced_fail():
    def same_document(documents, rng):
        pairs = []
        for doc in documents:
            for i in range(len(doc) - 1):
                b, label = (doc[i + 1], 1) if rng.random() < 0.5 else (rng.choice(doc), 0)
                pairs.append((doc[i], b, label))
        return pairs

    with pytest.raises(ExerciseError, match="another document"):
        check_nsp_pairs(same_document)
    with pytest.raises(ExerciseError, match="positives; expected 50%"):
        check_nsp_pairs(lambda documents, rng: [(d[i], d[i + 1], 1) for d in documents for i in range(len(d) - 1)])
    with pytest.raises(ExerciseError, match="one pair per pair"):
        check_nsp_pairs(lambda documents, rng: [])


def test_nsp_pairs_from_the_global_random_module_fail():
    import random

    def unseeded(documents, rng):
        return make_nsp_pairs(documents, random.Random())

    with pytest.raises(ExerciseError, match="same seed"):
        check_nsp_pairs(unseeded)
