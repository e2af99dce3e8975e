"""Colab, recreated: a fresh venv with Colab's preinstalled packages, the chapters' set-up cell as they run it, then
chapters 0 and 5 and the newest chapter in quick mode.

Usage (a stage of ``make test``)::

    python scripts/colab_check.py                    # work folder in a temporary directory
    python scripts/colab_check.py --work /tmp/colab --chapters 00 05

What is Colab's and what is not:
- the venv has no system site packages: only what ``requirements-colab.txt``'s ``colab-preinstalled:`` line names
  (the versions a Colab runtime ships, with the date they were read), plus the kernel Colab runs notebooks with
  (ipykernel, nbclient). pip installs them from this machine's package indexes; torch is the one exception: Colab's
  is a CUDA build, which this machine does not install, so the venv gets the course's pin (``--torch``), here the
  local CPU wheel;
- each chapter runs like a notebook just opened in Colab, from the committed ``HEAD`` (what Colab opens from
  GitHub and what the set-up cell clones): in an empty working folder, with ``google.colab``
  imported, its first cell exactly as the chapter has it except the clone URL, which points at a bare copy of this
  repository's committed history (``file://.../course.git``) instead of GitHub;
- quick mode (``COURSE_QUICK=1``) and the data cache of this machine (``COURSE_CACHE``), so no dataset is fetched.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREINSTALLED_MARK = "# colab-preinstalled:"
CLONE_URL = "https://github.com/attention-to-product/course.git"
KERNEL_PACKAGES = ("ipykernel", "nbclient", "nbformat")  # what Colab runs a notebook with
# google.colab as an imported module with a spec, as on Colab (libraries such as accelerate look it up with find_spec)
FAKE_COLAB = """\
import importlib.machinery, sys, types
colab = types.ModuleType("google.colab")
colab.__spec__ = importlib.machinery.ModuleSpec("google.colab", None)
sys.modules["google.colab"] = colab\
"""
_PIN = re.compile(r"^[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+$")

RUNNER = """\
import sys, nbformat
from nbclient import NotebookClient
path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, path)
"""


def colab_preinstalled(requirements: Path = ROOT / "requirements-colab.txt") -> list[str]:
    """The ``name==version`` pins of the ``# colab-preinstalled:`` line of ``requirements``."""
    lines = [line for line in Path(requirements).read_text().splitlines() if line.startswith(PREINSTALLED_MARK)]
    if len(lines) != 1:
        raise ValueError(f"{requirements} must hold exactly one line starting with {PREINSTALLED_MARK!r} (the versions "
                         f"Colab ships), found {len(lines)}")
    pins = lines[0][len(PREINSTALLED_MARK):].split()
    bad = [pin for pin in pins if not _PIN.match(pin)]
    if bad or not pins:
        raise ValueError(f"{requirements}: expected name==version pins after {PREINSTALLED_MARK!r}, got {bad or pins}")
    return pins


def packages_to_install(pins: list[str], torch: str) -> list[str]:
    """Colab's pins with torch replaced by ``torch`` (Colab's CUDA build is not installable here)."""
    return [torch if pin.split("==")[0] == "torch" else pin for pin in pins]


def colab_cell(source: str, repository_url: str) -> str:
    """The set-up cell with its clone URL replaced by ``repository_url``; everything else exactly as written."""
    if source.count(CLONE_URL) != 1:
        raise ValueError(f"the set-up cell should clone {CLONE_URL} exactly once, found it {source.count(CLONE_URL)} "
                         "times: update CLONE_URL in scripts/colab_check.py with the cell")
    return source.replace(CLONE_URL, repository_url)


def committed(path: Path) -> str:
    """The text of ``path`` (in this repository) at the committed ``HEAD``: what a clone, and Colab, gets."""
    relative = Path(path).resolve().relative_to(ROOT).as_posix()
    result = subprocess.run(["git", "show", f"HEAD:{relative}"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise FileNotFoundError(f"{relative} is not committed: Colab opens the committed notebook; commit it first")
    return result.stdout


def colab_notebook(path: Path, repository_url: str):
    """Committed chapter ``path`` as Colab opens it: ``google.colab`` imported first, then its cells, the clone from
    ``repository_url``."""
    import nbformat

    nb = nbformat.reads(committed(path), as_version=4)
    first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    nb.cells[first].source = colab_cell(nb.cells[first].source, repository_url)
    nb.cells.insert(first, nbformat.v4.new_code_cell(FAKE_COLAB))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def chapters_to_run(numbers: list[str] | None = None) -> list[Path]:
    """Chapters 0 and 5 and the newest committed chapter (by number), or those of ``numbers`` (two-digit prefixes)."""
    listed = subprocess.run(["git", "ls-tree", "--name-only", "HEAD", "notebooks/"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    chapters = sorted(ROOT / name for name in listed if re.fullmatch(r"notebooks/\d\d_[^/]+\.ipynb", name))
    wanted = numbers or ["00", "05", chapters[-1].name[:2]]
    chosen = [p for p in chapters if p.name[:2] in wanted]
    missing = sorted(set(wanted) - {p.name[:2] for p in chosen})
    if missing:
        raise ValueError(f"no committed chapter numbered {', '.join(missing)} in notebooks/")
    return chosen


def _run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(command[:6])} ... failed (exit {result.returncode}):\n{tail}")


def make_colab_venv(venv: Path, packages: list[str]) -> Path:
    """A fresh venv (no system site packages) with ``packages`` and the kernel; returns its python."""
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", *packages, *KERNEL_PACKAGES])
    return python


def run_chapter(python: Path, chapter: Path, content: Path, repository_url: str, env: dict) -> float:
    """Run ``chapter`` as Colab would, in the empty folder ``content``; return its wall time in seconds."""
    import nbformat

    content.mkdir(parents=True)
    executed = content.parent / f"{chapter.stem}.colab.ipynb"
    nbformat.write(colab_notebook(chapter, repository_url), executed)
    start = time.perf_counter()
    _run([str(python), "-c", RUNNER, str(executed), str(content)], env=env, cwd=content)
    if not (content / "course" / "utils").is_dir():
        raise RuntimeError(f"{chapter.name}: the set-up cell did not clone the course into {content}/course")
    return time.perf_counter() - start


def local_repository(folder: Path) -> Path:
    """A bare copy of this repository's committed history at ``folder/course.git``: cloning it, like cloning the
    GitHub URL, makes a folder named ``course``."""
    bare = folder / "course.git"
    _run(["git", "clone", "--quiet", "--bare", str(ROOT), str(bare)])
    return bare


def installed_versions(python: Path, names: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, sys\n"
            "for n in sys.argv[1:]:\n    print(n, m.version(n))")
    out = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True).stdout
    return dict(line.split() for line in out.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--chapters", nargs="*", help="two-digit chapter numbers (default: 00, 05 and the newest)")
    parser.add_argument("--torch", default="torch==2.13.0", help="the torch to install in place of Colab's CUDA build")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="colab-") as scratch:
        work = args.work or Path(scratch)
        return check(work, chapters_to_run(args.chapters), args.torch)


def check(work: Path, chapters: list[Path], torch: str) -> int:
    """The whole simulation; prints each step's time and the versions the set-up cell left installed."""
    started = time.perf_counter()
    pins = colab_preinstalled()
    packages = packages_to_install(pins, torch)
    python = make_colab_venv(work / "venv", packages)
    names = [pin.split("==")[0] for pin in packages]
    before = installed_versions(python, names)
    print(f"fresh venv with Colab's packages: {time.perf_counter() - started:.0f} s "
          f"({', '.join(f'{n} {v}' for n, v in before.items())})", flush=True)
    env = {**os.environ, "COURSE_QUICK": "1", "MPLBACKEND": "Agg", "PATH": f"{python.parent}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    repository = local_repository(work / "remote")
    for index, chapter in enumerate(chapters):
        seconds = run_chapter(python, chapter, work / f"content-{index}", f"file://{repository}", env)
        print(f"{chapter.name}: set-up cell and quick run as on Colab in {seconds:.0f} s", flush=True)
    after = installed_versions(python, names)
    changed = {n: f"{before[n]} -> {after[n]}" for n in names if before[n] != after[n]}
    print("the set-up cell changed Colab's packages: " + (", ".join(f"{n} {c}" for n, c in changed.items())
                                                         if changed else "none"))
    print(f"Colab check: {len(chapters)} chapters passed in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
