"""The offline kit: everything a workshop room without a network needs, in one folder.

Usage (what ``make offline-kit`` runs)::

    python scripts/make_offline_kit.py                        # offline-kit/, Python 3.11 and 3.12
    python scripts/make_offline_kit.py --out DIR --python 3.11 --requirements FILE --link-cache

The folder holds
- ``wheelhouse/``: the wheels of ``requirements.txt`` (every dependency, resolved once for Python 3.11 and
  downloaded at the same versions for 3.12) for Linux x86-64, plus setuptools (the course package builds with it);
  torch is the CPU build, taken from the package indexes pip is configured with (this machine: the local CPU wheel
  in its find-links folder) or from the PyTorch CPU index; a Python version for which no CPU torch wheel can be
  found gets none (never the several-GB CUDA build of PyPI), and the README says how to add it;
- ``cache/``: the course's data cache (the registry's downloads, their extracted files and the dequantized model),
  what ``COURSE_CACHE`` points at;
- ``course.tar.gz``: the repository at its committed ``HEAD``;
- ``README.md``: how to install from it with ``pip install --no-index`` and run a chapter, and what it holds.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BUILD_PACKAGES = ("setuptools>=68", "wheel")  # `pip install -e .` builds the course package with them
CACHE_PARTS = ("downloads", "data", "models")  # the registry's files and the dequantized model; chapter outputs stay out
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>.+)\.whl$")
INTERPRETERS: dict[str, str] = {}  # version -> python, from --interpreter (else python3.X on PATH)
_CUDA_ONLY = re.compile(r"^(nvidia[_-]|triton$|cuda[_-])")


def parse_wheel(filename: str) -> dict[str, str]:
    """``name``, ``version``, ``python``, ``abi``, ``platform`` of a wheel's file name (PEP 427)."""
    match = _WHEEL.match(filename)
    if not match:
        raise ValueError(f"{filename!r} is not a wheel file name (name-version-python-abi-platform.whl)")
    return match.groupdict()


def index_reachable(url: str = TORCH_CPU_INDEX, timeout: float = 10.0) -> bool:
    """Whether ``url`` answers (checked once: pip would otherwise retry an unreachable index for every package)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except OSError:
        return False


@functools.cache
def _interpreter(python_version: str) -> str:
    """A Python of that version to run pip with (pip evaluates dependency markers such as `python_version ==
    "3.12"` for the Python that runs it, not for --python-version), else this one."""
    if sys.version_info[:2] == tuple(int(p) for p in python_version.split(".")):
        return sys.executable
    found = INTERPRETERS.get(python_version) or shutil.which(f"python{python_version}")
    if found and subprocess.run([found, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return found
    print(f"no python{python_version} with pip here: its wheels are resolved by Python "
          f"{sys.version_info.major}.{sys.version_info.minor}, so a dependency that only Python {python_version} "
          "needs may be missing", flush=True)
    return sys.executable


def _pip_download(python_version: str, dest: Path, args: list[str], extra_index: bool = False) -> None:
    abi = "cp" + python_version.replace(".", "")
    command = [_interpreter(python_version), "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version",
               python_version, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none", "-d", str(dest)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    if extra_index:
        command += ["--extra-index-url", TORCH_CPU_INDEX]
    result = subprocess.run(command + args, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if "is ignored: it is neither" not in line]
        raise RuntimeError(f"pip download for Python {python_version} failed:\n" + "\n".join(lines[-15:]))


def _pins(wheelhouse: Path, python_version: str) -> list[str]:
    """``name==version`` of every wheel in ``wheelhouse`` that serves ``python_version`` (torch and CUDA-only left out)."""
    tag = "cp" + python_version.replace(".", "")
    pins = set()
    for path in wheelhouse.glob("*.whl"):
        wheel = parse_wheel(path.name)
        name = wheel["name"].lower().replace("_", "-")
        if name == "torch" or _CUDA_ONLY.match(name):
            continue
        if tag in wheel["python"] or wheel["abi"] in ("none", "abi3"):
            pins.add(f"{name}=={wheel['version']}")
    return sorted(pins)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _requirement_lines(requirements: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in requirements.read_text().splitlines() if line.split("#")[0].strip()]


def _packages_needing_torch(wheelhouse: Path) -> set[str]:
    """Names of the wheels in ``wheelhouse`` whose metadata requires torch."""
    import zipfile

    names = set()
    for path in wheelhouse.glob("*.whl"):
        with zipfile.ZipFile(path) as archive:
            metadata = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
            text = archive.read(metadata).decode("utf-8", "replace") if metadata else ""
        requires = [line[len("Requires-Dist:"):].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]
        if any(_name(r) == "torch" and "extra ==" not in r for r in requires):
            names.add(_name(parse_wheel(path.name)["name"]))
    return names


def _torch_pin(requirements: Path) -> str:
    for line in requirements.read_text().splitlines():
        if re.match(r"^torch==", line.split("#")[0].strip()):
            return line.split("#")[0].strip()
    raise ValueError(f"{requirements} pins no torch (a `torch==X.Y.Z` line)")


def torch_wheels(wheelhouse: Path) -> dict[str, str]:
    """``python tag -> torch wheel file`` in ``wheelhouse``."""
    return {parse_wheel(p.name)["python"]: p.name for p in wheelhouse.glob("torch-*.whl")}


def build_wheelhouse(wheelhouse: Path, requirements: Path, pythons: list[str]) -> dict[str, str]:
    """Download the wheels; return ``python version -> what torch it got`` ("torch-...whl" or why none)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    first, *others = pythons
    torch = _torch_pin(requirements)
    cpu_index = index_reachable()
    print(f"PyTorch CPU index {TORCH_CPU_INDEX}: {'reachable' if cpu_index else 'not reachable from here'}", flush=True)
    # First Python: resolve everything; the CPU torch is the one pip finds first (a "+cpu" local version ranks
    # above PyPI's CUDA build of the same version) in the configured indexes or the PyTorch CPU index.
    _pip_download(first, wheelhouse, [f"{torch}+cpu", "-r", str(requirements), *BUILD_PACKAGES],
                  extra_index=cpu_index)
    pins = _pins(wheelhouse, first)
    for version in others:
        # The same versions as for the first Python: every wheel by name, then a resolution of everything that does
        # not need torch (pins as constraints) for the dependencies only this Python needs (markers such as
        # `python_version == "3.12"`); resolving the packages that need torch would fetch PyPI's CUDA build.
        _pip_download(version, wheelhouse, ["--no-deps", *pins])
        needs_torch = _packages_needing_torch(wheelhouse)
        scratch = wheelhouse.parent / ".resolve"
        scratch.mkdir(exist_ok=True)
        (scratch / "constraints.txt").write_text("\n".join(pins) + "\n")
        (scratch / "requirements.txt").write_text("\n".join(
            line for line in _requirement_lines(requirements) if _name(line) not in needs_torch | {"torch"}) + "\n")
        _pip_download(version, wheelhouse, ["-r", str(scratch / "requirements.txt"),
                                            "-c", str(scratch / "constraints.txt")])
        shutil.rmtree(scratch)
        try:
            _pip_download(version, wheelhouse, ["--no-deps", f"{torch}+cpu"], extra_index=cpu_index)
        except RuntimeError:
            pass  # said below: no CPU torch for this Python
    found = torch_wheels(wheelhouse)
    torches: dict[str, str] = {}
    for version in pythons:
        tag = "cp" + version.replace(".", "")
        torches[version] = found.get(tag) or (
            f"none: no CPU build of {torch} for Python {version} in the package indexes pip reaches from here "
            f"(PyPI's Linux wheel is the CUDA build; the PyTorch CPU index is "
            f"{'reachable but has none' if cpu_index else 'not reachable'})")
    return torches


def copy_cache(cache: Path, dest: Path, link: bool) -> None:
    """The registry's downloads, their extracted files and the dequantized model, copied (or hard-linked)."""
    missing = [part for part in CACHE_PARTS if not (cache / part).is_dir()]
    if missing:
        raise FileNotFoundError(f"the data cache {cache} lacks {', '.join(missing)}: run `python -m utils.data` first "
                                "(with a network), then build the kit")
    copy = _link_or_copy if link else shutil.copy2
    for part in CACHE_PARTS:
        shutil.copytree(cache / part, dest / part, copy_function=copy, dirs_exist_ok=True)


def _link_or_copy(source: str, target: str) -> None:
    """A hard link where the two folders share a file system, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def readme_text(torches: dict[str, str], sizes: dict[str, int], commit: str) -> str:
    """The kit's README: what it holds (with sizes) and the commands that install and run from it offline."""
    lines = [
        "# Offline kit of *From Attention to Product*",
        "",
        f"Built from commit `{commit}` of the course. Everything below works without a network.",
        "",
        "| part | size | what |",
        "|---|---|---|",
        f"| `wheelhouse/` | {sizes['wheelhouse'] / 1e6:.0f} MB | wheels of `requirements.txt` for Linux x86-64 |",
        f"| `cache/` | {sizes['cache'] / 1e6:.0f} MB | the data cache: point `COURSE_CACHE` at it |",
        f"| `course.tar.gz` | {sizes['course'] / 1e6:.0f} MB | the repository |",
        "",
        "torch in the wheelhouse, per Python version (the CPU build; never PyPI's CUDA build):",
        "",
        *[f"- Python {version}: {what}" for version, what in torches.items()],
        "",
        "Where a Python version has no torch wheel here, download the CPU build on a machine with a network and",
        "put it into `wheelhouse/`, e.g. `pip download torch==<version>+cpu --no-deps --only-binary=:all: "
        f"--python-version 3.12 --platform manylinux_2_28_x86_64 --index-url {TORCH_CPU_INDEX} -d wheelhouse`.",
        "",
        "## Install and run, offline",
        "",
        "```bash",
        "mkdir course && tar -xzf course.tar.gz -C course && cd course",
        "python3 -m venv .venv",
        ".venv/bin/python -m pip install --no-index --find-links ../wheelhouse -r requirements.txt",
        ".venv/bin/python -m pip install --no-index --find-links ../wheelhouse --no-deps -e .",
        "export COURSE_CACHE=$(cd ../cache && pwd)",
        "make lab   # or: COURSE_QUICK=1 make lab",
        "```",
        "",
        "With `COURSE_CACHE` set, the data loaders find every dataset and model in the cache and fetch nothing;",
        "`notebooks/00_setup.ipynb` lists each artifact as cached. Copy the whole folder to each machine (or share",
        "`cache/` read-only: the chapters write their own outputs, trained models and predictions, next to it).",
        "",
    ]
    return "\n".join(lines)


def _course_archive(dest: Path) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    subprocess.run(["git", "archive", "--format=tar.gz", "-o", str(dest), "HEAD"], cwd=ROOT, check=True)
    return commit


def build_kit(out: Path, requirements: Path, pythons: list[str], cache: Path, link_cache: bool) -> dict:
    """Build the kit in ``out``; return its summary (times, sizes, torch per Python), also saved as kit.json."""
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    start = time.perf_counter()
    torches = build_wheelhouse(out / "wheelhouse", requirements, pythons)
    times["wheelhouse_s"] = time.perf_counter() - start
    start = time.perf_counter()
    copy_cache(cache, out / "cache", link_cache)
    times["cache_s"] = time.perf_counter() - start
    commit = _course_archive(out / "course.tar.gz")
    sizes = {"wheelhouse": folder_size(out / "wheelhouse"), "cache": folder_size(out / "cache"),
             "course": (out / "course.tar.gz").stat().st_size}
    (out / "README.md").write_text(readme_text(torches, sizes, commit))
    resolved_with = {version: _interpreter(version) for version in pythons}
    summary = {"commit": commit, "pythons": pythons, "torch": torches, "resolved_with": resolved_with, "sizes_bytes": sizes,
               "wheels": len(list((out / "wheelhouse").glob("*.whl"))), **times}
    (out / "kit.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    from utils.env import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "offline-kit")
    parser.add_argument("--python", nargs="+", default=["3.11", "3.12"], help="Python versions of the wheelhouse")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--interpreter", action="append", default=[], metavar="VERSION=PATH",
                        help="the Python to resolve a version's wheels with, e.g. 3.12=/usr/bin/python3.12 "
                             "(default: python3.X on PATH)")
    parser.add_argument("--link-cache", action="store_true", help="hard-link the cache files instead of copying them")
    args = parser.parse_args(argv)
    bad = [v for v in args.python if not re.fullmatch(r"3\.\d+", v)]
    if bad:
        parser.error(f"--python takes versions such as 3.11 or 3.12, got {bad}")
    for item in args.interpreter:
        version, _, path = item.partition("=")
        if not re.fullmatch(r"3\.\d+", version) or not Path(path).is_file():
            parser.error(f"--interpreter takes VERSION=PATH with an existing python, got {item!r}")
        INTERPRETERS[version] = path
    started = time.perf_counter()
    summary = build_kit(args.out, args.requirements, args.python, cache_dir(), args.link_cache)
    sizes = summary["sizes_bytes"]
    print(f"offline kit in {args.out}: {summary['wheels']} wheels ({sizes['wheelhouse'] / 1e6:.0f} MB), cache "
          f"{sizes['cache'] / 1e6:.0f} MB, course {sizes['course'] / 1e6:.1f} MB; "
          f"{sum(sizes.values()) / 1e9:.2f} GB in all, built in {time.perf_counter() - started:.0f} s")
    for version, what in summary["torch"].items():
        print(f"  torch for Python {version}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
