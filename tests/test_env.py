import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import utils.env as env


def test_importing_env_turns_the_hub_off():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False), ("no", False)])
def test_quick_mode_reads_course_quick(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_QUICK", value)
    assert env.quick_mode() is expected


def test_get_device_prefers_what_is_available(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert env.get_device().type == expected
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert env.get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_says_what_is_available():
    with pytest.raises(RuntimeError, match=r"'cuda' was asked for .* available: cpu"):
        env.get_device("cuda")


def test_unknown_device_name_is_refused():
    with pytest.raises(ValueError, match="expected one of cuda, mps, cpu"):
        env.get_device("tpu")


def test_seed_everything_makes_runs_repeat():
    draws = []
    for _ in range(2):
        env.seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        env.seed_everything(-1)


def test_cache_dir_follows_course_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    assert env.cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()


def test_environment_report_names_mode_device_versions_and_time(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_QUICK", "1")
    report = env.environment_report(env.start_timer())
    assert "mode        : quick" in report and "torch" in report and "wall time" in report
    assert "device      : " in capsys.readouterr().out
    assert env.package_versions()["torch"] == torch.__version__
    assert env.device_description(torch.device("cpu")).startswith("cpu (")


def test_require_memory_explains_what_to_change():
    with pytest.raises(MemoryError, match="quick mode"):
        env.require_memory(2**60, torch.device("cpu"), what="a test")
    env.require_memory(1, torch.device("cpu"))  # a byte always fits


def test_cpu_model_names_the_processor_and_appears_in_the_cpu_description():
    model = env.cpu_model()
    assert model and model in env.device_description(torch.device("cpu"))
    assert "threads" in env.device_description("cpu") and "threads" not in env.device_description("cpu", threads=False)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.lower().startswith("model name")]
        if names:
            assert model == names[0]


def test_a_cache_folder_that_is_a_file_is_explained(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache.txt"
    not_a_folder.write_text("")
    monkeypatch.setenv("COURSE_CACHE", str(not_a_folder))
    with pytest.raises(NotADirectoryError, match=r"cache.txt \(\$COURSE_CACHE\) is a file, not a folder"):
        env.cache_dir()


def test_package_file_finds_the_shipped_data():
    assert env.package_file("splits", "sms.json").is_file() and env.package_file("milestones.csv").is_file()
