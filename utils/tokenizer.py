"""The tokenizers of chapter 4, importable from one place: byte-level BPE (``utils.bpe_training`` learns it,
``utils.bpe`` encodes with it, on the pieces of ``utils.tokenizer_common``) and WordPiece (``utils.wordpiece``).

Both follow the same conventions: ``vocab`` is id -> token and ``vocab_size`` its length; special tokens are cut
out of the raw text by ``split_special_tokens`` (longest first); ``decode`` raises ``UnknownTokenIdError`` (a
``ValueError`` that names the id and the vocabulary size) for an id outside the vocabulary. A trained BPE
``Tokenizer`` saves to ``vocab.json`` + ``merges.txt`` + ``tokenizer_config.json`` and loads back id for id. The
tokenizers of the real models (SmolLM2's BPE, MiniLM's WordPiece) are loaded with the other model loaders, by
``utils.data.load_smollm2_tokenizer`` and ``utils.data.load_minilm_wordpiece``.
"""

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

__all__ = [
    "GPT2_PATTERN",
    "SMOLLM2_PATTERN",
    "UnknownTokenIdError",
    "bytes_to_unicode",
    "split_special_tokens",
    "merge_pair",
    "count_pretokens",
    "train_bpe",
    "train_bpe_from_counts",
    "merge_counts",
    "Tokenizer",
    "bytes_per_token",
    "bert_normalize",
    "bert_pre_tokenize",
    "wordpiece_word",
    "WordPieceTokenizer",
]
