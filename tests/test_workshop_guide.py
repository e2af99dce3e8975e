"""The instructor guide: agendas and run-time tables computed from the chapters' stamps, and a failures page whose
quoted messages are the course's own (each is triggered here)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))  # as Sphinx's local_extensions does
import course_agendas  # noqa: E402
import course_ext  # noqa: E402

CHAPTERS = course_agendas.read_chapters(ROOT / "notebooks")


def _chapter(name: str, quick: float | None, n_exercises: int) -> course_agendas.Chapter:
    exercises = tuple(f"Exercise {i + 1}: e{i + 1}" for i in range(n_exercises))
    return course_agendas.Chapter(name, name, quick, None, None, None, exercises)


def test_chapters_come_from_the_stamps_and_the_notebooks():
    assert [c.name for c in CHAPTERS] == [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    for chapter in CHAPTERS:
        stamp = nbformat.read(ROOT / "notebooks" / f"{chapter.name}.ipynb", as_version=4).metadata.get("course_stamp")
        if stamp and stamp.get("device") == "cpu" and stamp.get("mode") == "full":
            assert chapter.quick_cpu_s == stamp.get("quick_wall_time_s")
            assert chapter.full_cpu_s == stamp["wall_time_s"]
    history = next(c for c in CHAPTERS if c.name.startswith("01"))
    assert history.exercises[0] == "Exercise 1: the compute of an encoder-decoder"


def test_plan_adds_exercises_round_by_round_while_they_fit():
    agenda = course_agendas.Agenda("t", "test", 100, ("00", "01"), 20, 10)
    chapters = [_chapter("00_a", 30.0, 3), _chapter("01_b", 61.0, 3), _chapter("02_c", 5.0, 1)]
    blocks = course_agendas.plan(agenda, chapters)
    assert [b.chapter.name for b in blocks] == ["00_a", "01_b"]
    assert [b.run_min for b in blocks] == [1, 2]  # measured seconds rounded up to minutes
    fixed = 10 + (20 + 1) + (20 + 2)  # breaks, then teaching and running per chapter
    # 100 - 53 leaves room for 4 exercises: every chapter's first, then every chapter's second
    assert [b.exercises for b in blocks] == [("Exercise 1: e1", "Exercise 2: e2")] * 2
    assert course_agendas.total_minutes(agenda, blocks) == fixed + 4 * course_agendas.EXERCISE_MINUTES == 93
    longer = course_agendas.plan(agenda, [dataclasses.replace(chapters[0], quick_cpu_s=30 * 60.0), *chapters[1:]])
    assert [len(b.exercises) for b in longer] == [1, 0]  # a slower run leaves room for fewer exercises


def test_every_agenda_page_block_is_computed_from_the_chapters():
    for agenda in course_agendas.AGENDAS:
        blocks = course_agendas.plan(agenda, CHAPTERS)
        total = course_agendas.total_minutes(agenda, blocks)
        assert total == agenda.breaks_min + sum(
            agenda.teaching_min_per_chapter + math.ceil((b.chapter.quick_cpu_s or 0) / 60)
            + course_agendas.EXERCISE_MINUTES * len(b.exercises) for b in blocks)
        text = course_agendas.agenda_markdown(agenda, CHAPTERS)
        assert f"| **total** | | | | **{total}** (" in text
        assert f"{sum(len(b.exercises) for b in blocks)} of the {sum(len(b.chapter.exercises) for b in blocks)} " \
               "exercises of these chapters fit" in text
        for block in blocks:
            assert f"{{doc}}`/notebooks/{block.chapter.name}`" in text
    for key in ("three-hours", "one-day"):  # fixed chapter lists: they must fit their length
        agenda = next(a for a in course_agendas.AGENDAS if a.key == key)
        assert course_agendas.total_minutes(agenda, course_agendas.plan(agenda, CHAPTERS)) <= agenda.length_min
    whole = next(a for a in course_agendas.AGENDAS if a.key == "two-days")
    assert len(course_agendas.plan(whole, CHAPTERS)) == len(CHAPTERS)  # a new chapter joins the two days


def test_the_guide_pages_have_every_block_replaced():
    for page in ("book/workshop_guide.md", "book/workshop/agendas.md"):
        text = (ROOT / page).read_text()
        expanded = course_agendas.expand_blocks(text, CHAPTERS)
        assert "{course-agenda}" not in expanded and "{course-run-times}" not in expanded
    agendas = (ROOT / "book/workshop/agendas.md").read_text()
    assert len(re.findall(r"\{course-agenda\} ([\w-]+)", agendas)) == len(course_agendas.AGENDAS)
    table = course_agendas.run_times_markdown(CHAPTERS)
    quick = sum(c.quick_cpu_s or 0 for c in CHAPTERS)
    assert f"quick mode on a CPU: {course_ext.format_duration(quick)};" in table
    with pytest.raises(ValueError, match="no agenda 'four-days'"):
        course_agendas.expand_blocks("```{course-agenda} four-days\n```", CHAPTERS)
    agenda = course_agendas.Agenda("x", "x", 60, ("00", "42"), 10, 0)
    with pytest.raises(ValueError, match="names chapters 42, which notebooks/ does not hold"):
        course_agendas.plan(agenda, CHAPTERS)


def test_an_unmeasured_chapter_is_said_so():
    agenda = course_agendas.Agenda("t", "test", 120, None, 20, 0)
    text = course_agendas.agenda_markdown(agenda, [_chapter("00_a", None, 1), _chapter("01_b", 12.0, 0)])
    assert "not measured → 0 min" in text and "Not measured yet, counted as 0 min of running: 00_a." in text
    over = course_agendas.agenda_markdown(course_agendas.Agenda("t", "t", 30, None, 20, 0),
                                          [_chapter("00_a", 60.0, 2), _chapter("01_b", 60.0, 0)])
    assert "It is 12 min over 30 min; 0 of the 2 exercises of these chapters fit." in over


def _failure_messages(tmp_path: Path) -> dict[str, str]:
    """Each failure the page quotes, produced by the code that raises or prints it."""
    import contextlib
    import io
    import os

    import utils.env
    import utils.notebook
    import utils.registry
    from utils.exercises import run_exercise

    artifact = next(iter(utils.registry.REGISTRY.values()))
    messages = {
        "unreachable": str(utils.registry._pip_error(artifact, "Max retries exceeded with url")),
        "hash": str(utils.registry._hash_error(artifact, "0" * 64)),
    }
    try:
        utils.env.get_device("cuda" if not _has("cuda") else "mps")
    except RuntimeError as error:
        messages["device"] = str(error)
    old = os.environ.get("COURSE_CACHE")
    os.environ["COURSE_CACHE"] = str(ROOT / "README.md")
    try:
        utils.env.cache_dir()
    except NotADirectoryError as error:
        messages["cache"] = str(error)
    finally:
        os.environ.pop("COURSE_CACHE") if old is None else os.environ.__setitem__("COURSE_CACHE", old)

    def stub(x):
        raise NotImplementedError

    def checker(answer):
        answer(1)

    for key, answer in (("stub", stub), ("none", None)):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run_exercise(checker, answer)
        messages[key] = printed.getvalue()
    nb = nbformat.read(ROOT / "notebooks" / "01_history.ipynb", as_version=4)
    nb.cells[2].source += "\nx = 1"
    nbformat.write(nb, tmp_path / "01_history.ipynb")
    messages["stale"] = "; ".join(utils.notebook.problems(tmp_path / "01_history.ipynb"))
    serverapp = importlib.util.find_spec("jupyter_server.serverapp").origin
    messages["root"] = Path(serverapp).read_text()
    return messages


def _has(kind: str) -> bool:
    import torch

    return torch.cuda.is_available() if kind == "cuda" else torch.backends.mps.is_available()


def test_every_failure_the_page_quotes_is_a_message_the_course_gives(tmp_path):
    page = (ROOT / "book" / "workshop" / "failures.md").read_text()
    quoted = re.findall(r"^\| `([^`]+)` \|", page, flags=re.MULTILINE)
    messages = _failure_messages(tmp_path)
    assert len(quoted) == len(messages) == 8
    for quote in quoted:
        assert any(quote in message for message in messages.values()), f"no course message contains {quote!r}"


def test_make_lab_adds_allow_root_for_root_only_and_stays_local_with_a_token():
    def lab_command(user_id: str) -> str:
        out = subprocess.run(["make", "-n", "--no-print-directory", "lab", f"USER_ID={user_id}"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return next(line for line in out.splitlines() if "jupyter lab" in line)

    as_root, as_user = lab_command("0"), lab_command("1000")
    assert as_root.endswith(" --allow-root") and "--allow-root" not in as_user
    for command in (as_root, as_user):
        assert "--ip=127.0.0.1" in command and "token" not in command.lower()  # jupyter's default: a login token
    readme = (ROOT / "README.md").read_text()
    assert "--allow-root" in readme and "make lab" in readme
