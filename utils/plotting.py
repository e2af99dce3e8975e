"""The book's one plotting style, and plot helpers that chapters share.

Call :func:`use_book_style` once in a chapter's setup cell; :func:`new_figure` gives figures sized for the page.
Chapter helpers follow in sections of their own, below the core.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# Colour-blind-safe cycle (Okabe & Ito 2008), in the order the book uses them.
BOOK_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

FIGURE_WIDTHS = {"full": 7.0, "half": 4.2}  # inches: the page's text width and half of it

_BOOK_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.figsize": (FIGURE_WIDTHS["full"], 3.6),
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (sizes, fonts, colour cycle, light grid) to every later figure."""
    mpl.rcParams.update(_BOOK_STYLE)
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=BOOK_COLORS)


def new_figure(width: str = "full", height: float = 3.6, ncols: int = 1, nrows: int = 1, **kwargs):
    """A figure sized for the page: ``width`` is ``'full'`` or ``'half'``; returns ``(fig, axes)`` like ``plt.subplots``."""
    if width not in FIGURE_WIDTHS:
        raise ValueError(f"width must be one of {sorted(FIGURE_WIDTHS)}, got {width!r}")
    return plt.subplots(nrows, ncols, figsize=(FIGURE_WIDTHS[width], height), **kwargs)


def log_axis(ax, which: str = "y", base: float = 10) -> None:
    """Put axis ``which`` (``'x'``, ``'y'`` or ``'both'``) of ``ax`` on a log scale with readable major ticks."""
    if which not in {"x", "y", "both"}:
        raise ValueError(f"which must be 'x', 'y' or 'both', got {which!r}")
    if which in {"x", "both"}:
        ax.set_xscale("log", base=base)
    if which in {"y", "both"}:
        ax.set_yscale("log", base=base)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(False, which="minor")
