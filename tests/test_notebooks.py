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
    assert "42" in nb.cells[2].outputs[0]["text"] and "papermill" not in nb.cells[2].metadata
    assert "tags" not in nb.cells[0].metadata  # papermill's empty tag lists are removed

    nb.cells[2].source = "print(41 + 2)"
    nbformat.write(nb, path)
    assert any("stale" in p for p in notebook.problems(path))

    nb.cells[2].source = "print(40 + 2)"
    nb.cells[2].outputs = [new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    nbformat.write(nb, path)
    assert notebook.problems(path) == ["error output in cell 2: ValueError: boom"]
    assert notebook.error_outputs(nb) == ["cell 2: ValueError: boom"]

    nb.cells[2].outputs = [new_output("stream", name="stdout", text="mode        : quick (COURSE_QUICK='1')")]
    nb.metadata[notebook.STAMP_KEY]["mode"] = "quick"
    nbformat.write(nb, path)
    assert len(notebook.problems(path)) == 2


def test_unstamped_notebook_without_conventions_is_reported(tmp_path):
    path = tmp_path / "bare.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Bare"), new_code_cell("1")]), path)
    found = notebook.problems(path)
    assert any("no stamp" in p for p in found) and any("parameters" in p for p in found)
    assert any("environment_report" in p for p in found)
    assert notebook.code_hash(nbformat.read(path, as_version=4)).startswith("sha256:")


def test_execute_refuses_to_stamp_a_failing_notebook(tmp_path):
    path = tmp_path / "broken.ipynb"
    nbformat.write(_tiny_notebook("raise ValueError('boom')"), path)
    with pytest.raises(Exception, match="boom"):
        notebook.execute_and_stamp(path, quick_first=False)
    assert notebook.STAMP_KEY not in nbformat.read(path, as_version=4).metadata
