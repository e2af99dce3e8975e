"""Figures cited from papers, each with the source a reader can look up.

Two data files ship with the package:

- ``milestones.csv``: the models of chapter 1, one row each (year, model, organisation, parameters, training
  tokens, training compute), and for every figure its source (paper + table, section or quoted phrase). A row
  is dated by the first public version of its paper: the arXiv posting where there is one.
  Training compute is either ``reported`` (the paper gives FLOPs: the cell holds them) or ``estimated by code``
  (the cell is empty; :func:`utils.history.add_compute_estimates` computes :math:`6ND`), or ``unknown``.
- ``cited_figures.csv``: every other number the book cites from a paper (``key,value,unit,what,source``);
  read one with :func:`figure`.

Both loaders check the file and raise :class:`CitationSchemaError` (a ``ValueError``) naming the row, the
column, what was expected and what was given.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from utils.checks import check_number, describe, fail

__all__ = [
    "DATA_DIR", "MILESTONES_PATH", "CITED_FIGURES_PATH", "SOURCED_FIGURES", "NUMERIC_COLUMNS", "MILESTONE_COLUMNS",
    "COMPUTE_STATUSES", "CITED_FIGURE_COLUMNS", "YEAR_RANGE", "CitationSchemaError", "CitedFigure",
    "validate_milestones", "load_milestones", "load_cited_figures", "cited_figure", "figure",
]

DATA_DIR = Path(__file__).resolve().parent
MILESTONES_PATH = DATA_DIR / "milestones.csv"
CITED_FIGURES_PATH = DATA_DIR / "cited_figures.csv"

# (figure column, its source column): a figure that is present must have a source.
SOURCED_FIGURES = (
    ("parameters", "parameters_source"),
    ("active_parameters", "active_parameters_source"),
    ("training_tokens", "training_tokens_source"),
    ("training_compute_flop", "compute_source"),
)
NUMERIC_COLUMNS = ("parameters", "active_parameters", "training_tokens", "training_compute_flop")
MILESTONE_COLUMNS = (
    "year", "month", "model", "organisation", "domain",
    "parameters", "parameters_source", "active_parameters", "active_parameters_source",
    "training_tokens", "training_tokens_source", "training_compute_flop", "compute_status", "compute_source",
    "reference", "note",
)  # fmt: skip
COMPUTE_STATUSES = ("reported", "estimated by code", "unknown")
CITED_FIGURE_COLUMNS = ("key", "value", "unit", "what", "source")
YEAR_RANGE = (1940, 2100)


class CitationSchemaError(ValueError):
    """A row of a cited-data file breaks the schema; the message names the file, row, column and the problem."""


@dataclass(frozen=True)
class CitedFigure:
    """One number cited from a paper: ``value`` in ``unit``, what it measures, and where it is printed."""

    key: str
    value: float
    unit: str
    what: str
    source: str

    def __post_init__(self):
        for name in ("key", "unit", "what", "source"):
            if not isinstance(getattr(self, name), str):
                fail(f"{name} must be a str, got {describe(getattr(self, name))}", TypeError)
            if not getattr(self, name).strip():
                fail(f"{name} must not be empty", ValueError,
                     "a cited figure names its unit, what it measures and the paper it comes from")
        if not self.key.isidentifier():
            fail(f"key must be a snake_case name, got {self.key!r}", ValueError, "e.g. 'bert_base_params'")
        check_number("value", self.value)


def _as_path(path, default: Path) -> Path:
    """``path`` as a Path (``default`` when ``None``), or a TypeError that says what a path is."""
    if path is None:
        return default
    if not isinstance(path, (str, os.PathLike)):
        fail(f"path must be a file path (str or pathlib.Path), got {describe(path)}", TypeError,
             f"leave it out to read the course's own {default.name}")
    return Path(path)


def _read_strings(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as strings (empty cells stay ``''``) and check that it has exactly ``columns``."""
    if not path.is_file():
        if path in (MILESTONES_PATH, CITED_FIGURES_PATH):
            fail(f"{path} is missing", FileNotFoundError, "reinstall the course package (pip install -e .) to restore it")
        what = "is a folder, not a CSV file" if path.is_dir() else "does not exist"
        fail(f"path {path} {what}", FileNotFoundError, "give the path of a .csv file, or leave it out for the course's own")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(table.columns) != columns:
        missing = [c for c in columns if c not in table.columns]
        extra = [c for c in table.columns if c not in columns]
        other = {MILESTONE_COLUMNS: "load_milestones", CITED_FIGURE_COLUMNS: "load_cited_figures"}.get(tuple(table.columns))
        fail(f"{path.name}: expected columns {list(columns)}, got {list(table.columns)} (missing {missing}, "
             f"unexpected {extra})", CitationSchemaError, f"this file is read by {other}" if other else "")
    return table.apply(lambda column: column.str.strip())


def _where(path: Path, index: int, name: str) -> str:
    # Row numbers as a spreadsheet shows them: the header is line 1.
    return f"{path.name}, line {index + 2} ({name or 'no name'})"


def _parse_number(text: str, where: str, column: str, integer: bool = False) -> float:
    """``''`` -> NaN; otherwise a finite positive number, or a CitationSchemaError that says what was given."""
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise CitationSchemaError(f"{where}: column {column!r} expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise CitationSchemaError(f"{where}: column {column!r} expected a positive finite number, got {text!r}")
    if integer and value != int(value):
        raise CitationSchemaError(f"{where}: column {column!r} expected a whole number, got {text!r}")
    return value


def validate_milestones(table: pd.DataFrame, path: Path = MILESTONES_PATH) -> pd.DataFrame:
    """Check the milestone rows (strings as read from the CSV) and return them typed.

    Rules: ``year`` a whole number in ``YEAR_RANGE``; ``month`` empty or 1..12; ``model`` non-empty and unique;
    ``reference`` non-empty; numbers positive; every figure present has a non-empty source; ``compute_status`` is
    one of ``COMPUTE_STATUSES`` and agrees with the data: ``reported`` holds a compute figure, ``estimated by
    code`` leaves the compute cell empty and has parameters and tokens, ``unknown`` has no compute figure;
    ``active_parameters`` (mixtures of experts) is at most ``parameters``.

    Returns a DataFrame with ``year`` (int64), ``month`` (float64, NaN when unknown), the four numeric columns
    as float64 (NaN when empty) and the text columns as ``str``.
    """
    _check_string_table(table, MILESTONE_COLUMNS)
    path = _as_path(path, MILESTONES_PATH)
    rows = []
    seen: set[str] = set()
    for index, row in table.iterrows():
        where = _where(path, index, row["model"])
        if row["model"] == "":
            raise CitationSchemaError(f"{where}: column 'model' expected a name, got an empty cell")
        if row["model"] in seen:
            raise CitationSchemaError(f"{where}: model {row['model']!r} appears twice; expected unique names")
        seen.add(row["model"])
        year = _parse_number(row["year"], where, "year", integer=True)
        if math.isnan(year) or not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
            raise CitationSchemaError(f"{where}: column 'year' expected a year in {YEAR_RANGE}, got {row['year']!r}")
        month = _parse_number(row["month"], where, "month", integer=True)
        if not math.isnan(month) and not 1 <= month <= 12:
            raise CitationSchemaError(f"{where}: column 'month' expected 1..12 or empty, got {row['month']!r}")
        if row["reference"] == "":
            raise CitationSchemaError(f"{where}: column 'reference' expected the full citation, got an empty cell")
        values = {column: _parse_number(row[column], where, column) for column in NUMERIC_COLUMNS}
        for figure, source in SOURCED_FIGURES:
            if not math.isnan(values[figure]) and row[source] == "":
                raise CitationSchemaError(f"{where}: {figure} = {row[figure]} has no source; expected '{source}' to name the paper and table or section")
        _check_compute_status(row["compute_status"], values, where)
        if not math.isnan(values["active_parameters"]) and not values["active_parameters"] <= values["parameters"]:
            raise CitationSchemaError(
                f"{where}: active_parameters ({row['active_parameters']}) expected at most parameters ({row['parameters'] or 'empty'})"
            )
        rows.append({**row.to_dict(), **values, "year": int(year), "month": month})
    typed = pd.DataFrame(rows, columns=list(MILESTONE_COLUMNS))
    return typed.astype({"year": "int64", "month": "float64", **{c: "float64" for c in NUMERIC_COLUMNS}})


def _check_string_table(table, columns: tuple[str, ...]) -> None:
    """Raise unless ``table`` is a DataFrame with exactly ``columns``, all of them text (as read from the CSV)."""
    if not isinstance(table, pd.DataFrame):
        fail(f"table must be a pandas DataFrame, got {describe(table)}", TypeError,
             "load_milestones() reads and checks the course's file in one step")
    if tuple(table.columns) != columns:
        missing = [c for c in columns if c not in table.columns]
        fail(f"table must have the columns {list(columns)}, got {list(table.columns)} (missing {missing})",
             CitationSchemaError)
    typed = [column for column in columns if pd.api.types.is_numeric_dtype(table[column])]
    if typed:
        fail(f"table must hold the cells as text (as read from the CSV), but {typed} are already numbers",
             TypeError, "load_milestones(path) reads, checks and types the file in one step; to validate a table "
             "yourself read it with pd.read_csv(path, dtype=str, keep_default_na=False)")


def _check_compute_status(status: str, values: dict[str, float], where: str) -> None:
    if status not in COMPUTE_STATUSES:
        raise CitationSchemaError(f"{where}: column 'compute_status' expected one of {list(COMPUTE_STATUSES)}, got {status!r}")
    has_compute = not math.isnan(values["training_compute_flop"])
    if status == "reported" and not has_compute:
        raise CitationSchemaError(f"{where}: compute_status 'reported' expected a training_compute_flop figure, got an empty cell")
    if status != "reported" and has_compute:
        raise CitationSchemaError(
            f"{where}: compute_status {status!r} expected an empty training_compute_flop cell (only reported compute is typed), "
            f"got {values['training_compute_flop']:g}"
        )
    if status == "estimated by code":
        n_params = values["active_parameters"] if not math.isnan(values["active_parameters"]) else values["parameters"]
        if math.isnan(n_params) or math.isnan(values["training_tokens"]):
            raise CitationSchemaError(f"{where}: compute_status 'estimated by code' needs parameters and training_tokens, got an empty cell")


def load_milestones(path: str | Path | None = None) -> pd.DataFrame:
    """The chapter-1 milestones as a checked DataFrame, one row per model, in file order (by date).

    Columns: see ``MILESTONE_COLUMNS``. ``training_compute_flop`` holds only *reported* compute; call
    :func:`utils.history.add_compute_estimates` to fill the rows marked ``estimated by code``.
    Raises :class:`CitationSchemaError` on a bad row.
    """
    path = _as_path(path, MILESTONES_PATH)
    return validate_milestones(_read_strings(path, MILESTONE_COLUMNS), path)


def load_cited_figures(path: str | Path | None = None) -> pd.DataFrame:
    """All cited figures (``key, value, unit, what, source``), checked; ``value`` is float64, keys unique."""
    path = _as_path(path, CITED_FIGURES_PATH)
    table = _read_strings(path, CITED_FIGURE_COLUMNS)
    values = []
    for index, row in table.iterrows():
        where = _where(path, index, row["key"])
        if row["key"] == "" or not row["key"].isidentifier():
            raise CitationSchemaError(f"{where}: column 'key' expected a snake_case name, got {row['key']!r}")
        for column in ("unit", "what", "source"):
            if row[column] == "":
                raise CitationSchemaError(f"{where}: column {column!r} expected text, got an empty cell")
        try:
            value = float(row["value"])
        except ValueError:
            raise CitationSchemaError(f"{where}: column 'value' expected a number, got {row['value']!r}") from None
        if not math.isfinite(value):
            raise CitationSchemaError(f"{where}: column 'value' expected a finite number, got {row['value']!r}")
        values.append(value)
    duplicated = table["key"][table["key"].duplicated()].tolist()
    if duplicated:
        raise CitationSchemaError(f"{path.name}: keys must be unique, got duplicates {duplicated}")
    return table.assign(value=pd.Series(values, index=table.index, dtype="float64"))


def cited_figure(key: str, path: str | Path | None = None) -> CitedFigure:
    """The cited figure named ``key`` with its unit, meaning and source; ``KeyError`` lists close keys if absent."""
    if not isinstance(key, str):
        fail(f"key must be the name of a cited figure (a str), got {describe(key)}", TypeError,
             "e.g. figure('bert_base_params'); load_cited_figures() lists every key")
    path = _as_path(path, CITED_FIGURES_PATH)
    table = load_cited_figures(path)
    match = table[table["key"] == key]
    if match.empty:
        close = [k for k in table["key"] if key.split("_")[0] in k][:8]
        close = close or difflib.get_close_matches(key, list(table["key"]), n=5)
        fail(f"no cited figure {key!r} in {path.name}; keys that look close: {close or 'none'}", KeyError,
             "load_cited_figures() lists every key")
    row = match.iloc[0]
    return CitedFigure(key=key, value=float(row["value"]), unit=row["unit"], what=row["what"], source=row["source"])


def figure(key: str) -> float:
    """The value of the cited figure ``key`` (a float), e.g. ``figure('bert_base_params') -> 110000000.0``."""
    return cited_figure(key).value
