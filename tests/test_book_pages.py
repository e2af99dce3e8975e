"""The prose pages stay true to the notebooks: the chapters the preface says this edition holds, the table of
contents, and a glossary a reader can scan."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(int(p.name[:2]) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_preface_names_the_chapters_this_edition_contains():
    intro = (ROOT / "book" / "intro.md").read_text()
    said = re.search(r"This edition contains chapters (\d+) to (\d+)\.", intro)
    assert said, "book/intro.md must say which chapters this edition contains"
    assert list(range(int(said[1]), int(said[2]) + 1)) == CHAPTERS


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = re.findall(r"notebooks/(\d\d)_", str(toc))
    assert sorted(int(f) for f in files) == CHAPTERS


def test_glossary_is_sorted_and_each_term_is_given_once():
    rows = [line for line in (ROOT / "book" / "glossary.md").read_text().splitlines() if line.startswith("| ")]
    terms = [row.split("|")[1].strip() for row in rows[1:]]  # rows[0] is the header
    assert terms == sorted(terms, key=str.lower) and len(terms) == len(set(terms))
    assert all(row.count("|") == 4 for row in rows), "every glossary row has three columns"
