"""utils.cited: the milestone and cited-figure files follow their schema, and bad rows raise clear errors."""

import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from utils import cited
from utils.cited import CitationSchemaError, load_cited_figures, load_milestones
from utils.history import add_compute_estimates, estimate_training_compute


@pytest.fixture(scope="module")
def milestones():
    return load_milestones()


def test_milestones_schema_and_size(milestones):
    assert tuple(milestones.columns) == cited.MILESTONE_COLUMNS
    assert len(milestones) >= 25
    assert milestones["model"].is_unique
    assert milestones["year"].dtype == np.int64
    for column in cited.NUMERIC_COLUMNS:
        assert milestones[column].dtype == np.float64
    assert milestones["year"].min() == 1958  # the perceptron opens the table
    assert milestones["year"].max() >= 2024  # and today's open models close it


def test_milestones_are_in_date_order(milestones):
    dates = milestones["year"] + milestones["month"].fillna(6.5) / 12
    assert np.all(np.diff(dates.to_numpy()) >= 0)


def test_every_figure_has_a_source(milestones):
    for figure, source in cited.SOURCED_FIGURES:
        present = milestones[figure].notna()
        assert (milestones.loc[present, source].str.len() > 10).all(), figure
    assert (milestones["reference"].str.len() > 20).all()


def test_compute_status_agrees_with_the_data(milestones):
    assert set(milestones["compute_status"]) <= set(cited.COMPUTE_STATUSES)
    reported = milestones["compute_status"] == "reported"
    assert milestones.loc[reported, "training_compute_flop"].notna().all()
    assert milestones.loc[~reported, "training_compute_flop"].isna().all()  # estimates are never typed
    assert reported.sum() >= 2 and (milestones["compute_status"] == "estimated by code").sum() >= 5


def test_transformer_is_2017(milestones):
    row = milestones[milestones["model"].str.startswith("Transformer")].iloc[0]
    assert (row["year"], row["month"]) == (2017, 6)  # arXiv:1706.03762, posted June 2017


def test_dates_agree_with_the_arxiv_identifiers(milestones):
    # An arXiv identifier YYMM.NNNNN records the month of posting: an independent witness of each row's date.
    checked = 0
    for _, row in milestones.iterrows():
        match = re.search(r"arXiv:(\d{2})(\d{2})\.\d{4,5}", row["reference"])
        if match:
            assert (row["year"], row["month"]) == (2000 + int(match[1]), int(match[2])), row["model"]
            checked += 1
    assert checked >= 20


def test_estimated_compute_equals_6nd(milestones):
    filled = add_compute_estimates(milestones)
    estimated = filled["compute_status"] == "estimated by code"
    n_params = filled["active_parameters"].fillna(filled["parameters"])
    expected = 6.0 * n_params[estimated] * filled.loc[estimated, "training_tokens"]
    np.testing.assert_allclose(filled.loc[estimated, "training_compute_flop"], expected, rtol=1e-12)
    # Reported figures are kept as typed, and the source table is not modified.
    reported = filled["compute_status"] == "reported"
    np.testing.assert_array_equal(filled.loc[reported, "training_compute_flop"], milestones.loc[reported, "training_compute_flop"])
    assert milestones.loc[estimated, "training_compute_flop"].isna().all()


def test_mixture_of_experts_uses_active_parameters(milestones):
    filled = add_compute_estimates(milestones)
    row = filled[filled["model"] == "DeepSeek-V3"].iloc[0]
    assert row["compute_params"] == row["active_parameters"] < row["parameters"]
    # The same two float64 products on both sides: equal to the last bit, 1e-15 allowed.
    assert row["training_compute_flop"] == pytest.approx(estimate_training_compute(row["active_parameters"], row["training_tokens"]), rel=1e-15)


def test_6nd_agrees_with_reported_compute_where_both_exist(milestones):
    both = milestones[(milestones["compute_status"] == "reported") & milestones["training_tokens"].notna()]
    assert len(both) >= 2  # GPT-3 and Llama 3.1 405B
    ratio = estimate_training_compute(both["parameters"].to_numpy(), both["training_tokens"].to_numpy()) / both["training_compute_flop"]
    # Tolerance: the published figures are rounded; Llama 3.1's (3.8e25 FLOP, 15.6T tokens, 405B parameters) are
    # the coarsest, each known to half a unit in its last digit: 0.05/3.8 + 0.05/15.6 + 0.5/405 = 1.76%.
    rounding_bound = 0.05 / 3.8 + 0.05 / 15.6 + 0.5 / 405
    np.testing.assert_allclose(ratio, 1.0, rtol=rounding_bound)


def _write_bad_copy(tmp_path, edit):
    path = tmp_path / "milestones.csv"
    shutil.copy(cited.MILESTONES_PATH, path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(table)
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.loc.__setitem__((9, "parameters_source"), ""), r"line 11 \(AlexNet\): parameters = 60000000 has no source"),
        (lambda t: t.loc.__setitem__((9, "parameters"), "60M"), r"column 'parameters' expected a number, got '60M'"),
        (lambda t: t.loc.__setitem__((9, "year"), "1850"), r"column 'year' expected a year"),
        (lambda t: t.loc.__setitem__((9, "month"), "13"), r"column 'month' expected 1..12"),
        (lambda t: t.loc.__setitem__((9, "compute_status"), "guessed"), r"compute_status' expected one of"),
        (lambda t: t.loc.__setitem__((9, "model"), "Perceptron"), r"appears twice"),
        (lambda t: t.loc.__setitem__((14, ["training_compute_flop", "compute_source"]), ["2.6e20", "typed by hand"]), r"line 16 \(BERT-large\): compute_status 'estimated by code' expected an empty training_compute_flop cell"),
        (lambda t: t.loc.__setitem__((14, "training_tokens"), ""), r"needs parameters and training_tokens"),
        (lambda t: t.loc.__setitem__((12, "training_compute_flop"), ""), r"'reported' expected a training_compute_flop figure"),
        (lambda t: t.loc.__setitem__((9, "parameters"), "-5"), r"expected a positive finite number"),
    ],
)
def test_bad_rows_raise_clear_errors(tmp_path, edit, message):
    path = _write_bad_copy(tmp_path, edit)
    with pytest.raises(CitationSchemaError, match=message):
        load_milestones(path)


def test_wrong_columns_raise(tmp_path):
    path = _write_bad_copy(tmp_path, lambda t: t.pop("reference"))
    with pytest.raises(CitationSchemaError, match=r"missing \['reference'\]"):
        load_milestones(path)


def test_cited_figures_schema():
    table = load_cited_figures()
    assert tuple(table.columns) == cited.CITED_FIGURE_COLUMNS
    assert table["key"].is_unique and table["value"].dtype == np.float64
    assert (table["source"].str.len() > 10).all()


def test_figure_and_cited_figure():
    assert cited.figure("bert_base_params") == 110e6
    record = cited.cited_figure("kaplan_alpha_n")
    assert record.value == pytest.approx(0.076) and "Kaplan" in record.source and record.unit
    assert math.isclose(cited.figure("chinchilla_1b_optimal_tokens") / cited.figure("chinchilla_1b_params"), 20.2)
    with pytest.raises(KeyError, match="no cited figure 'bert_huge_params'.*bert_base_params"):
        cited.figure("bert_huge_params")


def test_bad_cited_figure_rows_raise(tmp_path):
    path = tmp_path / "cited_figures.csv"
    shutil.copy(cited.CITED_FIGURES_PATH, path)
    with open(path, "a") as f:
        f.write("bert_base_params,1,parameters,duplicate,somewhere\n")
    with pytest.raises(CitationSchemaError, match=r"duplicates \['bert_base_params'\]"):
        load_cited_figures(path)
    shutil.copy(cited.CITED_FIGURES_PATH, path)
    with open(path, "a") as f:
        f.write("new_key,ten,parameters,a figure,a paper\n")
    with pytest.raises(CitationSchemaError, match=r"column 'value' expected a number, got 'ten'"):
        load_cited_figures(path)


def test_cited_figure_and_validate_milestones_types():
    first = load_cited_figures().iloc[0]
    found = cited.cited_figure(first["key"])
    assert isinstance(found, cited.CitedFigure) and found.source and found.value == float(first["value"])
    raw = cited._read_strings(cited.MILESTONES_PATH, tuple(pd.read_csv(cited.MILESTONES_PATH, nrows=0).columns))
    typed = cited.validate_milestones(raw)
    assert len(typed) == len(load_milestones())
