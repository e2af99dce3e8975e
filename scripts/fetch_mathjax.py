"""Put a local copy of MathJax 3 into book/_static/mathjax so the website typesets math offline.

    python scripts/fetch_mathjax.py                     # npm pack mathjax@3.2.2, verify, extract
    python scripts/fetch_mathjax.py --tarball FILE.tgz  # use a tarball fetched earlier (offline)

The tarball comes from the npm registry through `npm pack` (the ordinary client), its sha512 is
checked against the value pinned below, and only its `es5/` folder (plus the licence) is extracted,
as plain files (no links, no file modes, no paths outside the folder). The folder is ignored by
git; the website serves it through `html_static_path` and `mathjax_path` (see _config.yml).

When npm is missing or the registry cannot be reached, a WARNING is printed and the script exits 0:
the book still builds, and book/_ext/course_ext.py points pages at the MathJax CDN instead, so
math is typeset only when the reader is online.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

MATHJAX_VERSION = "3.2.2"
# `npm view mathjax@3.2.2 dist.integrity` (the registry's Subresource Integrity value of the tarball)
MATHJAX_INTEGRITY = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
ENTRY_POINT = "tex-chtml.js"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO_ROOT / "book" / "_static" / "mathjax"
STAMP_NAME = ".mathjax-version"  # dot file: Sphinx does not copy it into the site


def warn(message: str) -> None:
    """Print a warning that stands out in a Makefile's output."""
    print(f"WARNING: {message}", file=sys.stderr)


def sri_sha512(path: Path) -> str:
    """Return the Subresource Integrity string ('sha512-<base64>') of a file, as npm writes it."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def npm_pack(workdir: Path) -> Path | None:
    """Download the pinned MathJax tarball with `npm pack` into workdir; None when npm cannot."""
    npm = shutil.which("npm")
    if npm is None:
        warn(
            "npm is not installed, so MathJax cannot be fetched. The book still builds, but its pages "
            "will load MathJax from a CDN and show raw LaTeX offline. Install Node.js/npm "
            "(Debian: apt-get install npm) and run `python scripts/fetch_mathjax.py` again."
        )
        return None
    spec = f"mathjax@{MATHJAX_VERSION}"
    result = subprocess.run(
        [npm, "pack", spec, "--ignore-scripts", "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    tarball = workdir / f"mathjax-{MATHJAX_VERSION}.tgz"
    if result.returncode != 0 or not tarball.is_file():
        warn(
            f"`npm pack {spec}` failed (exit {result.returncode}): {result.stderr.strip()[-400:]}\n"
            "The book still builds, but its pages will load MathJax from a CDN. If you are offline, "
            "copy a mathjax tarball here and use --tarball."
        )
        return None
    return tarball


def extract_es5(tarball: Path, dest: Path) -> int:
    """Extract package/es5/* (and the licence) of a verified MathJax tarball into dest.

    Replaces dest atomically enough for a build folder: extract to a sibling, then rename.
    Returns the number of files extracted.
    """
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.startswith("package/es5/") and member.isfile():
                member.name = member.name[len("package/es5/"):]
            elif member.name == "package/LICENSE":
                member.name = "LICENSE"
            else:
                continue
            target = (staging / member.name).resolve()
            if not target.is_relative_to(staging.resolve()):  # refuse "../" or absolute names
                raise RuntimeError(f"unsafe path in {tarball}: {member.name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                raise RuntimeError(f"cannot read {member.name!r} in {tarball}")
            target.write_bytes(source.read())  # regular files only: no links, modes or owners
            count += 1
    if not (staging / ENTRY_POINT).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"{tarball} has no es5/{ENTRY_POINT}: is it really mathjax {MATHJAX_VERSION}?")
    (staging / STAMP_NAME).write_text(f"{MATHJAX_VERSION} {MATHJAX_INTEGRITY}\n", encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return count


def is_current(dest: Path) -> bool:
    """True when dest already holds the pinned MathJax version."""
    stamp = dest / STAMP_NAME
    return (
        (dest / ENTRY_POINT).is_file()
        and stamp.is_file()
        and stamp.read_text(encoding="utf-8").split()[:1] == [MATHJAX_VERSION]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help="a mathjax-X.Y.Z.tgz fetched earlier (skips npm)")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="target folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="fetch again even if the folder is current")
    args = parser.parse_args(argv)

    if is_current(args.dest) and not args.force:
        print(f"MathJax {MATHJAX_VERSION} already in {args.dest}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mathjax-") as tmp:
        tarball = args.tarball or npm_pack(Path(tmp))
        if tarball is None:
            return 0
        integrity = sri_sha512(tarball)
        if integrity != MATHJAX_INTEGRITY:
            print(
                f"ERROR: {tarball} has integrity {integrity}, expected {MATHJAX_INTEGRITY} "
                f"(mathjax {MATHJAX_VERSION}). Refusing to use it.",
                file=sys.stderr,
            )
            return 1
        count = extract_es5(tarball, args.dest)
    print(f"MathJax {MATHJAX_VERSION} (integrity verified): {count} files in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
