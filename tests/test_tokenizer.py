"""utils.bpe_training, utils.bpe, utils.tokenizer_common and utils.wordpiece: the BPE trainer against the
chapter's definition, the merge routine and the special-token splitter, round trips, streaming, saved files, errors, and id-for-id equality with the real
tokenizers of SmolLM2 (byte-level BPE, with both of its pre-tokenizers) and MiniLM (WordPiece).

The comparisons with the reference tokenizers use a fixed, seeded sample of 2,000 sentences of each corpus to
keep the suite fast; chapter 4 compares the full sets (10,568 movie sentences, 10,033 Wikipedia leads).
"""

from __future__ import annotations

import ast
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils import data
from utils.bpe import Tokenizer, bytes_per_token
from utils.bpe_training import merge_counts, train_bpe, train_bpe_from_counts
from utils.tokenizer_common import (
    GPT2_PATTERN,
    SMOLLM2_PATTERN,
    UnknownTokenIdError,
    bytes_to_unicode,
    count_pretokens,
    merge_pair,
    split_special_tokens,
)
from utils.wordpiece import (
    WordPieceTokenizer,
    bert_normalize,
    bert_pre_tokenize,
    wordpiece_word,
)
from utils.data import load_minilm_wordpiece, load_smollm2_tokenizer

EOT = "<|endoftext|>"
SAMPLE_SIZE = 2_000


# ---------------------------------------------------------------------------------------- helpers


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_tokenization.ipynb"


def notebook_function(cell_id: str, name: str):
    """The function ``name`` defined in the chapter-4 cell ``cell_id`` (the teaching copy shown to the reader)."""
    cell = next(c for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"] if c.get("id") == cell_id)
    tree = ast.parse("".join(cell["source"]))
    definition = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {"Counter": Counter}
    exec(compile(ast.Module([definition], type_ignores=[]), str(NOTEBOOK), "exec"), namespace)
    return namespace[name]


@pytest.fixture(scope="module")
def naive_bpe():
    """The definition of BPE training, recounting every pair at every step: the chapter's ``train_bpe_naive``."""
    return notebook_function("c04-bpe-naive-code", "train_bpe_naive")


@pytest.fixture(scope="module")
def shakespeare_text() -> str:
    return data.load_shakespeare()


@pytest.fixture(scope="module")
def small_tokenizer(shakespeare_text) -> Tokenizer:
    """A 512-token BPE trained on the first 200,000 characters of Shakespeare, with two special tokens."""
    specials = [EOT, "<|pad|>"]
    vocab, merges = train_bpe_from_counts(count_pretokens(shakespeare_text[:200_000], specials), 512, specials)
    return Tokenizer(vocab, merges, specials)


def seeded_sample(texts: list[str], k: int = SAMPLE_SIZE, seed: int = 0) -> list[str]:
    return random.Random(seed).sample(texts, min(k, len(texts)))


@pytest.fixture(scope="module")
def corpora() -> dict[str, list[str]]:
    return {
        "movie": seeded_sample(data.load_reviews("movie").texts),
        "wikipedia": seeded_sample(data.load_wikipedia().texts),
    }


# ---------------------------------------------------------------------------------------- byte table


def test_bytes_to_unicode_matches_gpt2_table():
    from transformers.convert_slow_tokenizer import bytes_to_unicode as reference

    table = bytes_to_unicode()
    assert table == reference()
    assert len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"


# ---------------------------------------------------------------------------------------- merge routine, splitter


def test_merge_pair_left_to_right_without_overlap():
    assert merge_pair([7, 7, 7], (7, 7), 256) == [256, 7]
    assert merge_pair([7, 7, 7, 7], (7, 7), 256) == [256, 256]
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 300) == [300, 3, 300]
    assert merge_pair([b"l", b"o", b"w"], (b"o", b"w"), b"ow") == [b"l", b"ow"]
    assert merge_pair([], (1, 2), 3) == [] and merge_pair([1], (1, 2), 3) == [1]


def test_split_special_tokens_longest_first_and_no_empty_piece():
    assert split_special_tokens("x<a><b>y<a>", ["<a>", "<a><b>"]) == [
        ("x", False), ("<a><b>", True), ("y", False), ("<a>", True)]
    assert split_special_tokens("<a><a>", ["<a>"]) == [("<a>", True), ("<a>", True)]
    assert split_special_tokens("a|b", ["<|endoftext|>"]) == [("a|b", False)]  # "|" is escaped
    assert split_special_tokens("", ["<a>"]) == [] and split_special_tokens("text", None) == [("text", False)]


def test_the_teaching_copy_is_the_definition(naive_bpe):
    """The chapter's ``train_bpe_naive`` gives the golden merges of the toy corpus (recorded by hand below)."""
    counts = {b"low": 5, b"lower": 2, b"newest": 6, b"widest": 3}
    assert naive_bpe(counts, 6) == [(b"s", b"t"), (b"e", b"st"), (b"o", b"w"), (b"l", b"ow"), (b"w", b"est"), (b"n", b"e")]


# ---------------------------------------------------------------------------------------- training


def test_merge_counts_replays_greedy_training_and_flags_a_non_greedy_order(shakespeare_text):
    counts = count_pretokens(shakespeare_text[:50_000])
    _, merges = train_bpe_from_counts(counts, 256 + 60)
    steps = merge_counts(counts, merges)
    assert len(steps) == 60 and all(c == m > 0 for c, m in steps)  # every trained merge was a most frequent pair
    assert [c for c, _ in steps] == sorted((c for c, _ in steps), reverse=True)  # counts never grow
    swapped = merge_counts(counts, [merges[1], merges[0], *merges[2:]])
    assert swapped[0][0] < swapped[0][1]  # the second-best pair merged first is flagged
    toy = merge_counts({b"aaab": 2, b"ab": 1}, [(b"a", b"a"), (b"aa", b"a"), (b"a", b"b")])
    assert toy == [(4, 4), (2, 3), (1, 2)]  # aaab -> aa|a|b (left to right), then aaa|b; "ab" keeps (a, b)


def test_count_pretokens_gpt2_pattern_and_special_split():
    counts = count_pretokens(f"Hello world, they're here!{EOT}Hello  world", [EOT])
    assert counts == Counter(
        {b"Hello": 2, b" world": 2, b",": 1, b" they": 1, b"'re": 1, b" here": 1, b"!": 1, b" ": 1}
    )
    assert EOT.encode() not in counts


def test_train_bpe_golden_tiny():
    # counts: "low" x5, "lower" x2, "newest" x6, "widest" x3 (no spaces: one pre-token each)
    counts = {b"low": 5, b"lower": 2, b"newest": 6, b"widest": 3}
    vocab, merges = train_bpe_from_counts(counts, 256 + 6 + 1, [EOT])
    # (s,t) and (e,s) both occur 9 times: the greater pair of bytes, (b"s", b"t"), goes first.
    assert merges == [(b"s", b"t"), (b"e", b"st"), (b"o", b"w"), (b"l", b"ow"), (b"w", b"est"), (b"n", b"e")]
    assert vocab[256] == b"st" and vocab[261] == b"ne" and vocab[262] == EOT.encode()
    assert [vocab[i] for i in range(256)] == [bytes([i]) for i in range(256)]


def test_train_bpe_tie_break_greatest_pair():
    vocab, merges = train_bpe_from_counts({b"ab": 1, b"cd": 1, b"xy": 1}, 259)
    assert merges == [(b"x", b"y"), (b"c", b"d"), (b"a", b"b")]


def test_incremental_trainer_equals_naive_definition(shakespeare_text, naive_bpe):
    counts = count_pretokens(shakespeare_text[:60_000])
    _, merges = train_bpe_from_counts(counts, 256 + 150)
    assert merges == naive_bpe(counts, 150)
    # repeated letters are the tricky case for incremental pair counts (overlapping occurrences)
    counts = {b"aaaa": 3, b"abab": 2, b"aaa": 1, b"ba": 5, b"aaaaaaa": 2}
    assert train_bpe_from_counts(counts, 262)[1] == naive_bpe(counts, 6)


def test_train_bpe_deterministic_and_order_independent(tmp_path, shakespeare_text):
    path = tmp_path / "s.txt"
    path.write_text(shakespeare_text[:100_000], encoding="utf-8")
    first = train_bpe(path, 400, [EOT])
    assert train_bpe(path, 400, [EOT]) == first
    # the same pre-token counts listed in another order give the same merges
    counts = count_pretokens(shakespeare_text[:100_000], [EOT])
    reordered = dict(sorted(counts.items(), key=lambda kv: random.Random(kv[0]).random()))
    assert list(reordered) != list(counts)
    assert train_bpe_from_counts(reordered, 400, [EOT]) == first
    vocab, merges = first
    assert len(vocab) == 400 and len(merges) == 400 - 256 - 1 and vocab[399] == EOT.encode()


def test_train_bpe_agrees_with_huggingface_trainer_up_to_ties(shakespeare_text, tmp_path):
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    path = tmp_path / "s.txt"
    path.write_text(shakespeare_text[:200_000], encoding="utf-8")
    _, ours = train_bpe(path, 400, [EOT])
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=0, show_progress=False,
    )
    hf.train_from_iterator([path.read_text(encoding="utf-8")], trainer)  # one sequence, as train_bpe reads it
    theirs = Tokenizer.from_huggingface(hf).merges
    assert len(theirs) == len(ours)
    # the Rust trainer, like ours, merges a most frequent pair at every step (replayed on the same counts): the
    # two lists differ only in how they order pairs of equal count
    counts = count_pretokens(path.read_text(encoding="utf-8"), [EOT])
    assert all(count == most for count, most in merge_counts(counts, theirs))
    assert ours[:20] == theirs[:20]


# ---------------------------------------------------------------------------------------- encode / decode


def test_encode_known_ids(small_tokenizer):
    tok = small_tokenizer
    ids = tok.encode(f"the king{EOT} the")
    eot_id = tok.encode(EOT)
    assert eot_id == [510]
    assert ids == tok.encode("the king") + [510] + tok.encode(" the")
    assert tok.decode(ids) == f"the king{EOT} the"


def test_special_tokens_longest_first_and_never_merged():
    vocab = {i: bytes([i]) for i in range(256)}
    vocab[256] = b"<a>"
    vocab[257] = b"<a><b>"
    vocab[258] = b"x<"
    merges = [(b"x", b"<")]  # would glue "x" to the special token if specials were not split first
    tok = Tokenizer(vocab, merges, ["<a>", "<a><b>"], pattern=r"\S+|\s+")  # "x<" is inside one pre-token
    assert tok.encode("x<a><b>") == [ord("x"), 257]
    assert tok.encode("x<a>y") == [ord("x"), 256, ord("y")]
    assert tok.encode("x<ab") == [258, ord("a"), ord("b")]
    assert tok.encode("<a><a><b>") == [256, 257]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_arbitrary_unicode(small_tokenizer, text):
    assert small_tokenizer.decode(small_tokenizer.encode(text)) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["the", " king", "'re", "'", "r", "e", " ", "\n", "  ", "é", "🎭", EOT, "<|", "|>", "7"])))
def test_round_trip_with_special_tokens(small_tokenizer, parts):
    text = "".join(parts)
    ids = small_tokenizer.encode(text)
    assert small_tokenizer.decode(ids) == text
    assert ids.count(510) == text.count(EOT)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["the", " king", "'re", "'", "ll", "r", "e", " ", "\n", "  ", "\n\n", "é", EOT, "<|end", "oftext|>", "42"]), max_size=80),
    st.lists(st.integers(0, 40), max_size=12),
)
def test_encode_iterable_equals_encode_for_any_chunking(small_tokenizer, parts, cuts):
    text = "".join(parts)
    bounds = sorted({min(c * 3, len(text)) for c in cuts} | {0, len(text)})
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    assert list(small_tokenizer.encode_iterable(chunks)) == small_tokenizer.encode(text)


def test_encode_iterable_whitespace_runs_across_chunks(small_tokenizer):
    # "\n\n" before a word is two pre-tokens, but "\n\n" at the end of a string is one: a streaming encoder must
    # not re-encode a prefix that ends inside such a run.
    lines = ["A fistula, my lord, a very long line indeed.\n", "\n", "BERTRAM.\n", "I heard not of it before.\n"] * 20
    lines += ["   ", "  x", "\n\n\n", "\t", "end"]
    assert list(small_tokenizer.encode_iterable(lines)) == small_tokenizer.encode("".join(lines))


def test_encode_iterable_cut_after_whitespace_match():
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"\n\n"}
    tok = Tokenizer(vocab, [(b"\n", b"\n")])
    text = "a.\n\n" + "W" * 40 + " end"  # the first chunk ends 16+ characters after the blank line
    assert tok.encode(text)[2:4] == [10, 10]  # "\n\n" before a word: two pre-tokens
    chunks = [text[:44], text[44:]]
    assert list(tok.encode_iterable(chunks)) == tok.encode(text)


def test_encode_iterable_streams_a_file(small_tokenizer, shakespeare_text, tmp_path):
    path = tmp_path / "s.txt"
    path.write_text(shakespeare_text[:200_000], encoding="utf-8")
    with open(path, encoding="utf-8") as f:
        streamed = list(small_tokenizer.encode_iterable(f))
    assert streamed == small_tokenizer.encode(shakespeare_text[:200_000])


def test_bytes_per_token(small_tokenizer):
    assert bytes_per_token(["ab", "cdé"], lambda s: list(s)) == 6 / 5  # the same two integers divided: exact
    text = "the king and the queen"
    ids = small_tokenizer.encode(text)
    # independently: the mean length, in bytes, of the tokens that encode the text
    assert bytes_per_token([text], small_tokenizer.encode) == sum(len(small_tokenizer.vocab[i]) for i in ids) / len(ids)
    with pytest.raises(ValueError, match="no tokens"):
        bytes_per_token([""], small_tokenizer.encode)


# ---------------------------------------------------------------------------------------- files


def test_save_and_load_round_trip_id_for_id(small_tokenizer, shakespeare_text, tmp_path):
    paths = small_tokenizer.save(tmp_path / "bpe")
    assert [p.name for p in paths] == ["vocab.json", "merges.txt", "tokenizer_config.json"]
    vocab_json = json.loads(paths[0].read_text(encoding="utf-8"))
    assert vocab_json["Ġthe"] == small_tokenizer._id_of[b" the"] and vocab_json[EOT] == 510  # readable by a person
    loaded = Tokenizer.load(tmp_path / "bpe")
    assert loaded.vocab == small_tokenizer.vocab and loaded.merges == small_tokenizer.merges
    assert loaded.special_tokens == small_tokenizer.special_tokens and loaded.pattern == small_tokenizer.pattern
    text = shakespeare_text[200_000:260_000] + EOT + "naïve 🎭"
    assert loaded.encode(text) == small_tokenizer.encode(text)


def test_saved_files_read_by_huggingface(small_tokenizer, shakespeare_text, tmp_path):
    """vocab.json + merges.txt are GPT-2's format: Hugging Face tokenizers reads them and gives our ids."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers

    small_tokenizer.save(tmp_path)
    hf = HFTokenizer(models.BPE.from_file(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.add_special_tokens(small_tokenizer.special_tokens)
    text = shakespeare_text[300_000:340_000] + EOT + "café"
    assert hf.encode(text).ids == small_tokenizer.encode(text)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lacks \['vocab.json', 'merges.txt', 'tokenizer_config.json'\]"):
        Tokenizer.load(tmp_path)


# ---------------------------------------------------------------------------------------- errors


def test_error_unknown_special_token(small_tokenizer):
    with pytest.raises(ValueError, match=r"unknown special token '<\|sep\|>'.*not in the vocabulary"):
        Tokenizer(small_tokenizer.vocab, small_tokenizer.merges, [EOT, "<|sep|>"])
    with pytest.raises(TypeError, match="list of str"):
        Tokenizer(small_tokenizer.vocab, small_tokenizer.merges, EOT)


def test_error_invalid_utf8_on_decode(small_tokenizer):
    e_acute = small_tokenizer.encode("é")  # two bytes, 0xC3 0xA9; with this small vocabulary two tokens
    assert small_tokenizer.decode_bytes(e_acute) == "é".encode()
    half = [small_tokenizer._id_of[b"\xc3"]]
    assert small_tokenizer.decode(half) == "\ufffd"  # documented default: replacement character
    with pytest.raises(ValueError, match=r"invalid UTF-8: bytes b'\\xc3' at byte offset 0"):
        small_tokenizer.decode(half, errors="strict")
    with pytest.raises(ValueError, match=r"unknown token id 99999: the vocabulary has 512 tokens \(ids 0 to 511\)"):
        small_tokenizer.decode([99999])


def test_error_vocab_and_merges_do_not_fit(small_tokenizer):
    vocab = {i: bytes([i]) for i in range(256)}
    with pytest.raises(ValueError, match=r"do not fit together: merge #0 \(b'a', b'b'\) has its result b'ab' missing"):
        Tokenizer(vocab, [(b"a", b"b")])
    vocab[256] = b"ab"
    with pytest.raises(ValueError, match=r"merge #1 \(b'ab', b'cd'\) has its right part b'cd' missing"):
        Tokenizer(vocab, [(b"a", b"b"), (b"ab", b"cd")])
    # merges from one training run, vocabulary from another
    other_vocab, _ = train_bpe_from_counts({b"zzzz": 5, b"qqq": 3}, 260)
    with pytest.raises(ValueError, match="do not fit together"):
        Tokenizer(other_vocab, small_tokenizer.merges)


def test_error_bad_training_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"at least 256 .* \+ 1 special tokens = 257, got 100"):
        train_bpe_from_counts({b"ab": 1}, 100, [EOT])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_bpe(tmp_path / "missing.txt", 300)
    with pytest.raises(TypeError, match=r"text must be a str, got b'bytes' \(bytes\) \(decode the bytes first"):
        Tokenizer({i: bytes([i]) for i in range(256)}, []).encode(b"bytes")


# ---------------------------------------------------------------------------------------- SmolLM2 (BPE)


@pytest.fixture(scope="module")
def smollm2():
    return load_smollm2_tokenizer()


def test_smollm2_structure(smollm2):
    ours, reference = smollm2
    assert ours.vocab_size == len(reference) == 49152
    assert ours.pattern == GPT2_PATTERN
    assert ours.special_tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert len(ours.missing_bytes) == 21  # never seen in its training data; dropped as Hugging Face does


def test_smollm2_gguf_declares_smollm_but_reference_is_plain_byte_level(smollm2):
    import gguf

    folder, name = data.smollm2_gguf()
    field = gguf.GGUFReader(str(folder / name)).fields["tokenizer.ggml.pre"]
    assert bytes(field.parts[field.data[0]]).decode() == "smollm"
    _, reference = smollm2
    assert json.loads(reference.backend_tokenizer.to_str())["pre_tokenizer"]["type"] == "ByteLevel"


def smollm2_original(reference):
    """The reference with SmolLM2's own pre-tokenizer: each numeric character alone, then GPT-2's pattern."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import pre_tokenizers

    original = HFTokenizer.from_str(reference.backend_tokenizer.to_str())
    original.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    return original


NUMBER_CASES = ["In 1599, 3.14 and 1,000,000", "and  42", " ½", " ٣٤", "x  ½ ²", "3½", "  1\n 2", "\n\n12", "12  \n3",
                "'9s", "$5.00", "٣ ½ ² Ⅻ ①", "a1b2", "2025-12-01T10:00"]


def test_smollm2_pattern_equals_digits_then_byte_level(smollm2, corpora):
    ours, reference = smollm2
    original = smollm2_original(reference)
    rebuilt = Tokenizer.from_huggingface(original)
    assert rebuilt.pattern == SMOLLM2_PATTERN
    texts = NUMBER_CASES + corpora["movie"][:500] + corpora["wikipedia"][:500]
    expected = [e.ids for e in original.encode_batch(texts, add_special_tokens=False)]
    assert [rebuilt.encode(t) for t in texts] == expected


def test_smollm2_no_merge_joins_an_ascii_digit(smollm2):
    """So a run of ASCII digits after at most one space gives the same ids with either pre-tokenizer."""
    ours, reference = smollm2
    assert not [m for m in ours.merges if any(48 <= b <= 57 for b in m[0] + m[1])]
    original = smollm2_original(reference)
    for text in ["1599", " 1599", "x 20251201", "3.14159", "1,000,000"]:
        assert ours.encode(text) == original.encode(text, add_special_tokens=False).ids, text
    for text in ["and  42", " ½"]:  # where they differ: spaces before a digit, a space before "½" (bytes C2 BD)
        assert ours.encode(text) != original.encode(text, add_special_tokens=False).ids, text


def test_smollm2_edge_cases_equal_reference(smollm2):
    ours, reference = smollm2
    cases = [
        "Hello world <|endoftext|>x", "<|im_start|>user\nHi<|im_end|>", "they're  here\n\n\n  ok", "1234567 3.14",
        "naïve café — 東京 🎭", "\t tabs\r\nand CRLF", "   leading and trailing   ", "x\x04y", "",
    ]
    for text in cases:
        assert ours.encode(text) == reference(text, add_special_tokens=False)["input_ids"], text
        assert ours.decode(ours.encode(text)) == reference.decode(reference(text, add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------------------------------- WordPiece (MiniLM)


def test_wordpiece_word_greedy_longest_match():
    vocab = {"un", "##aff", "##able", "##a", "##ff", "a", "##b"}
    assert wordpiece_word("unaffable", vocab) == ["un", "##aff", "##able"]
    assert wordpiece_word("unaffablex", vocab) == ["[UNK]"]  # one unknown piece: the whole word is unknown
    assert wordpiece_word("ab", vocab) == ["a", "##b"]
    assert wordpiece_word("a" * 101, vocab | {"##" + "a"}) == ["[UNK]"]  # longer than 100 characters


def test_bert_normalize_and_pre_tokenize():
    assert bert_normalize("Héllo\tWÖRLD\x00 ΣΑΣ") == "hello world σασ"
    assert bert_normalize("中文") == " 中  文 "
    assert bert_normalize("A\u200db", lowercase=False) == "Ab"
    assert bert_pre_tokenize("don't stop, 3.5$!") == ["don", "'", "t", "stop", ",", "3", ".", "5", "$", "!"]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm_wordpiece()


def test_minilm_from_huggingface_same_vocab(minilm):
    ours, reference = minilm
    rebuilt = WordPieceTokenizer.from_huggingface(reference)
    assert rebuilt.vocab == ours.vocab and ours.vocab_size == 30522
    assert rebuilt.special_tokens == ours.special_tokens
    # vocab means id -> token, as in the BPE Tokenizer
    assert ours.vocab[reference.convert_tokens_to_ids("##izer")] == "##izer"


def test_unknown_id_same_error_in_both_tokenizers(minilm, small_tokenizer):
    wordpiece, _ = minilm
    with pytest.raises(UnknownTokenIdError, match=r"unknown token id 30522: the vocabulary has 30,522 tokens \(ids 0 to 30521\)"):
        wordpiece.decode([101, 30522])
    with pytest.raises(UnknownTokenIdError, match=r"unknown token id -1: the vocabulary has 512 tokens") as info:
        small_tokenizer.decode([-1])
    assert isinstance(info.value, ValueError) and (info.value.token_id, info.value.vocab_size) == (-1, 512)


def test_utils_tokenizer_gathers_the_tokenizer_modules():
    """Later chapters import the tokenizers from utils.tokenizer: the same objects as in the modules that define
    them, and every public name of those modules."""
    import utils.bpe
    import utils.bpe_training
    import utils.tokenizer
    import utils.tokenizer_common
    import utils.wordpiece

    homes = (utils.tokenizer_common, utils.bpe_training, utils.bpe, utils.wordpiece)
    assert sorted(utils.tokenizer.__all__) == sorted(name for home in homes for name in home.__all__)
    for name in utils.tokenizer.__all__:
        (home,) = [home for home in homes if name in home.__all__]
        assert getattr(utils.tokenizer, name) is getattr(home, name), name


@pytest.mark.parametrize("model", ["smollm2", "minilm"])
@pytest.mark.parametrize("corpus", ["movie", "wikipedia"])
def test_ids_equal_reference(request, corpora, model, corpus):
    """Our BPE (SmolLM2) and WordPiece (MiniLM) give the reference tokenizer's ids on a seeded corpus sample."""
    ours, reference = request.getfixturevalue(model)
    texts = corpora[corpus]
    expected = reference(texts, add_special_tokens=False)["input_ids"]
    mismatches = [i for i, text in enumerate(texts) if ours.encode(text) != expected[i]]
    assert mismatches == [], f"{len(mismatches)} of {len(texts)} {corpus} sentences differ, e.g. {texts[mismatches[0]]!r}"


def test_minilm_edge_cases_equal_reference(minilm):
    ours, reference = minilm
    cases = [
        "a\x0bb a\x85b a\x1cb x\u200dy", "ΣΑΣ. İstanbul", "ﬁne straße naïve café", "a\u3000b \ufffdx x\xadz",
        "100$ + 5%", "😀 emoji", "中文字 ﾃｽﾄ", "Héllo [MASK] wörld x[SEP]y", "unaffable" * 12,
    ]
    for text in cases:
        assert ours.encode(text) == reference(text, add_special_tokens=False)["input_ids"], text


def test_wordpiece_errors(minilm):
    ours, _ = minilm
    with pytest.raises(ValueError, match="unknown special token '<s>'"):
        WordPieceTokenizer(ours.vocab, special_tokens=["<s>"])
    with pytest.raises(ValueError, match="unk_token '<unk>' is not in the vocabulary"):
        WordPieceTokenizer(ours.vocab, unk_token="<unk>")
    with pytest.raises(TypeError, match=r"text must be a str, got None \(NoneType\)"):
        ours.encode(None)


# ---------------------------------------------------------------------------------------- chapter-4 plots


def test_plot_helpers_chapter4():
    import matplotlib

    matplotlib.use("Agg")
    from utils.plotting import new_figure, plot_compression_curve, plot_rank_frequency

    fig, (ax1, ax2) = new_figure(ncols=2)
    line = plot_rank_frequency(ax1, Counter("the cat and the hat and the bat".split()))
    assert list(line.get_ydata()) == [3, 2, 1, 1, 1] and ax1.get_xscale() == "log"
    lines = plot_compression_curve(ax2, [256, 512, 1024], {"a": [1.0, 2.0, 3.0], "b": [1.0, 1.5, 2.0]})
    assert len(lines) == 2 and list(lines[1].get_ydata()) == [1.0, 1.5, 2.0]
    with pytest.raises(ValueError, match=r"must have 3 values .* got shape \(2,\)"):
        plot_compression_curve(ax2, [256, 512, 1024], {"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="non-empty"):
        plot_rank_frequency(ax1, {})
    matplotlib.pyplot.close(fig)
