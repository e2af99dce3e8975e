"""Tests of the website's Sphinx extension (book/_ext/course_ext.py): the chapter opening (run times, student
version), the stamp banner and MathJax choice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

EXT_PATH = Path(__file__).resolve().parent.parent / "book" / "_ext" / "course_ext.py"


def _load(name: str, path: Path):
    """Import a file that is not in a package (the Sphinx extension, a script) as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(EXT_PATH.parent))  # as Sphinx's local_extensions does: course_ext imports course_agendas
course_ext = _load("course_ext", EXT_PATH)

FULL_STAMP = {
    "mode": "full",
    "device": "cuda",
    "device_name": "NVIDIA H100 80GB HBM3",
    "wall_time_s": 252.4,
    "quick_wall_time_s": 41.7,
    "code_hash": "sha256:" + "0" * 64,
    "executed_at": "2025-11-27T13:45:10+00:00",
    "versions": {"python": "3.12.3", "torch": "2.13.0+cu128", "transformers": "5.24.0"},
}


def _notebook(stamp=None, first_source="# 3. The math of attention\n\nWhat you will learn: attention.") -> str:
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if stamp is not None:
        metadata["course_stamp"] = stamp
    cells = [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": first_source},
        {"cell_type": "code", "id": "setup", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import utils"},
    ]
    return json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.84, "0.8 s"), (9.96, "10.0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (252.4, "4 min 12 s"),
     (3599.4, "59 min 59 s"), (3600, "1 h 00 min"), (3 * 3600 + 7 * 60 + 30, "3 h 07 min")],
)
def test_format_duration(seconds, expected):
    assert course_ext.format_duration(seconds) == expected


def test_format_duration_rejects_bad_input():
    with pytest.raises(ValueError, match="non-negative duration, got -1"):
        course_ext.format_duration(-1)
    with pytest.raises(TypeError, match="int or float.*got str"):
        course_ext.format_duration("12")


@pytest.mark.parametrize(
    ("stamp_time", "expected"),
    [("2025-11-27T13:45:10+00:00", "2025-11-27"), ("2025-11-27T23:30:00Z", "2025-11-27"),
     ("2025-11-28T01:30:00+08:00", "2025-11-27"), ("2025-11-27T13:45:10", "2025-11-27")],
)
def test_format_date_is_utc(stamp_time, expected):
    assert course_ext.format_date(stamp_time) == expected


def test_format_date_rejects_non_iso():
    with pytest.raises(ValueError, match="ISO-8601 time for executed_at, got '27/11/2025'"):
        course_ext.format_date("27/11/2025")


def test_full_stamp_gives_note_with_every_fact():
    text = course_ext.stamp_markdown(FULL_STAMP)
    assert text.splitlines()[:2] == ["```{note}", ":class: course-stamp"]
    assert text.endswith("\n```")
    assert (
        "Outputs on this page come from a full-mode run on **NVIDIA H100 80GB HBM3** (cuda) in 4 min 12 s, "
        "2025-11-27 (UTC), torch 2.13.0+cu128, transformers 5.24.0. "
        "Quick mode (`COURSE_QUICK=1`): 42 s on the same machine." in text
    )


def test_quick_time_missing_and_quick_device_named():
    no_quick = course_ext.stamp_markdown({**FULL_STAMP, "quick_wall_time_s": None})
    assert "Quick mode (`COURSE_QUICK=1`): not measured." in no_quick
    elsewhere = course_ext.stamp_markdown({**FULL_STAMP, "quick_device_name": "a 2-core CPU"})
    assert "Quick mode (`COURSE_QUICK=1`): 42 s on a 2-core CPU." in elsewhere


def test_cpu_stamp_without_device_name_or_versions():
    stamp = {key: FULL_STAMP[key] for key in course_ext.REQUIRED_KEYS} | {"device": "cpu"}
    text = course_ext.stamp_markdown(stamp)
    assert "full-mode run on **cpu** in 4 min 12 s, 2025-11-27 (UTC). Quick mode" in text
    named = course_ext.stamp_markdown({**stamp, "device_name": "cpu (x86_64, 2 cores)"})
    assert r"full-mode run on **cpu (x86\_64, 2 cores)** in 4 min 12 s" in named  # "_" escaped for Markdown


def test_device_name_is_escaped():
    text = course_ext.stamp_markdown({**FULL_STAMP, "device_name": "GPU *fast* [beta]_x"})
    assert r"**GPU \*fast\* \[beta\]\_x**" in text


def test_missing_stamp_gives_warning():
    text = course_ext.stamp_markdown(None, "notebooks/03_attention.ipynb")
    assert text.splitlines()[:2] == ["```{warning}", ":class: course-stamp-missing"]
    assert "not yet been executed in full mode" in text
    assert "`make execute NB=notebooks/03_attention.ipynb` produces and stamps them." in text


def test_quick_mode_stamp_gives_warning():
    text = course_ext.stamp_markdown({**FULL_STAMP, "mode": "quick"})
    assert text.startswith("```{warning}")
    assert "quick-mode run on NVIDIA H100 80GB HBM3 (cuda)" in text
    assert "not yet been executed in full mode" in text


def test_bad_stamps_raise():
    with pytest.raises(ValueError, match=r"lacks wall_time_s, executed_at; it has \['device', 'mode'\]"):
        course_ext.stamp_markdown({"mode": "full", "device": "cpu"})
    with pytest.raises(TypeError, match="dict, got list"):
        course_ext.stamp_markdown(["full"])


def test_add_banner_goes_right_under_the_title():
    notebook = json.loads(course_ext.add_banner(_notebook(FULL_STAMP)))
    source = notebook["cells"][0]["source"]
    title, rest = source.split("\n", 1)
    assert title == "# 3. The math of attention"
    assert rest.startswith("\n```{admonition} Time to run\n:class: course-run-times\n")
    assert "\n```\n\n```{note}\n:class: course-stamp\n" in rest  # the stamp banner follows the run times
    assert rest.rstrip().endswith("What you will learn: attention.")
    assert len(notebook["cells"]) == 2  # no cell added, the code cell is untouched
    assert notebook["cells"][1]["source"] == "import utils"


def test_add_banner_handles_list_sources_and_unstamped_notebooks():
    raw = json.loads(_notebook(None))
    raw["cells"][0]["source"] = ["# 1. History\n", "\n", "Text.\n"]
    source = json.loads(course_ext.add_banner(json.dumps(raw)))["cells"][0]["source"]
    assert source.startswith("# 1. History\n\n```{admonition} Time to run\n")
    assert "on a CPU **not measured** · full mode on a CPU **not measured**" in source
    assert "```\n\n```{warning}\n:class: course-stamp-missing\n" in source
    assert source.endswith("```\n\nText.\n")


def test_add_banner_without_a_title_adds_a_first_cell():
    notebook = json.loads(course_ext.add_banner(_notebook(FULL_STAMP, first_source="Some text, no title.")))
    assert len(notebook["cells"]) == 3
    assert notebook["cells"][0]["id"] == "course-stamp-banner"
    assert notebook["cells"][0]["source"].startswith("```{admonition} Time to run")
    assert notebook["cells"][1]["source"] == "Some text, no title."


def _config(static_paths):
    return SimpleNamespace(html_static_path=list(static_paths), mathjax_path="mathjax/tex-chtml.js")


def test_mathjax_is_local_when_fetched(tmp_path):
    (tmp_path / "book" / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "book" / "_static" / "mathjax" / "tex-chtml.js").write_text("// MathJax")
    config = _config([])
    course_ext._choose_mathjax(SimpleNamespace(confdir=str(tmp_path)), config)
    assert config.mathjax_path == "mathjax/tex-chtml.js"
    assert config.html_static_path == ["book/_static"]


def test_mathjax_falls_back_to_cdn_when_missing(tmp_path):
    config = _config(["book/_static"])
    course_ext._choose_mathjax(SimpleNamespace(confdir=str(tmp_path)), config)
    assert config.mathjax_path == course_ext.CDN_MATHJAX
    assert config.mathjax_path.startswith("https://cdn.jsdelivr.net/npm/mathjax@3.2.2/")
    assert config.html_static_path == []  # an absent folder would be a Sphinx warning


# ---------------------------------------------------------------------------------------------
# scripts/check_site.py: the parts that need no browser
# ---------------------------------------------------------------------------------------------
check_site = _load("check_site", EXT_PATH.parent.parent.parent / "scripts" / "check_site.py")
BASE = "http://127.0.0.1:8000/"


@pytest.fixture()
def site(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text('<h1 id="intro">Intro</h1><a name="old-anchor"></a>')
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    return tmp_path


def test_check_link_accepts_existing_files_and_anchors(site):
    assert check_site.check_link(site, BASE, BASE + "book/intro.html") is None
    assert check_site.check_link(site, BASE, BASE + "book/intro.html#intro") is None
    assert check_site.check_link(site, BASE, BASE + "book/intro.html#old-anchor") is None
    assert check_site.check_link(site, BASE, BASE) is None  # a folder means its index.html
    assert check_site.check_link(site, BASE, "https://colab.research.google.com/x") is None  # external: not checked


def test_check_link_reports_missing_files_and_anchors(site):
    assert check_site.check_link(site, BASE, BASE + "book/nope.html") == (
        "broken link: book/nope.html (no file book/nope.html)")
    assert check_site.check_link(site, BASE, BASE + "book/intro.html#gone") == (
        "broken link: book/intro.html#gone (no #gone in book/intro.html)")


def test_redirect_pages_are_recognised(site):
    found = check_site.REFRESH.search((site / "index.html").read_text())
    assert found is not None and found.group(1) == "book/intro.html"


@pytest.mark.parametrize(
    ("url", "local"),
    [("http://127.0.0.1:9/x.js", True), ("data:image/png;base64,AAAA", True), ("about:blank", True),
     ("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js", False), ("http://localhost:9/", False),
     ("http://10.0.0.1/", False)],
)
def test_only_127_0_0_1_counts_as_local(url, local):
    assert check_site.is_local(url) is local


def test_list_pages_skips_asset_folders(site):
    (site / "_static").mkdir()
    (site / "_static" / "webpack-macros.html").write_text("<p>template</p>")
    assert check_site.list_pages(site) == ["book/intro.html", "index.html"]


def test_a_run_on_a_busy_machine_says_so_and_a_quiet_one_does_not():
    busy = course_ext.stamp_markdown({**FULL_STAMP, "load_average": 9.6, "cpu_count": 2})
    assert "shared during the run (load average 9.6 on 2 cores)" in busy
    quiet = course_ext.stamp_markdown({**FULL_STAMP, "load_average": 1.2, "cpu_count": 2})
    assert "shared" not in quiet and "shared" not in course_ext.stamp_markdown(FULL_STAMP)


CPU_STAMP = {**FULL_STAMP, "device": "cpu", "device_name": "cpu (x86_64, 2 cores)", "wall_time_s": 3111.9,
             "quick_wall_time_s": 202.2}


def test_the_opening_gives_the_run_times_of_the_stamp_not_typed_ones():
    text = course_ext.opening_markdown(CPU_STAMP)
    assert text.splitlines()[:2] == ["```{admonition} Time to run", ":class: course-run-times"]
    assert ("quick mode (`COURSE_QUICK=1`) on a CPU **3 min 22 s** · full mode on a CPU **51 min 52 s** · "
            "on a GPU **not recorded**.") in text
    changed = course_ext.opening_markdown({**CPU_STAMP, "quick_wall_time_s": 61.0, "wall_time_s": 7.0})
    assert "on a CPU **1 min 01 s** · full mode on a CPU **7.0 s**" in changed
    gpu = course_ext.opening_markdown(FULL_STAMP)  # a full run on cuda: the GPU time, no CPU times
    assert "on a CPU **not measured** · full mode on a CPU **not measured** · on a GPU **4 min 12 s** (NVIDIA" in gpu
    recorded = course_ext.opening_markdown(CPU_STAMP, {"notebook": "notebooks/08.ipynb", "device": "cuda",
                                                       "device_name": "NVIDIA H200", "wall_time_s": 95.0})
    assert "full mode on a CPU **51 min 52 s** · on a GPU **1 min 35 s** (NVIDIA H200)" in recorded
    elsewhere = course_ext.opening_markdown({**CPU_STAMP, "quick_device_name": "cuda (NVIDIA H200)"})
    assert "quick mode (`COURSE_QUICK=1`) on a CPU **not measured**" in elsewhere  # a quick run off the CPU
    assert "not measured" in course_ext.opening_markdown({**CPU_STAMP, "mode": "quick"})
    with pytest.raises(TypeError, match="dict or None"):
        course_ext.opening_markdown(["full"])


def test_the_opening_links_the_student_version():
    text = course_ext.opening_markdown(CPU_STAMP, student_href="../student/03_attention.ipynb")
    assert '<a class="course-student" href="../student/03_attention.ipynb" download>03_attention.ipynb</a>' in text
    assert "Upload notebook" in text and "`make student`" in text
    assert "course-student" not in course_ext.opening_markdown(CPU_STAMP)


def test_gpu_recordings_take_chapter_runs_and_skip_script_measurements(tmp_path):
    agendas = sys.modules["course_agendas"]
    (tmp_path / "attention_cost_cuda.json").write_text(json.dumps({"device": "cuda", "rows": []}))
    chapter = {"notebook": "notebooks/05_transformer.ipynb", "device": "cuda", "wall_time_s": 80.0}
    (tmp_path / "05_transformer_cuda.json").write_text(json.dumps(chapter))
    assert agendas.gpu_recordings(tmp_path) == {"notebooks/05_transformer.ipynb": chapter}
    assert agendas.gpu_recordings(tmp_path / "missing") == {}
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        agendas.gpu_recordings(tmp_path)


def test_the_build_writes_student_versions_and_each_chapter_links_its_own(tmp_path):
    root = EXT_PATH.parents[2]
    out = tmp_path / "html"
    in_book = {"notebooks/00_setup", "notebooks/03_attention", "book/workshop_guide"}
    app = SimpleNamespace(builder=SimpleNamespace(format="html"), srcdir=str(root), outdir=str(out),
                          env=SimpleNamespace(doc2path=lambda docname: str(root / f"{docname}.ipynb"),
                                              found_docs=in_book))
    course_ext._write_student_versions(app)
    chapters = sorted(p.name for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (out / "student").iterdir()) == chapters
    source = [(root / "notebooks" / "03_attention.ipynb").read_text()]
    course_ext._insert_stamp_banner(app, "notebooks/03_attention", source)
    first = json.loads(source[0])["cells"][0]["source"]
    assert 'href="../student/03_attention.ipynb" download>03_attention.ipynb</a>' in first
    page = ["# Guide\n\n```{course-run-times}\n```\n"]
    app.env.doc2path = lambda docname: str(root / f"{docname}.md")
    course_ext._insert_stamp_banner(app, "book/workshop_guide", page)
    assert "| chapter | quick mode, CPU | full mode, CPU | GPU |" in page[0] and "{course-run-times}" not in page[0]
    # only the chapters the book holds: a notebook not yet in the table of contents would be an unknown document
    assert "{doc}`/notebooks/03_attention`" in page[0] and "{doc}`/notebooks/01_history`" not in page[0]
