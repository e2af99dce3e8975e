"""Execute a chapter in full mode and stamp it; check that committed notebooks carry current, full-mode outputs.

Usage (what ``make execute NB=...`` runs)::

    python -m utils.notebook execute notebooks/01_history.ipynb       # quick run (timed), then full run, stamp
    python -m utils.notebook execute notebooks/01_history.ipynb --no-quick
    python -m utils.notebook check notebooks/*.ipynb                   # what the tests check

The stamp lives in the notebook's metadata under ``course_stamp``: mode, device, versions, wall times and a hash of
the code cells. A notebook whose code changed after its stamp, that holds an error output, or whose outputs came
from quick mode fails :func:`problems`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

__all__ = [
    "STAMP_KEY", "COLAB_SETUP_SOURCE", "code_hash", "outputs_hash", "error_outputs", "problems", "make_stamp",
    "execute_and_stamp", "main",
]

STAMP_KEY = "course_stamp"
# The first code cell of every chapter: on Colab (which opens a notebook without its repository) it clones the
# course, installs it and moves into notebooks/, where the chapter expects to run; elsewhere it does nothing.
COLAB_SETUP_SOURCE = """\
# On Colab the notebook opens without the course repository: fetch it and install the course package.
import os
import sys

if "google.colab" in sys.modules and not os.path.exists("utils"):
    import subprocess

    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/attention-to-product/course.git"], check=True)
    os.chdir("course")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "requirements-colab.txt", "-e", "."], check=True)
    sys.path.insert(0, os.getcwd())
    os.chdir("notebooks")
"""
# Cell metadata that changes on every run and would only add noise to git diffs.
_VOLATILE_CELL_METADATA = ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled")


def _check_notebook(nb) -> None:
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        hint = " (read it first: nbformat.read(path, as_version=4))" if isinstance(nb, (str, os.PathLike)) else ""
        raise TypeError(f"nb must be a notebook (nbformat.NotebookNode){hint}, got {nb!r:.60}")


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be the path of a .ipynb file, got {path!r:.60}")
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise FileNotFoundError(f"path must be an existing .ipynb file, got {str(path)!r} "
                                "(run from the repository root: notebooks/NN_name.ipynb)")
    return path


def code_hash(nb: nbformat.NotebookNode) -> str:
    """``'sha256:<hex>'`` of the notebook's code cells (sources, trailing whitespace ignored), in order."""
    _check_notebook(nb)
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.rstrip().encode("utf-8") + b"\n\x00")
    return "sha256:" + digest.hexdigest()


def outputs_hash(nb: nbformat.NotebookNode) -> str:
    """``'sha256:<hex>'`` of every cell's outputs (type, stream name, text and data; execution counts ignored).

    The stamp records it, so outputs that changed after the full-mode run (a quick run saved over them in
    JupyterLab, an edited output) make the notebook stale, whatever they print.
    """
    _check_notebook(nb)
    digest = hashlib.sha256()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            digest.update(output.get("output_type", "").encode() + b"\x00" + output.get("name", "").encode())
            digest.update(_joined(output.get("text", "")).encode("utf-8") + b"\x00")
            for mime, value in sorted(output.get("data", {}).items()):
                digest.update(mime.encode() + b"\x00" + _joined(value).encode("utf-8") + b"\x00")
        digest.update(b"\x01")
    return "sha256:" + digest.hexdigest()


def _joined(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(value)
    return repr(value)  # JSON outputs (dicts) keep a stable repr after nbformat's round trip


def error_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """One line per error output in ``nb``: ``'cell <i>: <ename>: <evalue>'``."""
    _check_notebook(nb)
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    return found


def problems(path: Path) -> list[str]:
    """What is wrong with the committed notebook at ``path`` (an empty list when its outputs are current).

    Checks: a stamp exists, it says full mode and names the CPU model, its code and outputs hashes equal the code and
    outputs now, no error outputs, and the chapter conventions (a ``parameters`` cell, the closing environment report).
    """
    nb = nbformat.read(_check_path(path), as_version=4)
    found = []
    stamp = nb.metadata.get(STAMP_KEY)
    if stamp is None:
        found.append("no stamp: run `make execute NB=...` to execute it in full mode")
    else:
        if stamp.get("mode") != "full":
            found.append(f"stamped in {stamp.get('mode')!r} mode: outputs must come from a full-mode run")
        if "cpu_model" not in stamp:
            found.append("the stamp does not record the CPU model: run `make execute NB=...` again")
        if stamp.get("code_hash") != code_hash(nb):
            found.append("stale: the code changed after the stamp; run `make execute NB=...` again")
        if stamp.get("outputs_hash") != outputs_hash(nb):
            found.append("outputs changed after the stamp (a quick run saved over them?): `make execute NB=...`")
    found += [f"error output in {line}" for line in error_outputs(nb)]
    if not any("parameters" in cell.metadata.get("tags", []) for cell in nb.cells):
        found.append("no cell tagged 'parameters' (papermill needs one)")
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code_cells or code_cells[0].source.rstrip() != COLAB_SETUP_SOURCE.rstrip():
        found.append("the first code cell must be the Colab set-up cell (utils.notebook.COLAB_SETUP_SOURCE)")
    if not code_cells or "environment_report" not in code_cells[-1].source:
        found.append("the last code cell must call utils.env.environment_report(...)")
    return found


def _run(path: Path, quick: bool) -> tuple[nbformat.NotebookNode, float]:
    import papermill

    env_before = os.environ.get("COURSE_QUICK")
    os.environ["COURSE_QUICK"] = "1" if quick else "0"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / path.name
            start = time.perf_counter()
            _LOADS.append(_load_average())
            papermill.execute_notebook(str(path), str(out), cwd=str(path.parent), kernel_name="python3",
                                       progress_bar=False, log_output=False)
            wall = time.perf_counter() - start
            _LOADS.append(_load_average())
            return nbformat.read(out, as_version=4), wall
    finally:
        if env_before is None:
            os.environ.pop("COURSE_QUICK", None)
        else:
            os.environ["COURSE_QUICK"] = env_before


_LOADS: list[float] = []  # 1-minute load averages at the start and end of each run of this process


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on Windows
        return float("nan")


def _clean(nb: nbformat.NotebookNode) -> None:
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)


def make_stamp(nb: nbformat.NotebookNode, wall_time_s: float, quick_wall_time_s: float | None) -> dict:
    """The stamp for a notebook just executed in full mode on this machine."""
    from utils.checks import check_number

    _check_notebook(nb)
    check_number("wall_time_s", wall_time_s, minimum=0)
    if quick_wall_time_s is not None:
        check_number("quick_wall_time_s", quick_wall_time_s, minimum=0)
    from utils.env import cpu_model, device_description, get_device, package_versions

    device = get_device()
    return {
        "mode": "full",
        "device": device.type,
        # the kernel that ran the chapter chose its own torch threads: its closing report says how many
        "device_name": device_description(device, threads=False),
        "cpu_model": cpu_model(),
        "wall_time_s": round(wall_time_s, 1),
        "quick_wall_time_s": None if quick_wall_time_s is None else round(quick_wall_time_s, 1),
        "code_hash": code_hash(nb),
        "outputs_hash": outputs_hash(nb),
        # the busiest of the 1-minute load averages seen at the start and end of the runs: a shared machine
        # makes every time in the chapter longer, and the banner says so
        "load_average": round(max(_LOADS[-2:], default=float("nan")), 1),
        "cpu_count": os.cpu_count(),
        "executed_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "versions": package_versions(),
    }


def execute_and_stamp(path: Path, quick_first: bool = True) -> dict:
    """Execute ``path`` in full mode with papermill (after a timed quick run), write outputs and stamp in place."""
    path = _check_path(path)
    quick_wall = None
    if quick_first:
        _, quick_wall = _run(path, quick=True)
        print(f"{path.name}: quick mode ran in {quick_wall:.1f} s")
    nb, wall = _run(path, quick=False)
    errors = error_outputs(nb)
    if errors:
        raise RuntimeError(f"{path.name} has error outputs, not stamped: {errors}")
    _clean(nb)
    nb.metadata[STAMP_KEY] = make_stamp(nb, wall, quick_wall)
    nbformat.write(nb, path)
    print(f"{path.name}: full mode ran in {wall:.1f} s; stamped {nb.metadata[STAMP_KEY]['code_hash'][:19]}…")
    return nb.metadata[STAMP_KEY]


def main(argv: list[str] | None = None) -> int:
    """Command line: ``execute`` notebooks and stamp them, or ``check`` them; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m utils.notebook", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="execute notebooks in full mode and stamp them")
    run.add_argument("notebooks", nargs="+", type=Path)
    run.add_argument("--no-quick", action="store_true", help="skip the timed quick-mode run")
    check = sub.add_parser("check", help="list stale, errored or quick-mode notebooks")
    check.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "execute":
        for path in args.notebooks:
            execute_and_stamp(path, quick_first=not args.no_quick)
        return 0
    bad = {str(path): problems(path) for path in args.notebooks}
    for path, found in bad.items():
        print(f"{path}: {'ok' if not found else '; '.join(found)}")
    return 1 if any(bad.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
