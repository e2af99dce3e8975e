"""Sphinx extension of the course website.

1. MathJax: use the local copy in book/_static/mathjax when it is there (scripts/fetch_mathjax.py),
   otherwise fall back to the CDN and say so loudly.
2. The stamp banner: every notebook page gets, right under its title, a note saying where its
   outputs come from (the `course_stamp` that `python -m utils.notebook execute NB` writes into the
   notebook metadata), or a warning when the notebook has not been executed in full mode.
3. A fix for repeated inline <script> tags (a JavaScript error on every page otherwise).
4. The chapter opening: above the stamp banner, the chapter's measured run times (quick mode on a CPU, full mode
   on a CPU, a GPU where recorded), taken from its stamp, and a link to its student version, which the build
   writes into the site's student/ folder (scripts/make_student.py).
5. The instructor guide's agendas and run-time tables, computed from the stamps (book/_ext/course_agendas.py).

The banner is added on Sphinx's `source-read` event: for a notebook, myst-nb parses exactly the
text this event hands over (the notebook's JSON), so adding Markdown to the first cell there is
enough; the notebook file itself and its download copy are left untouched.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STAMP_KEY = "course_stamp"
LOCAL_MATHJAX = "mathjax/tex-chtml.js"  # relative to book/_static, i.e. to the site's _static/
STATIC_DIR = "book/_static"
# Same version as scripts/fetch_mathjax.py pins.
CDN_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-chtml.js"
STUDENT_DIR = "student"  # in the site, beside notebooks/: the student versions of the chapters
REQUIRED_KEYS = ("mode", "device", "wall_time_s", "executed_at")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]<>#|~$])")


# ---------------------------------------------------------------------------------------------
# Pure functions (unit-tested in tests/test_book_ext.py)
# ---------------------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """Human-readable duration: 0.8 s, 42 s, 4 min 12 s, 1 h 03 min."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        raise TypeError(f"expected a duration in seconds (int or float), got {type(seconds).__name__}")
    if seconds < 0:
        raise ValueError(f"expected a non-negative duration, got {seconds}")
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min {secs:02d} s"
    hours, rest = divmod(total, 3600)
    return f"{hours} h {rest // 60:02d} min"


def format_date(executed_at: str) -> str:
    """ISO-8601 timestamp -> 'YYYY-MM-DD' (UTC). A timestamp without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(executed_at.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as error:
        raise ValueError(f"expected an ISO-8601 time for executed_at, got {executed_at!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def escape_markdown(text: str) -> str:
    """Backslash-escape the characters that Markdown/MyST would interpret."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def _admonition(kind: str, css_class: str, body: str) -> str:
    return f"```{{{kind}}}\n:class: {css_class}\n{body}\n```"


def stamp_markdown(stamp: dict[str, Any] | None, notebook: str = "<this notebook>") -> str:
    """Turn a notebook's `course_stamp` metadata into the MyST Markdown of its banner.

    A full-mode stamp gives a `note` admonition (class `course-stamp`):
    "Outputs on this page come from a full-mode run on <device_name> (<device>) in <wall time>,
    <date> (UTC), torch <v>, transformers <v>. Quick mode (`COURSE_QUICK=1`): <time> on <where>."
    No stamp, or a stamp whose mode is not "full", gives a `warning` admonition (class
    `course-stamp-missing`) saying the notebook has not yet been executed in full mode.
    Raises ValueError when the stamp lacks a required key (mode, device, wall_time_s,
    executed_at) or holds an unreadable value, TypeError when it is not a dict. `notebook` is the
    path named in the warning's `make execute NB=...` command.
    """
    if stamp is None:
        return _admonition(
            "warning",
            "course-stamp-missing",
            "This notebook has not yet been executed in full mode: any outputs below are not the "
            f"course's reference results. `make execute NB={notebook}` produces and stamps them.",
        )
    if not isinstance(stamp, dict):
        raise TypeError(f"expected the course stamp to be a dict, got {type(stamp).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in stamp]
    if missing:
        raise ValueError(f"course stamp lacks {', '.join(missing)}; it has {sorted(stamp)}")

    device = escape_markdown(stamp["device"])
    device_name = escape_markdown(stamp.get("device_name") or stamp["device"])
    # "NVIDIA H100 80GB HBM3 (cuda)", but "cpu (x86_64, 2 cores)" rather than "cpu (x86_64, 2 cores) (cpu)"
    suffix = "" if device_name.lower().startswith(device.lower()) else f" ({device})"
    wall = format_duration(stamp["wall_time_s"])
    date = format_date(stamp["executed_at"])
    versions = stamp.get("versions") or {}
    libraries = "".join(
        f", {name} {escape_markdown(versions[name])}" for name in ("torch", "transformers") if versions.get(name)
    )
    if stamp["mode"] != "full":
        return _admonition(
            "warning",
            "course-stamp-missing",
            f"Outputs on this page come from a {escape_markdown(stamp['mode'])}-mode run on {device_name}{suffix}, "
            f"{date} (UTC): this notebook has not yet been executed in full mode.",
        )
    quick = stamp.get("quick_wall_time_s")
    if quick is None:
        quick_text = "not measured."
    else:
        where = stamp.get("quick_device_name")
        where_text = f"on {escape_markdown(where)}" if where else "on the same machine"
        quick_text = f"{format_duration(quick)} {where_text}."
    body = (
        f"Outputs on this page come from a full-mode run on **{device_name}**{suffix} in {wall}, "
        f"{date} (UTC){libraries}. Quick mode (`COURSE_QUICK=1`): {quick_text}{_shared_machine(stamp)}"
    )
    return _admonition("note", "course-stamp", body)


def _shared_machine(stamp: dict[str, Any]) -> str:
    """A sentence for a run on a busy machine (1-minute load average above the number of cores), else ''."""
    load, cores = stamp.get("load_average"), stamp.get("cpu_count")
    if not isinstance(load, (int, float)) or not isinstance(cores, int) or not load > cores:
        return ""
    return (f" The machine was shared during the run (load average {load:.1f} on {cores} cores): its times are "
            "longer than on a quiet machine.")


def _as_text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def opening_markdown(stamp: dict[str, Any] | None, recording: dict[str, Any] | None = None,
                     student_href: str | None = None) -> str:
    """The `Time to run` admonition (class `course-run-times`) that opens a chapter.

    "Time to run, measured (this chapter's stamp): quick mode on a CPU <t> · full mode on a CPU <t> · on a GPU <t>
    (<device>)", each "not measured" (or "not recorded" for the GPU) when the stamp has no such run; then, with
    `student_href`, a download link to the chapter's student version and what to do with it.
    """
    from course_agendas import run_times

    times = run_times(stamp, recording)

    def shown(key: str, missing: str = "not measured") -> str:
        return missing if times[key] is None else format_duration(times[key])

    gpu = f"**{shown('gpu_s', 'not recorded')}**"
    if times["gpu_s"] is not None:
        gpu += f" ({escape_markdown(times['gpu_device'])})"
    body = (f"Measured, from this chapter's stamp: quick mode (`COURSE_QUICK=1`) on a CPU **{shown('quick_cpu_s')}** "
            f"· full mode on a CPU **{shown('full_cpu_s')}** · on a GPU {gpu}.")
    if student_href:
        name = student_href.rsplit("/", 1)[-1]
        body += (f"\n\nStudent version, the exercises as stubs and no solutions: "
                 f'<a class="course-student" href="{student_href}" download>{name}</a>. Save it in the course\'s '
                 "`student/` folder (`make student` writes the same files there) and open it in JupyterLab, or upload "
                 "it to Colab (File → Upload notebook): its first cell fetches the course there.")
    return f"```{{admonition}} Time to run\n:class: course-run-times\n{body}\n```"


def add_banner(notebook_json: str, notebook: str = "<this notebook>", recording: dict[str, Any] | None = None,
               student_href: str | None = None) -> str:
    """Return the notebook JSON with the chapter opening and the stamp banner placed right under the title.

    They go into the first Markdown cell, just after its first `# ` heading line, so they sit under the page
    title and above the cell's "What you will learn": first the `Time to run` admonition
    (:func:`opening_markdown`), then the stamp banner (:func:`stamp_markdown`). A notebook whose first Markdown
    cell has no level-1 heading gets them as a new first cell.
    """
    content = json.loads(notebook_json)
    stamp = content.get("metadata", {}).get(STAMP_KEY)
    banner = stamp_markdown(stamp, notebook)
    banner = f"{opening_markdown(stamp, recording, student_href)}\n\n{banner}"
    cells = content.setdefault("cells", [])
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        lines = _as_text(cell.get("source", "")).splitlines(keepends=True)
        for index, line in enumerate(lines):
            if line.startswith("# "):
                head = "".join(lines[: index + 1]).rstrip("\n")
                tail = "".join(lines[index + 1 :]).lstrip("\n")
                cell["source"] = f"{head}\n\n{banner}\n\n{tail}".rstrip("\n") + "\n"
                return json.dumps(content, ensure_ascii=False)
        break
    new_cell: dict[str, Any] = {"cell_type": "markdown", "metadata": {}, "source": banner}
    if content.get("nbformat", 4) >= 4 and content.get("nbformat_minor", 0) >= 5:
        new_cell["id"] = "course-stamp-banner"
    cells.insert(0, new_cell)
    return json.dumps(content, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Sphinx hooks
# ---------------------------------------------------------------------------------------------
def _choose_mathjax(app, config) -> None:
    """config-inited: serve the local MathJax when present, else fall back to the CDN."""
    from sphinx.util import logging
    from sphinx.util.console import bold, red

    logger = logging.getLogger(__name__)
    static = Path(app.confdir) / STATIC_DIR
    if (static / LOCAL_MATHJAX).is_file():
        if STATIC_DIR not in config.html_static_path:
            config.html_static_path.append(STATIC_DIR)
        config.mathjax_path = LOCAL_MATHJAX
        logger.info(f"course_ext: MathJax served locally from {STATIC_DIR}/{LOCAL_MATHJAX}")
        return
    if not static.is_dir() and STATIC_DIR in config.html_static_path:
        config.html_static_path.remove(STATIC_DIR)  # an absent static folder is a Sphinx warning
    config.mathjax_path = CDN_MATHJAX
    # Printed, not a Sphinx warning: the book must still build (with -W) where npm is missing.
    logger.info(
        bold(red("WARNING: ")) + f"no local MathJax in {STATIC_DIR}/mathjax (run `python scripts/fetch_mathjax.py`); "
        f"pages load MathJax from {CDN_MATHJAX} and show raw LaTeX when offline."
    )


def _insert_stamp_banner(app, docname: str, source: list[str]) -> None:
    """source-read: add the chapter opening and the stamp banner to notebook pages, the agendas to the guide's."""
    from sphinx.util import logging

    import course_agendas

    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        if "{course-agenda}" in source[0] or "{course-run-times}" in source[0]:
            in_book = {doc.split("/", 1)[1] for doc in app.env.found_docs if doc.startswith("notebooks/")}
            chapters = course_agendas.read_chapters(Path(app.srcdir) / "notebooks", only=in_book)
            source[0] = course_agendas.expand_blocks(source[0], chapters)
        return
    relative = path.relative_to(app.srcdir).as_posix()
    student_href = None
    if (Path(app.outdir) / STUDENT_DIR / path.name).is_file():
        student_href = "../" * docname.count("/") + f"{STUDENT_DIR}/{path.name}"
    recording = course_agendas.gpu_recordings(Path(app.srcdir) / "notebooks" / "recorded").get(relative)
    try:
        source[0] = add_banner(source[0], relative, recording, student_href)
    except (ValueError, TypeError) as error:
        logging.getLogger(__name__).warning(
            f"cannot read the course stamp: {error}", location=docname, type="course", subtype="stamp"
        )


def _write_student_versions(app) -> None:
    """builder-inited: the student version of every chapter into the site's student/ folder (linked from each chapter)."""
    from sphinx.util import logging

    if app.builder.format != "html":
        return
    from course_agendas import _make_student

    make_student = _make_student()
    chapters = make_student.chapter_paths(Path(app.srcdir) / "notebooks")
    written = make_student.write_student_versions(chapters, Path(app.outdir) / STUDENT_DIR)
    logging.getLogger(__name__).info(f"course_ext: {len(written)} student notebooks in {STUDENT_DIR}/")


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: drop repeated <script> tags from a page.

    With Sphinx 7, an inline script added by an extension as `add_js_file(None, body=...)` (sphinx-thebe
    does) is registered twice, once with filename None and once with '', so each page declared
    `const THEBE_JS_URL` twice: a JavaScript SyntaxError on every page.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app) -> dict[str, Any]:
    app.connect("config-inited", _choose_mathjax, priority=400)  # before Sphinx validates html_static_path
    app.connect("builder-inited", _write_student_versions)
    app.connect("source-read", _insert_stamp_banner)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)  # after others add scripts
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
