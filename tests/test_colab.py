"""Colab, recreated (scripts/colab_check.py): its pieces, and the whole simulation, a fresh venv with Colab's
preinstalled packages, the chapters' set-up cell as written (clone from a local copy), chapters 0, 5 and the newest
in quick mode. The simulation takes minutes: it runs where ``COURSE_COLAB_CHECK=1`` is set (the colab stage of
``make test``), so that ``pytest tests/`` stays fast.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from utils import notebook

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("colab_check", ROOT / "scripts" / "colab_check.py")
colab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab)


def test_colabs_packages_are_stated_once_with_their_date():
    text = (ROOT / "requirements-colab.txt").read_text()
    pins = colab.colab_preinstalled()
    assert [p.split("==")[0] for p in pins] == ["torch", "numpy", "pandas", "matplotlib", "scikit-learn"]
    line = next(i for i, l in enumerate(text.splitlines()) if l.startswith(colab.PREINSTALLED_MARK))
    assert "pip list" in text.splitlines()[line - 1] and any(str(y) in text.splitlines()[line - 1] for y in range(2024, 2031))
    installed = [l.split("==")[0] for l in text.splitlines() if "==" in l and not l.startswith("#")]
    assert not set(installed) & {p.split("==")[0] for p in pins}  # the set-up cell leaves Colab's versions alone
    assert colab.packages_to_install(pins, "torch==2.13.0")[0] == "torch==2.13.0"


def test_bad_preinstalled_lines_are_refused(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("numpy==2.0.2\n")
    with pytest.raises(ValueError, match="exactly one line"):
        colab.colab_preinstalled(path)
    path.write_text("# colab-preinstalled: numpy>=2\n")
    with pytest.raises(ValueError, match="expected name==version pins"):
        colab.colab_preinstalled(path)


def test_the_set_up_cell_runs_as_written_but_clones_from_here():
    cell = colab.colab_cell(notebook.COLAB_SETUP_SOURCE, "file:///tmp/remote/course.git")
    assert cell == notebook.COLAB_SETUP_SOURCE.replace(colab.CLONE_URL, "file:///tmp/remote/course.git")
    assert colab.CLONE_URL not in cell
    with pytest.raises(ValueError, match="exactly once"):
        colab.colab_cell("print('no clone here')", "file:///x")
    nb = colab.colab_notebook(ROOT / "notebooks" / "05_transformer.ipynb", "file:///tmp/remote/course.git")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == colab.FAKE_COLAB and code[1].source.rstrip() == cell.rstrip()
    assert all(c.outputs == [] for c in code)


def test_the_chapters_run_are_0_5_and_the_newest_committed_one():
    import subprocess

    listed = subprocess.run(["git", "ls-tree", "--name-only", "HEAD", "notebooks/"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    chapters = sorted(Path(p) for p in listed if p.endswith(".ipynb") and Path(p).name[:2].isdigit())
    chosen = colab.chapters_to_run()
    assert [p.name[:2] for p in chosen] == sorted({"00", "05", chapters[-1].name[:2]})
    with pytest.raises(ValueError, match="no committed chapter numbered 42"):
        colab.chapters_to_run(["42"])
    with pytest.raises(FileNotFoundError, match="is not committed"):
        colab.committed(ROOT / "notebooks" / "99_not_there.ipynb")


@pytest.mark.skipif(os.environ.get("COURSE_COLAB_CHECK") != "1",
                    reason="the colab stage of make test runs it (COURSE_COLAB_CHECK=1)")
def test_colab_simulation(tmp_path, capsys):
    assert colab.check(tmp_path, colab.chapters_to_run(), "torch==2.13.0") == 0
    out = capsys.readouterr().out
    sys.stdout.write(out)  # the step times, for the stage's log
    assert "numpy 2.0.2" in out and "pandas 2.2.2" in out
    for chapter in colab.chapters_to_run():
        assert f"{chapter.name}: set-up cell and quick run as on Colab in" in out
    for index in range(len(colab.chapters_to_run())):
        assert (tmp_path / f"content-{index}" / "course" / "notebooks").is_dir()
