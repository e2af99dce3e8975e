"""Committed notebooks carry current, full-mode, error-free outputs; the stamp machinery catches each failure."""

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import utils.notebook as notebook

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_is_current_full_mode_and_error_free(path):
    assert notebook.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_stays_small_and_opens_with_a_title(path):
    assert path.stat().st_size < 3_000_000, "outputs too large for git: shrink plots or printed tables"
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "widgets" not in nb.metadata


def _tiny_notebook(code: str = "x = 1") -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("# Tiny"),
            new_code_cell(notebook.COLAB_SETUP_SOURCE),
            new_code_cell("quick = False", metadata={"tags": ["parameters"]}),
            new_code_cell(code),
            new_code_cell("import utils.env\nutils.env.environment_report()"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def test_execute_and_stamp_then_detect_stale_errors_and_quick_outputs(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    path = tmp_path / "tiny.ipynb"
    nbformat.write(_tiny_notebook("print(40 + 2)"), path)
    stamp = notebook.execute_and_stamp(path, quick_first=False)
    assert set(stamp) == set(notebook.make_stamp(nbformat.read(path, as_version=4), 1.0, None))
    assert stamp["mode"] == "full" and stamp["wall_time_s"] > 0 and stamp["versions"]["torch"]
    assert notebook.problems(path) == []
    nb = nbformat.read(path, as_version=4)
    assert stamp["outputs_hash"] == notebook.outputs_hash(nb) != notebook.outputs_hash(_tiny_notebook())
    assert "42" in nb.cells[3].outputs[0]["text"] and "papermill" not in nb.cells[3].metadata
    assert "tags" not in nb.cells[0].metadata  # papermill's empty tag lists are removed

    nb.cells[3].source = "print(41 + 2)"
    nbformat.write(nb, path)
    assert any("stale" in p for p in notebook.problems(path))

    nb.cells[3].source = "print(40 + 2)"
    nb.cells[3].outputs = [new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    nbformat.write(nb, path)
    assert notebook.problems(path)[-1] == "error output in cell 3: ValueError: boom"
    assert any("outputs changed after the stamp" in p for p in notebook.problems(path))
    assert notebook.error_outputs(nb) == ["cell 3: ValueError: boom"]

    nb.cells[3].outputs = [new_output("stream", name="stdout", text="mode        : quick (COURSE_QUICK='1')")]
    nbformat.write(nb, path)
    assert notebook.problems(path) == [
        "outputs changed after the stamp (a quick run saved over them?): `make execute NB=...`"
    ]
    nb.metadata[notebook.STAMP_KEY]["mode"] = "quick"
    nbformat.write(nb, path)
    assert len(notebook.problems(path)) == 2


def test_unstamped_notebook_without_conventions_is_reported(tmp_path):
    path = tmp_path / "bare.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Bare"), new_code_cell("1")]), path)
    found = notebook.problems(path)
    assert any("no stamp" in p for p in found) and any("parameters" in p for p in found)
    assert any("environment_report" in p for p in found) and any("Colab set-up" in p for p in found)
    assert notebook.code_hash(nbformat.read(path, as_version=4)).startswith("sha256:")


def test_execute_refuses_to_stamp_a_failing_notebook(tmp_path):
    path = tmp_path / "broken.ipynb"
    nbformat.write(_tiny_notebook("raise ValueError('boom')"), path)
    with pytest.raises(Exception, match="boom"):
        notebook.execute_and_stamp(path, quick_first=False)
    assert notebook.STAMP_KEY not in nbformat.read(path, as_version=4).metadata


def test_colab_setup_cell_clones_installs_and_runs_the_chapter_from_notebooks(tmp_path, monkeypatch):
    """The first cell as Colab runs it: in an empty working folder with ``google.colab`` imported. The clone comes
    from this repository instead of the network and pip is recorded, not run; the chapter must end up in
    ``course/notebooks`` with the course package importable (a cell that stopped in ``course/`` broke 00_setup)."""
    import subprocess
    import sys
    import types

    repo = Path(__file__).parent.parent
    calls, real_run = [], subprocess.run

    def fake_run(args, check=False):
        calls.append(list(args))
        if args[:2] == ["git", "clone"]:
            return real_run(["git", "clone", "--depth", "1", f"file://{repo}", "course"], check=True,
                                  capture_output=True)
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(notebook.COLAB_SETUP_SOURCE, "colab-setup-cell", "exec"), {})

    assert Path.cwd() == tmp_path / "course" / "notebooks"
    assert (Path.cwd() / "00_setup.ipynb").exists() and sys.path[0] == str(tmp_path / "course")
    assert calls[0][:2] == ["git", "clone"] and calls[0][-1].endswith("/course.git")
    pip = calls[1]
    assert pip[:3] == [sys.executable, "-m", "pip"] and pip[-4:] == ["-r", "requirements-colab.txt", "-e", "."]
    assert (tmp_path / "course" / "requirements-colab.txt").exists()


def test_colab_setup_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a command outside Colab"))
    exec(compile(notebook.COLAB_SETUP_SOURCE, "colab-setup-cell", "exec"), {})
    assert Path.cwd() == tmp_path
