import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from utils.plotting import BOOK_COLORS, FIGURE_WIDTHS, log_axis, new_figure, use_book_style  # noqa: E402


def test_book_style_sets_the_colour_cycle_and_sizes():
    use_book_style()
    assert plt.rcParams["axes.prop_cycle"].by_key()["color"][:3] == BOOK_COLORS[:3]
    fig, ax = new_figure("half", height=2.0)
    assert tuple(fig.get_size_inches()) == (FIGURE_WIDTHS["half"], 2.0)
    plt.close(fig)


def test_log_axis_and_its_errors():
    fig, ax = new_figure()
    log_axis(ax, "both")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="which must be one of 'x', 'y', 'both', got 'z'"):
        log_axis(ax, "z")
    with pytest.raises(ValueError, match="width must be one of"):
        new_figure("huge")
    plt.close(fig)


# Chapter 1: timelines, fitted trends, eras, and point labels that collide with nothing.


def test_chapter1_plot_helpers_draw_what_they_are_given():
    import numpy as np

    from utils import plotting
    from utils.history import fit_doubling_time

    years = np.array([2017.5, 2019.0, 2020.4, 2024.5])
    values = np.array([2.3e19, 2.6e20, 3.1e23, 3.8e25])
    fig, ax = plotting.new_figure("half")
    points = plotting.plot_timeline(ax, years, values, ["a", "", "c", "d"], filled=False)
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([years, values]))
    assert ax.get_yscale() == "log" and len(ax.texts) == 3  # empty labels are skipped
    assert all(t.get_gid() == plotting.TIMELINE_LABEL for t in ax.texts)
    line = plotting.plot_doubling_fit(ax, fit_doubling_time(years, values, confidence=0.9))
    assert "doubling every" in line.get_label() and "90% CI" in line.get_label()
    np.testing.assert_allclose(line.get_xdata()[[0, -1]], [years.min(), years.max()])
    plotting.shade_eras(ax, [2017, 2020, 2025], ["early", "late"])
    assert [t.get_text() for t in ax.texts[-2:]] == ["early", "late"]
    with pytest.raises(ValueError, match="one more entry than names"):
        plotting.shade_eras(ax, [2017, 2020], ["early", "late"])
    with pytest.raises(ValueError, match="one entry per point"):
        plotting.plot_timeline(ax, years, values, ["a"])
    plt.close(fig)


def _crowded_timeline():
    """Six labelled points, two pairs almost on top of each other and one at the right edge, plus a legend."""
    import numpy as np

    from utils import plotting

    years = np.array([2018.0, 2018.05, 2020.0, 2020.02, 2022.0, 2024.9])
    values = np.array([1e9, 1.1e9, 1e11, 1.05e11, 3e10, 5e11])
    labels = ["first model", "second model", "third", "fourth model", "fifth", "a long name at the edge"]
    fig, ax = plotting.new_figure("half", height=3.0)
    plotting.plot_timeline(ax, years, values, labels, label="models")
    ax.set_xlim(2017.5, 2025.0)
    ax.legend(loc="lower right")
    return fig, ax, years, values


def test_label_collisions_finds_overlaps_and_clipping():
    from utils.plotting import label_collisions

    fig, ax, _, _ = _crowded_timeline()
    problems = label_collisions(ax)
    assert any("overlaps the label" in p for p in problems), problems
    assert any("'a long name at the edge' is clipped" in p for p in problems), problems
    assert any("covers a point" in p for p in problems), problems
    plt.close(fig)


def test_tidy_labels_leaves_no_collision_checked_with_matplotlib_boxes():
    import numpy as np

    from utils import plotting

    fig, ax, years, values = _crowded_timeline()
    assert plotting.tidy_labels(ax) == []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_gid() == plotting.TIMELINE_LABEL]
    assert len(labels) == 6
    boxes = [matplotlib.text.Text.get_window_extent(t, renderer) for t in labels]
    frame = ax.get_window_extent(renderer)
    # Independent of the helper's own arithmetic: matplotlib's Bbox tests, shrunk by 1 px against touching edges.
    shrunk = [b.padded(-1.0) for b in boxes]
    for i, box in enumerate(shrunk):
        assert frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1), labels[i].get_text()
        assert not any(box.overlaps(other) for other in shrunk[i + 1 :]), labels[i].get_text()
        assert not box.overlaps(ax.get_legend().get_window_extent(renderer).padded(-1.0))
    # Each label still names its own point: it points at (year, value) and sits within 60 points of it.
    points_to_px = fig.dpi / 72
    for label, box in zip(labels, boxes):
        np.testing.assert_allclose(label.xy, (years[labels.index(label)], values[labels.index(label)]))
        x, y = ax.transData.transform(label.xy)
        gap = max(box.x0 - x, x - box.x1, 0.0), max(box.y0 - y, y - box.y1, 0.0)
        assert np.hypot(*gap) <= 60 * points_to_px, label.get_text()
    plt.close(fig)
