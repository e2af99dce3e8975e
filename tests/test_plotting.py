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
    with pytest.raises(ValueError, match="'x', 'y' or 'both'"):
        log_axis(ax, "z")
    with pytest.raises(ValueError, match="width must be one of"):
        new_figure("huge")
    plt.close(fig)
