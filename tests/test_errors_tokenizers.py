"""Bad input to chapter 4's modules (tokenizer_common, bpe_training, bpe, wordpiece, tokenizer, the exercise
checkers): a clear error, raised in utils."""

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import utils.bpe as bpe
import utils.bpe_training as training
import utils.exercises as exercises
import utils.exercises.tokenization as exercises_tokenization
import utils.tokenizer as tokenizer_module
import utils.tokenizer_common as common
import utils.wordpiece as wordpiece
from bad_inputs import BadInput, assert_clear_error, case_id

EOT = "<|endoftext|>"
TOY_TEXT = "low low low low low lower lower newest newest newest newest newest newest widest widest widest"
TOY_COUNTS = common.count_pretokens(TOY_TEXT)
TOY_VOCAB, TOY_MERGES = training.train_bpe_from_counts(TOY_COUNTS, 256 + 8 + 1, [EOT])
BPE = bpe.Tokenizer(TOY_VOCAB, TOY_MERGES, [EOT])
WORDPIECE_TOKENS = ["[UNK]", "[CLS]", "un", "##aff", "##able", "play", "##ing", "##s"]
WORDPIECE = wordpiece.WordPieceTokenizer(dict(enumerate(WORDPIECE_TOKENS)), special_tokens=["[CLS]"])
TEXT_FILE = Path(__file__)  # a UTF-8 text file that is always there


def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="course-tokenizer-"))


def _latin1_file() -> Path:
    path = _folder() / "latin1.txt"
    path.write_bytes("naïve café".encode("latin-1"))
    return path


def _saved_with_truncated_vocab() -> Path:
    folder = _folder()
    vocab_json = BPE.save(folder)[0]
    vocab_json.write_bytes(vocab_json.read_bytes()[:100])  # a copy cut short
    return folder


def _encode_binary_file():
    with open(TEXT_FILE, "rb") as f:
        return list(BPE.encode_iterable(f))


def _hf_wordpiece():
    from tokenizers import Tokenizer, models

    return Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))


def _hf_bpe():
    from tokenizers import Tokenizer, models

    return Tokenizer(models.BPE())


def _returns_nothing(*_args):
    len(_args)  # a body that computes and forgets to return


CASES = [
    # utils.tokenizer_common: splitting, merging, counting ---------------------------------------------
    BadInput("utils.tokenizer_common.split_special_tokens", "bytes instead of text",
             lambda: common.split_special_tokens(b"a<|endoftext|>b", [EOT]), TypeError, "text"),
    BadInput("utils.tokenizer_common.split_special_tokens", "one special token as a str",
             lambda: common.split_special_tokens("a", EOT), TypeError, "special_tokens"),
    BadInput("utils.tokenizer_common.split_special_tokens", "an empty special token",
             lambda: common.split_special_tokens("a", [""]), ValueError, "special_tokens"),
    BadInput("utils.tokenizer_common.split_special_tokens", "a special token twice",
             lambda: common.split_special_tokens("a", [EOT, EOT]), ValueError, "special_tokens"),
    BadInput("utils.tokenizer_common.split_special_tokens", "special tokens as bytes",
             lambda: common.split_special_tokens("a", [b"<s>"]), TypeError, "special_tokens"),
    BadInput("utils.tokenizer_common.merge_pair", "the pair as one bytes string",
             lambda: common.merge_pair([b"a", b"b"], b"ab", b"ab"), TypeError, "pair"),
    BadInput("utils.tokenizer_common.merge_pair", "three symbols in the pair",
             lambda: common.merge_pair([1, 2, 3], (1, 2, 3), 9), TypeError, "pair"),
    BadInput("utils.tokenizer_common.merge_pair", "ids with a pair of bytes",
             lambda: common.merge_pair([97, 98], (b"a", b"b"), b"ab"), ValueError, "pair"),
    BadInput("utils.tokenizer_common.merge_pair", "a set of symbols",
             lambda: common.merge_pair({1, 2}, (1, 2), 3), TypeError, "symbols"),
    BadInput("utils.tokenizer_common.count_pretokens", "a list of texts",
             lambda: common.count_pretokens(["to be", "or not"]), TypeError, "join"),
    BadInput("utils.tokenizer_common.count_pretokens", "the pattern in the place of the special tokens",
             lambda: common.count_pretokens("to be", common.GPT2_PATTERN), TypeError, "special_tokens"),
    BadInput("utils.tokenizer_common.count_pretokens", "a pattern that does not compile",
             lambda: common.count_pretokens("to be", pattern="(?P<x"), ValueError, "pattern"),
    BadInput("utils.tokenizer_common.count_pretokens", "a compiled pattern", lambda: common.count_pretokens(
        "to be", pattern=common.regex.compile(common.GPT2_PATTERN)), TypeError, "pattern"),
    # utils.bpe_training: training -------------------------------------------------------------------
    BadInput("utils.bpe_training.train_bpe_from_counts", "the text instead of its counts",
             lambda: training.train_bpe_from_counts(TOY_TEXT, 300), TypeError, "count_pretokens"),
    BadInput("utils.bpe_training.train_bpe_from_counts", "counts of str words",
             lambda: training.train_bpe_from_counts(Counter(TOY_TEXT.split()), 300), TypeError, "word_counts"),
    BadInput("utils.bpe_training.train_bpe_from_counts", "a negative count",
             lambda: training.train_bpe_from_counts({b"ab": -1}, 300), ValueError, "word_counts"),
    BadInput("utils.bpe_training.train_bpe_from_counts", "vocab_size written as 1e3",
             lambda: training.train_bpe_from_counts(TOY_COUNTS, 1e3), TypeError, "vocab_size"),
    BadInput("utils.bpe_training.train_bpe_from_counts", "vocab_size below 256",
             lambda: training.train_bpe_from_counts(TOY_COUNTS, 100), ValueError, "vocab_size"),
    BadInput("utils.bpe_training.train_bpe_from_counts", "vocab_size and special tokens swapped",
             lambda: training.train_bpe_from_counts(TOY_COUNTS, [EOT], 300), TypeError, "vocab_size"),
    BadInput("utils.bpe_training.train_bpe", "the text instead of its path",
             lambda: training.train_bpe("To be, or not to be:\nthat is the question", 300), ValueError,
             "count_pretokens"),
    BadInput("utils.bpe_training.train_bpe", "a file that does not exist",
             lambda: training.train_bpe("/no/such/shakespeare.txt", 300), FileNotFoundError, "path"),
    BadInput("utils.bpe_training.train_bpe", "a folder", lambda: training.train_bpe(TEXT_FILE.parent, 300),
             IsADirectoryError, "path"),
    BadInput("utils.bpe_training.train_bpe", "a file that is not UTF-8",
             lambda: training.train_bpe(_latin1_file(), 300), ValueError, "UTF-8"),
    BadInput("utils.bpe_training.train_bpe", "vocab_size as text", lambda: training.train_bpe(TEXT_FILE, "1000"),
             TypeError, "vocab_size"),
    BadInput("utils.bpe_training.train_bpe", "a number as the path", lambda: training.train_bpe(3, 300), TypeError,
             "path"),
    BadInput("utils.bpe_training.merge_counts", "counts and merges swapped",
             lambda: training.merge_counts(TOY_MERGES, TOY_COUNTS), TypeError, "word_counts"),
    BadInput("utils.bpe_training.merge_counts", "the vocabulary instead of the merges",
             lambda: training.merge_counts(TOY_COUNTS, TOY_VOCAB), TypeError, "swapped"),
    BadInput("utils.bpe_training.merge_counts", "merges written as str",
             lambda: training.merge_counts(TOY_COUNTS, [("s", "t")]), TypeError, "merges"),
    # utils.bpe.Tokenizer --------------------------------------------------------------------------------
    BadInput("utils.bpe.Tokenizer", "vocab and merges swapped", lambda: bpe.Tokenizer(TOY_MERGES, TOY_VOCAB),
             TypeError, "vocab"),
    BadInput("utils.bpe.Tokenizer", "a token -> id vocab, as in vocab.json",
             lambda: bpe.Tokenizer({"Ġthe": 0}, []), TypeError, "Tokenizer.load"),
    BadInput("utils.bpe.Tokenizer", "tokens as str", lambda: bpe.Tokenizer({0: "a"}, []), TypeError, "vocab"),
    BadInput("utils.bpe.Tokenizer", "a special token the vocabulary lacks",
             lambda: bpe.Tokenizer(TOY_VOCAB, TOY_MERGES, [EOT, "<|pad|>"]), ValueError, "special token"),
    BadInput("utils.bpe.Tokenizer", "merges of another vocabulary",
             lambda: bpe.Tokenizer({i: bytes([i]) for i in range(256)}, TOY_MERGES), ValueError,
             "vocabulary and merges"),
    BadInput("utils.bpe.Tokenizer", "a pattern that does not compile",
             lambda: bpe.Tokenizer(TOY_VOCAB, TOY_MERGES, pattern="[a-"), ValueError, "pattern"),
    BadInput("utils.bpe.Tokenizer", "encode given bytes", lambda: BPE.encode(b"low"), TypeError, "text"),
    BadInput("utils.bpe.Tokenizer", "encode given a list of texts", lambda: BPE.encode(["low", "lower"]), TypeError,
             "text"),
    BadInput("utils.bpe.Tokenizer", "decode given a float id (once silently rounded)",
             lambda: BPE.decode([108, 111.7]), TypeError, "ids[1]"),
    BadInput("utils.bpe.Tokenizer", "decode given a batch",
             lambda: BPE.decode(torch.zeros(2, 3, dtype=torch.int64)), ValueError, "ids"),
    BadInput("utils.bpe.Tokenizer", "decode given float ids", lambda: BPE.decode(torch.tensor([108.0])), TypeError,
             "ids"),
    BadInput("utils.bpe.Tokenizer", "decode given float ids in an array", lambda: BPE.decode(np.array([108.0])),
             TypeError, "ids"),
    BadInput("utils.bpe.Tokenizer", "decode given text", lambda: BPE.decode("low"), TypeError, "ids"),
    BadInput("utils.bpe.Tokenizer", "decode an id past the vocabulary", lambda: BPE.decode([BPE.vocab_size]),
             common.UnknownTokenIdError, "unknown token id"),
    BadInput("utils.bpe.Tokenizer", "decode with an error handler bytes.decode lacks",
             lambda: BPE.decode([108], errors="skip"), ValueError, "errors"),
    BadInput("utils.bpe.Tokenizer", "decode_bytes given one id", lambda: BPE.decode_bytes(108), TypeError, "ids"),
    BadInput("utils.bpe.Tokenizer", "encode_iterable given a path", lambda: BPE.encode_iterable(TEXT_FILE),
             TypeError, "iterable"),
    BadInput("utils.bpe.Tokenizer", "encode_iterable of a file opened in binary mode", _encode_binary_file,
             TypeError, "iterable"),
    BadInput("utils.bpe.Tokenizer", "encode_iterable of bytes chunks",
             lambda: list(BPE.encode_iterable([b"low"])), TypeError, "iterable"),
    BadInput("utils.bpe.Tokenizer", "save into a file", lambda: BPE.save(TEXT_FILE), NotADirectoryError, "folder"),
    BadInput("utils.bpe.Tokenizer", "load a folder without the files", lambda: bpe.Tokenizer.load(_folder()),
             FileNotFoundError, "lacks"),
    BadInput("utils.bpe.Tokenizer", "load a vocab.json cut short",
             lambda: bpe.Tokenizer.load(_saved_with_truncated_vocab()), ValueError, "vocab.json"),
    BadInput("utils.bpe.Tokenizer", "load given vocab.json instead of its folder",
             lambda: bpe.Tokenizer.load(BPE.save(_folder())[0]), NotADirectoryError, "folder"),
    BadInput("utils.bpe.Tokenizer", "from_huggingface given a folder",
             lambda: bpe.Tokenizer.from_huggingface(str(TEXT_FILE.parent)), TypeError, "tokenizer"),
    BadInput("utils.bpe.Tokenizer", "from_huggingface given a WordPiece tokenizer",
             lambda: bpe.Tokenizer.from_huggingface(_hf_wordpiece()), ValueError, "WordPieceTokenizer.from_huggingface"),
    BadInput("utils.bpe.bytes_per_token", "one text as a str (once read character by character)",
             lambda: bpe.bytes_per_token("low lower", BPE.encode), TypeError, "texts"),
    BadInput("utils.bpe.bytes_per_token", "the tokenizer instead of its encode",
             lambda: bpe.bytes_per_token(["low"], BPE), TypeError, "encode"),
    BadInput("utils.bpe.bytes_per_token", "arguments swapped", lambda: bpe.bytes_per_token(BPE.encode, ["low"]),
             TypeError, "swapped"),
    BadInput("utils.bpe.bytes_per_token", "encode called instead of passed",
             lambda: bpe.bytes_per_token(["low"], BPE.encode("low")), TypeError, "encode"),
    BadInput("utils.bpe.bytes_per_token", "ids instead of texts", lambda: bpe.bytes_per_token([[1, 2]], BPE.encode),
             TypeError, "texts"),
    BadInput("utils.bpe.bytes_per_token", "only empty texts", lambda: bpe.bytes_per_token([""], BPE.encode),
             ValueError, "texts"),
    BadInput("utils.bpe.bytes_per_token", "an encode that returns a count",
             lambda: bpe.bytes_per_token(["low"], lambda t: len(BPE.encode(t))), TypeError, "encode"),
    # utils.wordpiece ------------------------------------------------------------------------------------
    BadInput("utils.wordpiece.bert_normalize", "a list of texts", lambda: wordpiece.bert_normalize(["A", "B"]),
             TypeError, "text"),
    BadInput("utils.wordpiece.bert_normalize", "lowercase as text", lambda: wordpiece.bert_normalize("A", "yes"),
             TypeError, "lowercase"),
    BadInput("utils.wordpiece.bert_normalize", "strip_accents as 0", lambda: wordpiece.bert_normalize("é", True, 0),
             TypeError, "strip_accents"),
    BadInput("utils.wordpiece.bert_pre_tokenize", "bytes", lambda: wordpiece.bert_pre_tokenize(b"a, b"), TypeError,
             "text"),
    BadInput("utils.wordpiece.bert_pre_tokenize", "None", lambda: wordpiece.bert_pre_tokenize(None), TypeError,
             "text"),
    BadInput("utils.wordpiece.wordpiece_word", "the id -> token vocab (once every word [UNK])",
             lambda: wordpiece.wordpiece_word("playing", WORDPIECE.vocab), TypeError, "tokens"),
    BadInput("utils.wordpiece.wordpiece_word", "a sentence instead of a word",
             lambda: wordpiece.wordpiece_word("un aff", set(WORDPIECE_TOKENS)), ValueError, "bert_pre_tokenize"),
    BadInput("utils.wordpiece.wordpiece_word", "the vocabulary as one str (once any substring matched)",
             lambda: wordpiece.wordpiece_word("un", "unaff"), TypeError, "tokens"),
    BadInput("utils.wordpiece.wordpiece_word", "no character allowed per word",
             lambda: wordpiece.wordpiece_word("un", set(WORDPIECE_TOKENS), max_input_chars_per_word=0), ValueError,
             "max_input_chars_per_word"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "a list of tokens",
             lambda: wordpiece.WordPieceTokenizer(WORDPIECE_TOKENS), TypeError, "enumerate"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "a token -> id vocab, as get_vocab() gives",
             lambda: wordpiece.WordPieceTokenizer({"[UNK]": 0, "un": 1}), TypeError, "vocab"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "an unk_token the vocabulary lacks",
             lambda: wordpiece.WordPieceTokenizer(WORDPIECE.vocab, unk_token="<unk>"), ValueError, "unk_token"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "an empty prefix (once decode lost every space)",
             lambda: wordpiece.WordPieceTokenizer(WORDPIECE.vocab, prefix=""), ValueError, "prefix"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "lowercase as text",
             lambda: wordpiece.WordPieceTokenizer(WORDPIECE.vocab, lowercase="uncased"), TypeError, "lowercase"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "a special token the vocabulary lacks",
             lambda: wordpiece.WordPieceTokenizer(WORDPIECE.vocab, special_tokens=["[SEP]"]), ValueError,
             "special token"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "tokenize given None", lambda: WORDPIECE.tokenize(None),
             TypeError, "text"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "encode given bytes", lambda: WORDPIECE.encode(b"playing"),
             TypeError, "text"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "decode an unknown id (once a bare KeyError)",
             lambda: WORDPIECE.decode([5, 99]), common.UnknownTokenIdError, "unknown token id 99"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "decode given a batch",
             lambda: WORDPIECE.decode(np.zeros((2, 2), dtype=np.int64)), ValueError, "ids"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "from_vocab_file given the model's folder",
             lambda: wordpiece.WordPieceTokenizer.from_vocab_file(TEXT_FILE.parent), IsADirectoryError, "vocab.txt"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "from_vocab_file of a missing file",
             lambda: wordpiece.WordPieceTokenizer.from_vocab_file("/no/such/vocab.txt"), FileNotFoundError, "path"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "from_huggingface given a BPE tokenizer",
             lambda: wordpiece.WordPieceTokenizer.from_huggingface(_hf_bpe()), ValueError, "Tokenizer.from_huggingface"),
    BadInput("utils.wordpiece.WordPieceTokenizer", "from_huggingface given a model name",
             lambda: wordpiece.WordPieceTokenizer.from_huggingface("all-MiniLM-L6-v2"), TypeError, "tokenizer"),
    # utils.exercises.tokenization ---------------------------------------------------------------------
    BadInput("utils.exercises.tokenization.check_encode_pretoken", "None instead of the function",
             lambda: exercises_tokenization.check_encode_pretoken(None), exercises.ExerciseError, "encode_pretoken"),
    BadInput("utils.exercises.tokenization.check_encode_pretoken", "the function called instead of passed",
             lambda: exercises_tokenization.check_encode_pretoken([b"low"]), exercises.ExerciseError,
             "without calling it"),
    BadInput("utils.exercises.tokenization.check_encode_pretoken", "one parameter instead of two",
             lambda: exercises_tokenization.check_encode_pretoken(lambda word: [word]), exercises.ExerciseError,
             "must take 2 arguments"),
    BadInput("utils.exercises.tokenization.check_encode_pretoken", "a function that returns nothing",
             lambda: exercises_tokenization.check_encode_pretoken(_returns_nothing), exercises.ExerciseError,
             "return"),
    BadInput("utils.exercises.tokenization.check_split_special", "None instead of the function",
             lambda: exercises_tokenization.check_split_special(None), exercises.ExerciseError, "split_special"),
    BadInput("utils.exercises.tokenization.check_split_special", "a function that returns nothing",
             lambda: exercises_tokenization.check_split_special(_returns_nothing), exercises.ExerciseError, "return"),
    BadInput("utils.exercises.tokenization.check_bytes_per_token", "None instead of the function",
             lambda: exercises_tokenization.check_bytes_per_token(None), exercises.ExerciseError, "bytes_per_token"),
    BadInput("utils.exercises.tokenization.check_bytes_per_token", "a function that returns nothing",
             lambda: exercises_tokenization.check_bytes_per_token(_returns_nothing), exercises.ExerciseError,
             "returned None"),
    BadInput("utils.exercises.tokenization.check_bytes_per_token", "the two totals instead of their ratio",
             lambda: exercises_tokenization.check_bytes_per_token(lambda texts, encode: (59, 12)),
             exercises.ExerciseError, "single number"),
    BadInput("utils.exercises.tokenization.check_wordpiece_word", "None instead of the function",
             lambda: exercises_tokenization.check_wordpiece_word(None), exercises.ExerciseError, "wordpiece_word"),
    BadInput("utils.exercises.tokenization.check_wordpiece_word", "a function that returns nothing",
             lambda: exercises_tokenization.check_wordpiece_word(_returns_nothing), exercises.ExerciseError, "return"),
]

NO_BAD_INPUT = {
    "utils.tokenizer_common.UnknownTokenIdError": "an exception type (raised by both decode methods; cases above)",
    "utils.tokenizer_common.bytes_to_unicode": "no arguments",
    "utils.data.load_smollm2_tokenizer": "no arguments; a damaged cache is repaired by fetch (test_registry.py)",
    "utils.data.load_minilm_wordpiece": "no arguments; as load_smollm2_tokenizer",
}

# Inputs that get an answer rather than an error, on purpose (each checked in test_documented_answers).
DOCUMENTED = {
    "utils.bpe.Tokenizer": "a byte that is not in the vocabulary is dropped by encode, as Hugging Face's byte-level "
    "BPE without an unknown token drops it (SmolLM2 lacks 21 bytes that never occur in its data); kept, since our "
    "ids must equal the reference's, and listed in missing_bytes. A pre-tokenizer pattern that does not match "
    "every character drops the rest, as regex.findall does; GPT2_PATTERN and SMOLLM2_PATTERN match every one",
    "utils.wordpiece.WordPieceTokenizer": "decode gives the normalized text (lower case, accents stripped, words "
    "joined by single spaces), not the original, as BERT's decode does; its docstring says so",
    "utils.wordpiece.wordpiece_word": "a word longer than max_input_chars_per_word, or with a position no token "
    "matches, becomes [unk_token] as a whole: BERT's rule, and the reference's ids",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_the_tokenizer_loaders_live_with_the_model_loaders():
    import utils.data

    for name, old_home in (("load_smollm2_tokenizer", bpe), ("load_minilm_wordpiece", wordpiece)):
        assert getattr(utils.data, name).__module__ == "utils.data" and name in utils.data.__all__
        assert name not in vars(old_home) and name not in old_home.__all__ and not hasattr(tokenizer_module, name)
        assert not hasattr(old_home, name)  # one way to load each model's tokenizer


def test_documented_answers():
    no_x = bpe.Tokenizer({i: bytes([i]) for i in range(256) if i != ord("x")}, [])
    assert no_x.missing_bytes == b"x" and no_x.decode(no_x.encode("axb")) == "ab"
    words_only = bpe.Tokenizer(TOY_VOCAB, TOY_MERGES, pattern=r"\w+")
    assert words_only.decode(words_only.encode("low, low")) == "lowlow"
    probe = "Ünïcode 3½ x²\t\n  — 東京 🎭 it's\r\n"
    assert all(bpe.Tokenizer(TOY_VOCAB, TOY_MERGES, pattern=p).decode(
        bpe.Tokenizer(TOY_VOCAB, TOY_MERGES, pattern=p).encode(probe)) == probe
        for p in (common.GPT2_PATTERN, common.SMOLLM2_PATTERN))
    assert WORDPIECE.decode(WORDPIECE.encode("Unaffable PLAYS")) == "unaffable plays"
    assert wordpiece.wordpiece_word("playing", set(WORDPIECE_TOKENS), max_input_chars_per_word=3) == ["[UNK]"]
    assert wordpiece.wordpiece_word("unx", set(WORDPIECE_TOKENS)) == ["[UNK]"]


def test_good_input_of_the_notebook_kinds_is_accepted(tmp_path):
    ids = BPE.encode("lowest newest" + EOT)
    text = BPE.decode(ids)
    # ids as a list, a tuple, a numpy array, a 1-D int tensor, numpy ints, a generator: the same text
    for kind in (tuple(ids), np.array(ids), torch.tensor(ids), [np.int64(i) for i in ids], (i for i in ids)):
        assert BPE.decode(kind) == text
    assert BPE.decode(torch.tensor(ids, dtype=torch.int32)) == text and BPE.decode([]) == ""
    # counts with numpy ints, special tokens as a tuple or a generator, paths as str or Path
    counts = {word: np.int64(n) for word, n in TOY_COUNTS.items()}
    assert training.train_bpe_from_counts(counts, 265, (EOT,)) == (TOY_VOCAB, TOY_MERGES)
    assert common.split_special_tokens("a" + EOT, (t for t in [EOT])) == [("a", False), (EOT, True)]
    path = tmp_path / "toy.txt"
    path.write_text(TOY_TEXT, encoding="utf-8")
    assert training.train_bpe(str(path), 265, [EOT]) == training.train_bpe(path, 265, [EOT]) == (TOY_VOCAB, TOY_MERGES)
    assert bpe.Tokenizer(TOY_VOCAB, iter(TOY_MERGES), [EOT]).merges == BPE.merges  # merges from a generator
    # a stream: an open text file, a list of chunks, and a str (read character by character) give encode's ids
    with open(path, encoding="utf-8") as f:
        assert list(BPE.encode_iterable(f)) == BPE.encode(TOY_TEXT)
    assert list(BPE.encode_iterable(TOY_TEXT)) == list(BPE.encode_iterable([TOY_TEXT[:7], TOY_TEXT[7:]]))
    assert common.merge_pair([1, 1, 1], (1, 1), 2) == [2, 1]
    assert common.merge_pair("aab", ["a", "b"], "ab") == ["a", "ab"]
    assert common.merge_pair((np.int64(7), np.int64(8)), (7, 8), 9) == [9] and common.merge_pair([], (1, 2), 3) == []
    # wordpiece_word's tokens as a set, a dict token -> id, a list; folders and files of the right kinds
    for tokens in (set(WORDPIECE_TOKENS), {t: i for i, t in enumerate(WORDPIECE_TOKENS)}, WORDPIECE_TOKENS):
        assert wordpiece.wordpiece_word("unaffable", tokens) == ["un", "##aff", "##able"]
    assert wordpiece.wordpiece_word("", set()) == []
    vocab_txt = tmp_path / "vocab.txt"
    vocab_txt.write_text("\n".join(WORDPIECE_TOKENS) + "\n", encoding="utf-8")
    assert wordpiece.WordPieceTokenizer.from_vocab_file(str(vocab_txt)).vocab == WORDPIECE.vocab
    assert bpe.Tokenizer.load(BPE.save(tmp_path / "saved")[0].parent).vocab == BPE.vocab
    assert exercises.run_exercise(exercises_tokenization.check_wordpiece_word, None) is False
