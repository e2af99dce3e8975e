"""The book's one plotting style, and plot helpers that chapters share.

Call :func:`use_book_style` once in a chapter's setup cell; :func:`new_figure` gives figures sized for the page.
Chapter helpers follow in sections of their own, below the core.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

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


# ---------------------------------------------------------------------------------------------
# Chapter 3: the math of attention
# ---------------------------------------------------------------------------------------------


def plot_attention_heatmap(ax, probs, query_labels=None, key_labels=None, title: str = "", vmax: float | None = None):
    """Draw attention probabilities ``probs`` ``(T_q, T_k)`` (rows = queries) as a heatmap on ``ax``.

    ``query_labels``/``key_labels`` (lists of strings, e.g. tokens) label the rows and columns; returns the image.
    """
    import numpy as np

    probs = probs.detach().cpu().numpy() if hasattr(probs, "detach") else np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must be 2-D (T_q, T_k), got shape {probs.shape}")
    image = ax.imshow(probs, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.grid(False)
    for labels, set_ticks, set_labels, n in (
        (query_labels, ax.set_yticks, ax.set_yticklabels, probs.shape[0]),
        (key_labels, ax.set_xticks, ax.set_xticklabels, probs.shape[1]),
    ):
        if labels is not None:
            if len(labels) != n:
                raise ValueError(f"expected {n} labels for an axis of probs {probs.shape}, got {len(labels)}")
            set_ticks(range(n))
            set_labels(labels, fontsize=7)
    if key_labels is not None:
        ax.tick_params(axis="x", labelrotation=90)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title)
    return image


def plot_bool_mask(ax, mask, title: str = ""):
    """Draw a boolean attention mask ``(T_q, T_k)`` on ``ax``: True (may attend) dark, False light; returns the image."""
    import numpy as np

    mask = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"mask must be a 2-D boolean array (T_q, T_k), got dtype {mask.dtype} shape {mask.shape}")
    image = ax.imshow(mask, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title)
    return image


# ---------------------------------------------------------------------------------------------------------------
# Chapter 1, A short history of large models: timelines on a log axis, fitted trends, eras.
# ---------------------------------------------------------------------------------------------------------------


def plot_timeline(ax, years, values, labels=None, color=None, marker: str = "o", label: str | None = None,
                  fontsize: float = 7.0, filled: bool = True):  # fmt: skip
    """Scatter ``values`` against ``years`` on a log y axis and write ``labels`` (empty strings are skipped) beside the points.

    ``years`` and ``values`` are 1-D sequences of equal length; ``filled=False`` draws hollow markers (e.g. for
    estimated figures). Labels alternate above and below the point so that neighbours overlap less.
    Returns the scatter's ``PathCollection``.
    """
    years, values = np.asarray(years, dtype=float), np.asarray(values, dtype=float)
    if years.shape != values.shape or years.ndim != 1:
        raise ValueError(f"years and values must be 1-D of the same length, got shapes {years.shape} and {values.shape}")
    if labels is not None and len(labels) != len(years):
        raise ValueError(f"labels must have one entry per point ({len(years)}), got {len(labels)}")
    color = color or BOOK_COLORS[0]
    points = ax.scatter(years, values, s=28, marker=marker, label=label, zorder=3,
                        facecolors=color if filled else "white", edgecolors=color, linewidths=1.2)  # fmt: skip
    log_axis(ax, "y")
    for i, text in enumerate(labels if labels is not None else []):
        if text:
            ax.annotate(text, (years[i], values[i]), xytext=(4, 5 if i % 2 == 0 else -9), textcoords="offset points",
                        fontsize=fontsize, color="0.25")  # fmt: skip
    return points


def plot_doubling_fit(ax, fit, color=None, label_prefix: str = ""):
    """Draw the fitted trend of a :class:`utils.history.DoublingTimeFit` over its years, labelled with its doubling time."""
    years = np.linspace(fit.start, fit.end, 50)
    low, high = fit.doubling_time_interval_months
    high_text = "∞" if np.isinf(high) else f"{high:.0f}"
    label = f"{label_prefix}doubling every {fit.doubling_time_months:.0f} mo (95% CI {low:.0f}–{high_text})"
    return ax.plot(years, fit.predict(years), "--", color=color or BOOK_COLORS[1], linewidth=1.4, label=label)[0]


def shade_eras(ax, boundaries, names, alpha: float = 0.06):
    """Shade alternate spans between ``boundaries`` (years, ascending; ``len(names) + 1`` of them) and name each at the top."""
    if len(boundaries) != len(names) + 1:
        raise ValueError(f"boundaries must have one more entry than names, got {len(boundaries)} and {len(names)}")
    for i, name in enumerate(names):
        left, right = boundaries[i], boundaries[i + 1]
        if i % 2 == 0:
            ax.axvspan(left, right, color="0.5", alpha=alpha, linewidth=0, zorder=0)
        ax.text((left + right) / 2, 0.98, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=8, color="0.35")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Chapter 2, Neural networks from first principles: learning curves and mean ± spread over seeds.
# ---------------------------------------------------------------------------------------------------------------


def plot_learning_curves(ax, history, label: str = "", color=None, metric: bool = False):
    """Draw a :class:`utils.training.History` on ``ax``: training (dashed) and validation (solid) curves per epoch.

    ``metric=False`` plots the losses, ``True`` the metrics (e.g. accuracy). The best epoch (lowest validation loss)
    gets a dot. Returns the validation line.
    """
    train, val = (history.train_metric, history.val_metric) if metric else (history.train_loss, history.val_loss)
    if len(val) == 0:
        raise ValueError("the history holds no " + ("metric" if metric else "loss") + " values to plot")
    epochs = np.arange(1, len(val) + 1)
    (line,) = ax.plot(epochs, val, "-", color=color, label=f"{label} validation".strip())
    ax.plot(epochs, train, "--", color=line.get_color(), alpha=0.8, linewidth=1.2, label=f"{label} training".strip())
    if history.best_epoch is not None:
        ax.plot(history.best_epoch + 1, val[history.best_epoch], "o", color=line.get_color(), markersize=5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy" if metric else "loss")
    return line


def plot_mean_band(ax, runs, label: str = "", color=None, x=None):
    """Draw the mean of ``runs`` (array ``(n_runs, n_points)``, e.g. one row per seed) with a ±1 std band.

    ``x`` defaults to ``1, 2, …, n_points``. Returns the mean line.
    """
    runs = np.asarray(runs, dtype=float)
    if runs.ndim != 2:
        raise ValueError(f"runs must have shape (n_runs, n_points), got shape {runs.shape}")
    x = np.arange(1, runs.shape[1] + 1) if x is None else np.asarray(x)
    mean, std = runs.mean(axis=0), runs.std(axis=0)
    (line,) = ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


# ---------------------------------------------------------------------------------------------------------------
# Chapter 4, Tokenization: word frequencies and compression against vocabulary size.
# ---------------------------------------------------------------------------------------------------------------


def plot_rank_frequency(ax, counts, label: str | None = None, color=None):
    """Zipf plot: the frequency of each word (``counts``: a mapping word -> count, or a 1-D sequence of counts)
    against its rank, both axes logarithmic. Returns the ``Line2D``."""
    values = np.asarray(list(counts.values()) if hasattr(counts, "values") else counts, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"counts must be a non-empty mapping or 1-D sequence of counts, got shape {values.shape}")
    values = np.sort(values)[::-1]
    (line,) = ax.plot(np.arange(1, values.size + 1), values, label=label, color=color)
    log_axis(ax, "both")
    ax.set_xlabel("rank of the word")
    ax.set_ylabel("occurrences")
    return line


def plot_compression_curve(ax, vocab_sizes, bytes_per_token: dict, marker: str = "o"):
    """Bytes per token (y) against vocabulary size (x, log scale), one line per corpus.

    ``vocab_sizes``: 1-D sequence of length n; ``bytes_per_token``: dict corpus name -> sequence of n values.
    Returns the list of ``Line2D``.
    """
    sizes = np.asarray(vocab_sizes, dtype=float)
    lines = []
    for name, values in bytes_per_token.items():
        values = np.asarray(values, dtype=float)
        if values.shape != sizes.shape:
            raise ValueError(f"bytes_per_token[{name!r}] must have {sizes.size} values (one per vocab size), "
                             f"got shape {values.shape}")
        lines.extend(ax.plot(sizes, values, marker=marker, markersize=3, label=name))
    log_axis(ax, "x", base=2)
    ax.set_xlabel("vocabulary size (tokens)")
    ax.set_ylabel("bytes per token")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# Chapter 5, A transformer of our own: where the parameters are, and the residual stream through depth.
# ---------------------------------------------------------------------------------------------------------------


def plot_parameter_breakdown(ax, breakdowns: dict, unit: float = 1e6):
    """Horizontal stacked bars: one bar per model (``{model: {part: count}}``), in millions by default.

    Parts with zero parameters in every model are left out; each bar is labelled with its total.
    """
    models = list(breakdowns)
    every_part = dict.fromkeys(k for b in breakdowns.values() for k in b)  # in order of first appearance
    parts = [p for p in every_part if any(b.get(p, 0) for b in breakdowns.values())]
    left = [0.0] * len(models)
    for i, part in enumerate(parts):
        widths = [breakdowns[m].get(part, 0) / unit for m in models]
        ax.barh(models, widths, left=left, label=part, color=BOOK_COLORS[i % len(BOOK_COLORS)])
        left = [a + b for a, b in zip(left, widths)]
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:,.1f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.12 * max(left))  # room for the totals
    ax.invert_yaxis()
    ax.set_xlabel("parameters (millions)" if unit == 1e6 else f"parameters (× {unit:g})")
    ax.legend(loc="lower right", ncols=min(len(parts), 3))
    return ax


def plot_depth_profile(ax, profiles: dict, ylabel: str, log: bool = True):
    """One line per setting (``{label: values by layer}``) against the layer index, e.g. residual norms."""
    for i, (label, values) in enumerate(profiles.items()):
        ax.plot(range(1, len(values) + 1), list(values), marker="o", markersize=3, label=label,
                color=BOOK_COLORS[i % len(BOOK_COLORS)])  # fmt: skip
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="layer", ylabel=ylabel)
    ax.legend()
    return ax
