"""The instructor guide's agendas and run-time tables, computed from the chapters' stamps when the book is built.

A page asks for one with a directive-style block that the extension replaces before the page is parsed (an
unknown name is left in place and fails the build as an unknown directive)::

    ```{course-agenda} three-hours
    ```

    ```{course-run-times}
    ```

Every time comes from a chapter's ``course_stamp`` (quick CPU, full CPU; GPU from a cuda stamp or from a recording
in notebooks/recorded/ that names the notebook) or from an agenda's stated allowances (minutes of teaching per
chapter, minutes per exercise, breaks): nothing else is typed in. Chapters are found by pattern
(notebooks/NN_*.ipynb), exercises by the student tool's rules (scripts/make_student.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

EXERCISE_MINUTES = 10  # per exercise: the learners write it, then the solution is shown and checked
_BLOCK = re.compile(r"```\{(course-agenda|course-run-times)\}[ \t]*([\w-]*)[ \t]*\n```", re.MULTILINE)


@dataclass(frozen=True)
class Chapter:
    """What an agenda needs from one chapter: its title, measured run times (seconds; None = not measured), exercises."""

    name: str  # "05_transformer"
    title: str  # "5. The transformer, assembled"
    quick_cpu_s: float | None
    full_cpu_s: float | None
    gpu_s: float | None
    gpu_device: str | None
    exercises: tuple[str, ...]  # "Exercise 1: RMSNorm from the formula", ...


@dataclass(frozen=True)
class Agenda:
    """A workshop format: its length, the chapters it covers and the allowances its times are computed with."""

    key: str
    title: str
    length_min: int  # from the first minute to the last, breaks included
    chapters: tuple[str, ...] | None  # two-digit chapter numbers; None = every chapter
    teaching_min_per_chapter: int  # explaining and reading along, besides running cells and exercises
    breaks_min: int


AGENDAS = (
    Agenda("three-hours", "3 hours: from attention to a working transformer", 180, ("00", "03", "05"), 35, 15),
    Agenda("one-day", "1 day: chapters 0 to 5", 8 * 60, ("00", "01", "02", "03", "04", "05"), 40, 60 + 2 * 15),
    Agenda("two-days", "2 days: the whole course", 2 * 8 * 60, None, 35, 2 * (60 + 2 * 15)),
)


def _make_student():
    path = Path(__file__).resolve().parents[2] / "scripts" / "make_student.py"
    if "make_student" not in sys.modules:
        spec = importlib.util.spec_from_file_location("make_student", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["make_student"] = module
        spec.loader.exec_module(module)
    return sys.modules["make_student"]


def gpu_recordings(recorded_dir: Path) -> dict[str, dict]:
    """``notebook path -> recording`` for the JSON files in ``recorded_dir`` that record a whole chapter's run.

    A chapter recording holds ``"notebook": "notebooks/NN_name.ipynb"``, ``"device"``, ``"device_name"`` and
    ``"wall_time_s"`` (the fields of a stamp); recordings of a script's measurements (no ``notebook``) are skipped.
    """
    found: dict[str, dict] = {}
    folder = Path(recorded_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); fix or delete the recording") from None
        if isinstance(record, dict) and "notebook" in record and isinstance(record.get("wall_time_s"), (int, float)):
            found[record["notebook"]] = record
    return found


def run_times(stamp: dict | None, recording: dict | None = None) -> dict[str, float | str | None]:
    """``quick_cpu_s``, ``full_cpu_s``, ``gpu_s`` and ``gpu_device`` from a stamp (and a GPU recording); None = not measured.

    The quick run of ``utils.notebook execute`` is timed on the machine of the full run, so a CPU stamp gives both CPU
    times and a cuda stamp gives the GPU time; a recording of the chapter on a GPU gives the GPU time too.
    """
    times: dict[str, float | str | None] = {"quick_cpu_s": None, "full_cpu_s": None, "gpu_s": None, "gpu_device": None}
    if stamp is not None and not isinstance(stamp, dict):
        raise TypeError(f"expected the course stamp to be a dict or None, got {type(stamp).__name__}")
    if stamp and stamp.get("mode") == "full":
        if stamp.get("device") == "cpu":
            times["full_cpu_s"] = stamp.get("wall_time_s")
            quick_where = str(stamp.get("quick_device_name") or "cpu")
            if quick_where.lower().startswith("cpu"):
                times["quick_cpu_s"] = stamp.get("quick_wall_time_s")
        elif stamp.get("device") == "cuda":
            times["gpu_s"], times["gpu_device"] = stamp.get("wall_time_s"), stamp.get("device_name") or "cuda"
    if recording and recording.get("device") == "cuda" and times["gpu_s"] is None:
        times["gpu_s"], times["gpu_device"] = recording["wall_time_s"], recording.get("device_name") or "cuda"
    return times


def _title(nb: dict, fallback: str) -> str:
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", ""))
        for line in source.splitlines():
            if cell.get("cell_type") == "markdown" and line.startswith("# "):
                return line[2:].strip()
    return fallback


def read_chapters(notebooks_dir: Path, recorded_dir: Path | None = None, only: set[str] | None = None) -> list[Chapter]:
    """Every chapter of ``notebooks_dir`` (or those whose names are in ``only``, e.g. the book's) with its measured
    times and its exercises, in chapter order."""
    import nbformat

    student = _make_student()
    recordings = gpu_recordings(recorded_dir if recorded_dir is not None else Path(notebooks_dir) / "recorded")
    chapters = []
    for path in student.chapter_paths(Path(notebooks_dir)):
        if only is not None and path.stem not in only:
            continue
        nb = nbformat.read(path, as_version=4)
        times = run_times(nb.metadata.get("course_stamp"), recordings.get(f"notebooks/{path.name}"))
        exercises = tuple(f"Exercise {e.number}: {e.title or e.function}" for e in student.find_exercises(nb, path.stem))
        chapters.append(Chapter(path.stem, _title(nb, path.stem), times["quick_cpu_s"], times["full_cpu_s"],
                                times["gpu_s"], times["gpu_device"], exercises))
    return chapters


def run_minutes(seconds: float | None) -> int:
    """Whole minutes a run takes in the room (rounded up); 0 for an unmeasured run (the page says which)."""
    return 0 if seconds is None else math.ceil(seconds / 60)


@dataclass(frozen=True)
class Block:
    """One chapter of an agenda: minutes of teaching, of running it in quick mode, and the exercises assigned."""

    chapter: Chapter
    teaching_min: int
    run_min: int
    exercises: tuple[str, ...]

    @property
    def minutes(self) -> int:
        return self.teaching_min + self.run_min + EXERCISE_MINUTES * len(self.exercises)


def plan(agenda: Agenda, chapters: list[Chapter]) -> list[Block]:
    """The agenda's blocks: its chapters, each with as many exercises as fit in its length.

    Exercises are added one round at a time (every chapter's first, then every chapter's second, ...) while the
    total, breaks included, stays within ``agenda.length_min``.
    """
    chosen = [c for c in chapters if agenda.chapters is None or c.name[:2] in agenda.chapters]
    if agenda.chapters is not None and len(chosen) != len(agenda.chapters):
        missing = sorted(set(agenda.chapters) - {c.name[:2] for c in chosen})
        raise ValueError(f"agenda {agenda.key!r} names chapters {', '.join(missing)}, which notebooks/ does not hold")
    counts = [0] * len(chosen)
    total = agenda.breaks_min + sum(agenda.teaching_min_per_chapter + run_minutes(c.quick_cpu_s) for c in chosen)
    for round_ in range(max((len(c.exercises) for c in chosen), default=0)):
        for i, chapter in enumerate(chosen):
            if round_ < len(chapter.exercises) and total + EXERCISE_MINUTES <= agenda.length_min:
                counts[i] += 1
                total += EXERCISE_MINUTES
    return [Block(c, agenda.teaching_min_per_chapter, run_minutes(c.quick_cpu_s), c.exercises[:n])
            for c, n in zip(chosen, counts)]


def total_minutes(agenda: Agenda, blocks: list[Block]) -> int:
    """The agenda's length as planned: every block plus the breaks."""
    return agenda.breaks_min + sum(block.minutes for block in blocks)


def _clock(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def _seconds(seconds: float | None) -> str:
    from course_ext import format_duration

    return "not measured" if seconds is None else format_duration(seconds)


def _doc(chapter: Chapter) -> str:
    return f"{{doc}}`/notebooks/{chapter.name}`"


def agenda_markdown(agenda: Agenda, chapters: list[Chapter]) -> str:
    """The Markdown of one agenda: a table of its blocks, the total and whether it fits, computed from ``chapters``."""
    blocks = plan(agenda, chapters)
    total = total_minutes(agenda, blocks)
    rows = ["| chapter | teaching | running it (quick mode, CPU, measured) | exercises to assign | minutes |",
            "|---|---|---|---|---|"]
    for block in blocks:
        run = _seconds(block.chapter.quick_cpu_s)
        exercises = "; ".join(block.exercises) or "none (no time left)" if block.chapter.exercises else "—"
        rows.append(f"| {_doc(block.chapter)} | {block.teaching_min} min | {run} → {block.run_min} min | "
                    f"{exercises} | {block.minutes} |")
    rows.append(f"| breaks | | | | {agenda.breaks_min} |")
    rows.append(f"| **total** | | | | **{total}** ({_clock(total)}) |")
    unmeasured = [b.chapter.name for b in blocks if b.chapter.quick_cpu_s is None]
    assigned = sum(len(b.exercises) for b in blocks)
    available = sum(len(b.chapter.exercises) for b in blocks)
    fits = (f"It fits in {_clock(agenda.length_min)} with {agenda.length_min - total} min to spare"
            if total <= agenda.length_min else f"It is {total - agenda.length_min} min over {_clock(agenda.length_min)}")
    notes = [f"{fits}; {assigned} of the {available} exercises of these chapters fit."]
    if unmeasured:
        notes.append(f"Not measured yet, counted as 0 min of running: {', '.join(unmeasured)}.")
    return "\n".join(rows) + "\n\n" + " ".join(notes) + "\n"


def run_times_markdown(chapters: list[Chapter]) -> str:
    """A table of every chapter's measured run times, and what running them all in order before the room costs."""
    rows = ["| chapter | quick mode, CPU | full mode, CPU | GPU |", "|---|---|---|---|"]
    for c in chapters:
        gpu = f"{_seconds(c.gpu_s)} ({c.gpu_device})" if c.gpu_s is not None else "not recorded"
        rows.append(f"| {_doc(c)} | {_seconds(c.quick_cpu_s)} | {_seconds(c.full_cpu_s)} | {gpu} |")
    quick = sum(c.quick_cpu_s or 0 for c in chapters)
    full = sum(c.full_cpu_s or 0 for c in chapters)
    unmeasured = [c.name for c in chapters if c.quick_cpu_s is None or c.full_cpu_s is None]
    text = (f"\n\nEvery chapter in order, quick mode on a CPU: {_seconds(quick)}; full mode on a CPU: "
            f"{_seconds(full)}.")
    if unmeasured:
        text += f" Without {', '.join(unmeasured)}, whose CPU runs are not measured yet."
    return "\n".join(rows) + text + "\n"


def expand_blocks(text: str, chapters: list[Chapter]) -> str:
    """Replace every ``{course-agenda} KEY`` and ``{course-run-times}`` block of a page by its computed Markdown."""
    agendas = {agenda.key: agenda for agenda in AGENDAS}

    def replace(match: re.Match) -> str:
        kind, key = match.group(1), match.group(2)
        if kind == "course-run-times":
            return run_times_markdown(chapters)
        if key not in agendas:
            raise ValueError(f"no agenda {key!r}; known: {', '.join(agendas)}")
        return agenda_markdown(agendas[key], chapters)

    return _BLOCK.sub(replace, text)
