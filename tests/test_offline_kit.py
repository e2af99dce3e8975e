"""The offline kit: its pieces, and an install from a kit into a fresh venv with ``pip install --no-index`` that
runs chapter 0 in quick mode with the package registry unreachable.

The end-to-end test builds a small kit (Python 3.11, the packages a chapter runs with, the cache hard-linked) from
the package indexes this machine's pip uses, in about a minute; ``make offline-kit`` builds the full one (both
Python versions, every package of requirements.txt). It runs where ``COURSE_OFFLINE_KIT_CHECK=1`` is set (the
offline-kit stage of ``make test``), so that ``pytest tests/`` stays fast.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_offline_kit", ROOT / "scripts" / "make_offline_kit.py")
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)

END_TO_END = pytest.mark.skipif(os.environ.get("COURSE_OFFLINE_KIT_CHECK") != "1",
                                reason="the offline-kit stage of make test runs it (COURSE_OFFLINE_KIT_CHECK=1)")
UNREACHABLE = "http://127.0.0.1:9/simple"  # a closed port: any attempt to reach a registry fails at once


def test_wheel_names_are_read_and_pins_serve_the_python_asked_for(tmp_path):
    names = ["torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl",
             "regex-2026.11.19-cp312-cp312-manylinux_2_28_x86_64.whl", "tqdm-4.70.1-py3-none-any.whl",
             "nvidia_cublas_cu12-12.8.4.1-py3-none-manylinux_2_27_x86_64.whl", "onnx-1.23.2-cp312-abi3-manylinux_2_28_x86_64.whl"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert kit.parse_wheel(names[0]) == {"name": "torch", "version": "2.13.0+cpu", "python": "cp311", "abi": "cp311",
                                         "platform": "manylinux_2_28_x86_64"}
    assert kit._pins(tmp_path, "3.11") == ["numpy==2.4.6", "onnx==1.23.2", "tqdm==4.70.1"]  # no torch, no CUDA
    assert kit.torch_wheels(tmp_path) == {"cp311": names[0]}
    with pytest.raises(ValueError, match="not a wheel file name"):
        kit.parse_wheel("numpy-2.4.6.tar.gz")


def test_the_readme_says_what_the_kit_holds_and_how_to_install_offline():
    text = kit.readme_text({"3.11": "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", "3.12": "none: ..."},
                           {"wheelhouse": 2_000_000_000, "cache": 950_000_000, "course": 3_000_000}, "abc1234")
    assert "| `wheelhouse/` | 2000 MB |" in text and "| `cache/` | 950 MB |" in text
    assert "pip install --no-index --find-links ../wheelhouse -r requirements.txt" in text
    assert "export COURSE_CACHE=" in text and "- Python 3.12: none: ..." in text
    assert "download.pytorch.org/whl/cpu" in text


def test_bad_input_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `python -m utils.data` first"):
        kit.copy_cache(tmp_path, tmp_path / "out", link=True)
    (tmp_path / "r.txt").write_text("numpy==2.4.6\n")
    with pytest.raises(ValueError, match="pins no torch"):
        kit._torch_pin(tmp_path / "r.txt")
    with pytest.raises(SystemExit):
        kit.main(["--python", "three"])


def _runtime_requirements(path: Path) -> Path:
    """requirements.txt's packages that chapters import, and the kernel that runs a notebook (not the website's)."""
    lines = (ROOT / "requirements.txt").read_text().split("# notebooks and the website")[0].splitlines()
    kernel = [l for l in (ROOT / "requirements.txt").read_text().splitlines()
              if l.split("==")[0] in ("ipykernel", "nbclient", "nbformat")]
    path.write_text("\n".join([l for l in lines if "==" in l] + kernel) + "\n")
    return path


def _offline_env(cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHONPATH"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": UNREACHABLE,
            "COURSE_CACHE": str(cache), "COURSE_QUICK": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}


@END_TO_END
def test_install_from_a_kit_with_no_index_and_run_chapter_0_with_the_registry_unreachable(tmp_path):
    requirements = _runtime_requirements(tmp_path / "requirements-runtime.txt")
    out = tmp_path / "kit"
    summary = kit.build_kit(out, requirements, ["3.11"], _cache(), link_cache=True)
    assert summary["torch"]["3.11"].startswith("torch-2.13.0+cpu-cp311")  # the CPU build, not PyPI's CUDA one
    assert json.loads((out / "kit.json").read_text())["wheels"] == summary["wheels"]
    env = _offline_env(out / "cache")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(out / "wheelhouse")]
    subprocess.run(pip + ["-r", str(requirements)], check=True, env=env)
    course = tmp_path / "course"
    course.mkdir()
    subprocess.run(["tar", "-xzf", str(out / "course.tar.gz"), "-C", str(course)], check=True)
    subprocess.run(pip + ["--no-deps", "-e", str(course)], check=True, env=env)
    notebook = course / "notebooks" / "00_setup.ipynb"
    runner = ("import sys, nbformat\nfrom nbclient import NotebookClient\nnb = nbformat.read(sys.argv[1], 4)\n"
              "NotebookClient(nb, timeout=900, kernel_name='python3', resources={'metadata': {'path': sys.argv[2]}})"
              ".execute()\nnbformat.write(nb, sys.argv[1])")
    env["PATH"] = f"{venv / 'bin'}:{os.environ['PATH']}"
    subprocess.run([python, "-c", runner, str(notebook), str(notebook.parent)], check=True, env=env, cwd=course)
    text = _output_text(nbformat.read(notebook, as_version=4))
    import utils.registry

    for name in utils.registry.REGISTRY:  # chapter 0's table: every artifact found in the cache, none fetched
        assert f"| {name} | " in text and not f"✗ {name}:" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:] in
            utils.registry.REGISTRY]
    assert rows and all(row.split(" | ")[2] == "yes" for row in rows), rows  # "cached before: yes"
    assert "not reachable" not in text and "| torch | 2.13.0 | 2.13.0+cpu | ✓ |" in text


def _cache() -> Path:
    from utils.env import cache_dir

    return cache_dir()


def _output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            for key in ("text/markdown", "text/plain"):
                parts.append(output.get("data", {}).get(key, ""))
    return "\n".join(parts)
