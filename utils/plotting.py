"""The book's one plotting style, and plot helpers that chapters share.

Call :func:`use_book_style` once in a chapter's setup cell; :func:`new_figure` gives figures sized for the page.
Chapter helpers follow in sections of their own, below the core.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from utils.checks import check_bool, check_choice, check_int, check_number, describe, fail

__all__ = ["BOOK_COLORS", "FIGURE_WIDTHS", "TIMELINE_LABEL", "use_book_style", "new_figure", "log_axis",
           "plot_timeline", "tidy_labels", "label_collisions", "plot_doubling_fit", "shade_eras", "plot_learning_curves",
           "plot_mean_band", "plot_attention_heatmap", "plot_bool_mask", "plot_rank_frequency", "plot_compression_curve",
           "plot_parameter_breakdown", "plot_depth_profile", "plot_step_history", "plot_scaling_fit",
           "plot_next_token_distribution"]

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
    check_choice("width", width, tuple(FIGURE_WIDTHS))
    check_number("height", height, above=0.0, hint="the figure's height in inches, e.g. 3.6")
    check_int("ncols", ncols, minimum=1)
    check_int("nrows", nrows, minimum=1)
    return plt.subplots(nrows, ncols, figsize=(FIGURE_WIDTHS[width], height), **kwargs)


def log_axis(ax, which: str = "y", base: float = 10) -> None:
    """Put axis ``which`` (``'x'``, ``'y'`` or ``'both'``) of ``ax`` on a log scale with readable major ticks."""
    _check_axes(ax)
    check_choice("which", which, ("x", "y", "both"))
    check_number("base", base, above=1.0, hint="e.g. 10 or 2")
    if which in {"x", "both"}:
        ax.set_xscale("log", base=base)
    if which in {"y", "both"}:
        ax.set_yscale("log", base=base)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(False, which="minor")


def _check_axes(ax) -> None:
    """Raise unless ``ax`` is one matplotlib ``Axes`` (the usual slips: the figure, the tuple, an array of axes)."""
    if isinstance(ax, mpl.axes.Axes):
        return
    hint = {tuple: "new_figure returns (fig, ax): unpack it", mpl.figure.Figure: "pass the axes: fig, ax = new_figure()",
            np.ndarray: "new_figure with ncols or nrows > 1 returns an array of axes: pick one, e.g. axes[0]"}
    given = "a Figure" if isinstance(ax, mpl.figure.Figure) else describe(ax)
    fail(f"ax must be a matplotlib Axes, got {given}", TypeError, hint.get(type(ax), ""))


def _check_history(history, kind: str, fields: tuple[str, ...], made_by: str, other: str) -> None:
    """Raise unless ``history`` has the ``fields`` of a ``utils.training.<kind>`` (the other kind gets its own hint)."""
    if not all(hasattr(history, name) for name in fields):
        drawn_by = {"History": "plot_learning_curves", "StepHistory": "plot_step_history"}[other]
        hint = (f"a {other} is drawn by {drawn_by}" if type(history).__name__ == other
                else f"pass what utils.training.{made_by} returned")
        fail(f"history must be a utils.training.{kind}, got {describe(history)}", TypeError, hint)


def _check_dict(name: str, value, example: str) -> None:
    """Raise unless ``value`` is a non-empty dict (one entry per line, bar or corpus)."""
    if not isinstance(value, dict) or not value:
        fail(f"{name} must be a non-empty dict, got {describe(value)}", ValueError if isinstance(value, dict)
             else TypeError, f"e.g. {example}")


def _as_array(name: str, values, ndim: int = 1, hint: str = "") -> np.ndarray:
    """``values`` (numbers in ``ndim`` dims, rows of one length) as a float array, else a message naming ``name``."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        fail(f"{name} must be {ndim}-D numbers, in rows of one length, got {describe(values)}", ValueError, hint)
    if array.ndim != ndim:
        fail(f"{name} must be {ndim}-D, got shape {array.shape}", ValueError, hint or "flatten it, or pass one row")
    return array


# ---------------------------------------------------------------------------------------------------------------
# Chapter 1, A short history of large models: timelines on a log axis, fitted trends, eras.
# ---------------------------------------------------------------------------------------------------------------


TIMELINE_LABEL = "timeline-label"  # gid of the point labels that plot_timeline writes, so tidy_labels can find them


def plot_timeline(ax, years, values, labels=None, color=None, marker: str = "o", label: str | None = None,
                  fontsize: float = 7.0, filled: bool = True):  # fmt: skip
    """Scatter ``values`` against ``years`` on a log y axis and write ``labels`` (empty strings are skipped) beside the points.

    ``years`` and ``values`` are 1-D sequences of equal length; ``filled=False`` draws hollow markers (e.g. for
    estimated figures). Labels start above-right of their point; call :func:`tidy_labels` once the figure is
    complete (all points, legend) to move them where they collide with nothing. Returns the scatter's ``PathCollection``.
    """
    _check_axes(ax)
    years, values = _as_array("years", years), _as_array("values", values)
    if years.shape != values.shape:
        fail(f"years and values must have the same length, got {len(years)} and {len(values)}", ValueError,
             "one value per year: are both from the same table?")
    if labels is not None and len(labels) != len(years):
        fail(f"labels must have one entry per point ({len(years)}), got {len(labels)}", ValueError,
             "use an empty string for a point without a label")
    check_bool("filled", filled)
    color = color or BOOK_COLORS[0]
    points = ax.scatter(years, values, s=28, marker=marker, label=label, zorder=3,
                        facecolors=color if filled else "white", edgecolors=color, linewidths=1.2)  # fmt: skip
    log_axis(ax, "y")
    for i, text in enumerate(labels if labels is not None else []):
        if text:
            _point_label(ax, text, (years[i], values[i]), (4.0, 3.0), fontsize, leader=False)
    return points


def _point_label(ax, text, xy, offset, fontsize, leader: bool):
    """One point label ``offset`` points away from ``xy``, aligned away from the point; a thin leader line if asked."""
    dx, dy = offset
    ha = "left" if dx > 0 else "right" if dx < 0 else "center"
    va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
    arrow = {"arrowstyle": "-", "color": "0.45", "linewidth": 0.7, "shrinkA": 1, "shrinkB": 3} if leader else None
    annotation = ax.annotate(text, xy, xytext=offset, textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                             color="0.25", gid=TIMELINE_LABEL, arrowprops=arrow, zorder=4)  # fmt: skip
    annotation.set_in_layout(False)  # labels must fit inside the axes; they never resize the layout
    return annotation


# Where tidy_labels tries a label, nearest first: 8 directions on rings of growing distance (points).
_DIRECTIONS = ((1, 0.75), (1, -0.75), (-1, 0.75), (-1, -0.75), (0, 1), (0, -1), (1, 0), (-1, 0))
_RINGS = (4.0, 10.0, 18.0, 28.0, 40.0)
_LABEL_CANDIDATES = tuple((ring * x, ring * y) for ring in _RINGS for x, y in _DIRECTIONS)


def _text_box(text, renderer):
    """Display-space box of a label's text alone (an annotation's leader line excluded)."""
    if hasattr(text, "update_positions"):
        text.update_positions(renderer)
    return mpl.text.Text.get_window_extent(text, renderer)


def _obstacles(ax, renderer) -> list[tuple[str, object]]:
    """Everything a point label must not cover: every scatter marker, the legend, and texts that are not labels."""
    found = []
    for collection in ax.collections:
        offsets = np.asarray(collection.get_offsets())
        sizes = np.broadcast_to(collection.get_sizes() if len(collection.get_sizes()) else [36.0], (len(offsets),))
        centres = collection.get_offset_transform().transform(offsets) if len(offsets) else np.empty((0, 2))
        for (x, y), size in zip(centres, sizes):
            half = np.sqrt(size) / 2 * ax.figure.dpi / 72  # marker size s is an area in points²
            found.append(("a point", mpl.transforms.Bbox([[x - half, y - half], [x + half, y + half]])))
    legend = ax.get_legend()
    if legend is not None:
        found.append(("the legend", legend.get_window_extent(renderer)))
    for text in ax.texts:
        if text.get_gid() != TIMELINE_LABEL and text.get_text():
            found.append((f"the text {text.get_text()!r}", text.get_window_extent(renderer)))
    return found


def _line_boxes(ax) -> list:
    """Small boxes along every line of ``ax`` (trends, reference lines), 2 pixels apart: what a label should not cross."""
    boxes = []
    for line in ax.lines:
        xy = line.get_transform().transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        half = max(line.get_linewidth(), 1.0) * ax.figure.dpi / 72 / 2
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            steps = max(int(np.hypot(x1 - x0, y1 - y0) / 2), 1)
            for t in np.linspace(0.0, 1.0, steps + 1):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                boxes.append(mpl.transforms.Bbox([[x - half, y - half], [x + half, y + half]]))
    return boxes


def _overlap_area(a, b, margin: float = 0.5) -> float:
    """Area (pixels²) shared by boxes ``a`` and ``b``; overlaps thinner than ``margin`` pixels count as touching, not overlapping."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > margin and height > margin else 0.0


def _outside_area(box, frame) -> float:
    """Area (pixels²) of ``box`` that lies outside ``frame``."""
    return box.width * box.height - _overlap_area(box, frame, margin=0.0)


def _labels(ax):
    return [text for text in ax.texts if text.get_gid() == TIMELINE_LABEL]


def _place_label(ax, old, renderer, frame, hard: list, lines: list):
    """Replace the label ``old`` by its best candidate position (see :func:`tidy_labels`); return the new text box.

    ``hard``: boxes a label must not overlap (markers, legend, texts, labels placed before); ``lines``: boxes
    along lines, to cross as little as possible; ``frame``: the axes' box, to stay inside.
    """
    text, xy, fontsize = old.get_text(), old.xy, old.get_fontsize()
    old.remove()
    best, best_cost, best_box = None, (np.inf, np.inf), None
    for rank, offset in enumerate(_LABEL_CANDIDATES):
        candidate = _point_label(ax, text, xy, offset, fontsize, leader=rank >= len(_DIRECTIONS))
        box = _text_box(candidate, renderer)
        covered = _outside_area(box, frame) + sum(_overlap_area(box, other) for other in hard)
        crossed = sum(_overlap_area(box, other, margin=0.0) for other in lines) if covered == 0 else np.inf
        if (covered, crossed) < best_cost:
            if best is not None:
                best.remove()
            best, best_cost, best_box = candidate, (covered, crossed), box
        else:
            candidate.remove()
        if best_cost == (0, 0):
            break
    return best_box


def tidy_labels(ax) -> list[str]:
    """Move every label of :func:`plot_timeline` on ``ax`` to the nearest spot that covers nothing and stays inside the axes.

    Call it last, after every point, line, legend and limit is set. Labels in crowded places go first (most
    markers within 30 points of their own); each tries the positions of ``_LABEL_CANDIDATES`` (nearest first;
    a thin leader line beyond the first ring) and keeps the first that overlaps no marker, no legend, no other
    text, no label placed before it and no line; where none is free of all, the one that covers no marker,
    legend, text or label and crosses the least line, else the one that overlaps least. Returns
    :func:`label_collisions` of the result (empty when every label found a clean spot).
    """
    _check_axes(ax)
    fig = ax.figure
    fig.canvas.draw()  # settle the layout so that display coordinates are final
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    fixed = [box for _, box in _obstacles(ax, renderer)]
    lines = _line_boxes(ax)
    centres = np.array([[(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2] for box in fixed]).reshape(-1, 2)
    reach = 30 * fig.dpi / 72

    def crowding(label):
        x, y = ax.transData.transform(label.xy)
        return int(np.sum(np.hypot(centres[:, 0] - x, centres[:, 1] - y) < reach))

    placed = []
    for old in sorted(_labels(ax), key=crowding, reverse=True):
        placed.append(_place_label(ax, old, renderer, frame, fixed + placed, lines))
    return label_collisions(ax)


def label_collisions(ax) -> list[str]:
    """What the point labels of ``ax`` collide with, after a fresh draw: one line per problem, empty if none.

    A label collides when its text box leaves the axes, or overlaps another label, a marker (its own included),
    the legend or another text. Overlaps thinner than half a pixel are touching, not colliding.
    """
    _check_axes(ax)
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    labels = _labels(ax)
    boxes = [_text_box(label, renderer) for label in labels]
    problems = []
    for i, (label, box) in enumerate(zip(labels, boxes)):
        name = label.get_text()
        if _outside_area(box, frame) > 0.5:
            problems.append(f"{name!r} is clipped by the edge of the axes")
        for what, other in _obstacles(ax, renderer):
            if _overlap_area(box, other) > 0:
                problems.append(f"{name!r} covers {what}")
        for other_label, other in zip(labels[i + 1 :], boxes[i + 1 :]):
            if _overlap_area(box, other) > 0:
                problems.append(f"{name!r} overlaps the label {other_label.get_text()!r}")
    return problems


def plot_doubling_fit(ax, fit, color=None, label_prefix: str = ""):
    """Draw the fitted trend of a :class:`utils.history.DoublingTimeFit` over its years, labelled with its doubling time."""
    _check_axes(ax)
    if not all(hasattr(fit, name) for name in ("predict", "doubling_time_months", "start", "end")):
        fail(f"fit must be a DoublingTimeFit, got {describe(fit)}", TypeError,
             "make it with utils.history.fit_doubling_time(years, values)")
    years = np.linspace(fit.start, fit.end, 50)
    low, high = fit.doubling_time_interval_months
    high_text = "∞" if np.isinf(high) else f"{high:.0f}"
    label = f"{label_prefix}doubling every {fit.doubling_time_months:.0f} mo ({fit.confidence:.0%} CI {low:.0f}–{high_text})"
    return ax.plot(years, fit.predict(years), "--", color=color or BOOK_COLORS[1], linewidth=1.4, label=label)[0]


def shade_eras(ax, boundaries, names, alpha: float = 0.06):
    """Shade alternate spans between ``boundaries`` (years, ascending; ``len(names) + 1`` of them) and name each at the top."""
    _check_axes(ax)
    boundaries = _as_array("boundaries", boundaries)
    if isinstance(names, str) or len(boundaries) != len(names) + 1:
        fail(f"boundaries must have one more entry than names, got {len(boundaries)} and {describe(names)}",
             ValueError, "n eras need n + 1 boundaries: the start of each and the end of the last")
    if np.any(np.diff(boundaries) <= 0):
        fail(f"boundaries must be ascending years, got {boundaries.tolist()}", ValueError)
    check_number("alpha", alpha, minimum=0.0, maximum=1.0)
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
    _check_axes(ax)
    _check_history(history, "History", ("train_metric", "val_metric", "best_epoch"), "train", "StepHistory")
    check_bool("metric", metric)
    train, val = (history.train_metric, history.val_metric) if metric else (history.train_loss, history.val_loss)
    if len(val) == 0:
        fail(f"history holds no {'metric' if metric else 'validation loss'} values to plot", ValueError,
             "it was trained without a metric_fn: pass metric=False to plot the losses, or train with metric_fn=..."
             if metric else "train for at least one epoch with a validation loader")
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
    _check_axes(ax)
    runs = _as_array("runs", runs, ndim=2, hint="(n_runs, n_points): one row per seed, all of one length; "
                                                "a single run is runs[None]")
    x = np.arange(1, runs.shape[1] + 1) if x is None else _as_array("x", x)
    if len(x) != runs.shape[1]:
        fail(f"x must have one entry per point of runs ({runs.shape[1]}), got {len(x)}", ValueError,
             "runs is (n_runs, n_points): is it transposed?")
    mean, std = runs.mean(axis=0), runs.std(axis=0)
    (line,) = ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


# ---------------------------------------------------------------------------------------------------------------
# Chapter 3, The math of attention: attention probabilities as heatmaps, boolean masks.
# ---------------------------------------------------------------------------------------------------------------


def plot_attention_heatmap(ax, probs, query_labels=None, key_labels=None, title: str = "", vmax: float | None = None):
    """Draw attention probabilities ``probs`` ``(T_q, T_k)`` (rows = queries) as a heatmap on ``ax``.

    ``query_labels``/``key_labels`` (lists of strings, e.g. tokens) label the rows and columns; returns the image.
    """
    _check_axes(ax)
    probs = probs.detach().cpu().numpy() if hasattr(probs, "detach") else np.asarray(probs)
    if probs.ndim != 2:
        fail(f"probs must be 2-D (T_q, T_k), got shape {probs.shape}", ValueError,
             "pick one example and one head, e.g. probs[0, 0]")
    image = ax.imshow(probs, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.grid(False)
    for labels, set_ticks, set_labels, n in (
        (query_labels, ax.set_yticks, ax.set_yticklabels, probs.shape[0]),
        (key_labels, ax.set_xticks, ax.set_xticklabels, probs.shape[1]),
    ):
        if labels is not None:
            if len(labels) != n:
                which = "query_labels" if labels is query_labels else "key_labels"
                fail(f"{which} must have {n} labels for an axis of probs {probs.shape}, got {len(labels)}",
                     ValueError, "one label per token: are the labels those of this sequence?")
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
    _check_axes(ax)
    mask = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
    if mask.ndim != 2:
        fail(f"mask must be 2-D (T_q, T_k), got shape {mask.shape}", ValueError, "pick one example, e.g. mask[0]")
    if mask.dtype != bool:
        fail(f"mask must be boolean (True: may attend), got dtype {mask.dtype}", TypeError,
             "compare it, e.g. mask == 0 or scores > -inf")
    image = ax.imshow(mask, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title)
    return image


# ---------------------------------------------------------------------------------------------------------------
# Chapter 4, Tokenization: word frequencies and compression against vocabulary size.
# ---------------------------------------------------------------------------------------------------------------


def plot_rank_frequency(ax, counts, label: str | None = None, color=None):
    """Zipf plot: the frequency of each word (``counts``: a mapping word -> count, or a 1-D sequence of counts)
    against its rank, both axes logarithmic. Returns the ``Line2D``."""
    _check_axes(ax)
    if isinstance(counts, str):
        fail(f"counts must be a mapping word -> count or a sequence of counts, got {describe(counts)}", TypeError,
             "count the words first, e.g. collections.Counter(text.split())")
    values = _as_array("counts", list(counts.values()) if hasattr(counts, "values") else counts)
    if values.size == 0:
        fail("counts must hold at least one count, got none", ValueError, "count the words of a non-empty text")
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
    _check_axes(ax)
    sizes = _as_array("vocab_sizes", vocab_sizes)
    _check_dict("bytes_per_token", bytes_per_token, "{'english': [...], 'code': [...]}, one entry per corpus")
    lines = []
    for name, values in bytes_per_token.items():
        values = np.asarray(values, dtype=float)
        if values.shape != sizes.shape:
            fail(f"bytes_per_token[{name!r}] must have {sizes.size} values (one per vocab size), "
                 f"got shape {values.shape}", ValueError, "one value per entry of vocab_sizes, in the same order")
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
    _check_axes(ax)
    _check_dict("breakdowns", breakdowns, "{'tiny': {'embedding': 4096, 'blocks': 8192}}, one dict per model")
    check_number("unit", unit, above=0.0, hint="1e6 shows millions")
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
    _check_axes(ax)
    _check_dict("profiles", profiles, "{'pre-norm': norms_pre, 'post-norm': norms_post}: label -> values by layer")
    if not isinstance(ylabel, str):
        fail(f"ylabel must be a str, got {describe(ylabel)}", TypeError, "the name of what is plotted by layer")
    check_bool("log", log)
    for i, (label, values) in enumerate(profiles.items()):
        ax.plot(range(1, len(values) + 1), list(values), marker="o", markersize=3, label=label,
                color=BOOK_COLORS[i % len(BOOK_COLORS)])  # fmt: skip
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="layer", ylabel=ylabel)
    ax.legend()
    return ax


# ---------------------------------------------------------------------------------------------------------------
# Chapter 6, Pretraining: loss curves per step, a scaling fit on log-log axes, a next-token distribution.
# ---------------------------------------------------------------------------------------------------------------


def plot_step_history(ax, history, label: str = "", color=None, smooth: int = 1):
    """Draw a :class:`utils.training.StepHistory`: training loss per step (dashed, a running mean over ``smooth``
    steps) and validation loss at its evaluation steps (solid, dots). Returns the validation line (or the training
    line when the history holds no evaluation).
    """
    _check_axes(ax)
    _check_history(history, "StepHistory", ("step", "train_loss", "eval_step", "val_loss"), "fit", "History")
    if not history.step:
        fail("history holds no steps to plot", ValueError, "run fit for at least one step")
    check_int("smooth", smooth, minimum=1, hint="1 draws every step; 20 a running mean over 20 steps")
    steps, losses = np.asarray(history.step), np.asarray(history.train_loss, dtype=float)
    running = np.convolve(losses, np.ones(smooth) / smooth, mode="valid") if len(losses) >= smooth else losses
    (train_line,) = ax.plot(steps[len(steps) - len(running):], running, "--", color=color, linewidth=1.2, alpha=0.8,
                            label=f"{label} training".strip())  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    if not history.val_loss:
        return train_line
    (val_line,) = ax.plot(history.eval_step, history.val_loss, "o-", color=train_line.get_color(), markersize=3,
                          label=f"{label} validation".strip())  # fmt: skip
    return val_line


def plot_scaling_fit(ax, n_params, losses, coefficient: float, exponent: float, label: str = "", color=None):
    """Points ``(n_params, losses)`` and the fitted power law ``loss = coefficient * n_params ** -exponent`` on
    log-log axes. Returns the fitted line."""
    _check_axes(ax)
    n_params, losses = _as_array("n_params", n_params), _as_array("losses", losses)
    if n_params.shape != losses.shape or len(n_params) < 2:
        fail(f"n_params and losses must have one length >= 2, got {len(n_params)} and {len(losses)}", ValueError,
             "one loss per model size, from at least two runs")
    if np.any(n_params <= 0):
        fail(f"n_params must be > 0 (a log axis), got {n_params.min():g}", ValueError)
    (points,) = ax.plot(n_params, losses, "o", color=color, label=f"{label} runs".strip())
    grid = np.geomspace(n_params.min() / 1.5, n_params.max() * 1.5, 50)
    (line,) = ax.plot(grid, coefficient * grid**-exponent, "-", color=points.get_color(), linewidth=1.2,
                      label=f"{label} fit: L ∝ N^-{exponent:.3f}".strip())  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("validation loss (nats per token)")
    return line


def plot_next_token_distribution(ax, probs, top_k: int | None = None, top_p: float | None = None, n_show: int = 40):
    """Bars of the ``n_show`` largest next-token probabilities (``probs`` 1-D, summing to 1), sorted, with the
    top-k cut (a vertical line after rank k) and the top-p cut (after the rank where the sum first reaches p).
    Returns the number of tokens each cut keeps: ``{"top_k": ..., "top_p": ...}``."""
    _check_axes(ax)
    probs = probs.detach().cpu().numpy() if hasattr(probs, "detach") else probs
    probs = np.sort(_as_array("probs", probs))[::-1]
    if abs(probs.sum() - 1.0) > 1e-3:
        fail(f"probs must sum to 1, got sum {probs.sum():.4f}", ValueError,
             "pass probabilities, softmax(logits), not the logits")
    if top_k is not None:
        check_int("top_k", top_k, minimum=1, hint="None draws no top-k cut")
    if top_p is not None:
        check_number("top_p", top_p, above=0.0, maximum=1.0, hint="None draws no top-p cut")
    check_int("n_show", n_show, minimum=1)
    shown = probs[:n_show]
    ax.bar(np.arange(1, len(shown) + 1), shown, color=BOOK_COLORS[0], width=0.8)
    kept = {}
    if top_k is not None:
        kept["top_k"] = top_k
        ax.axvline(top_k + 0.5, color=BOOK_COLORS[1], linestyle="--", label=f"top-k, k={top_k}")
    if top_p is not None:
        kept["top_p"] = int(np.searchsorted(np.cumsum(probs), top_p) + 1)
        ax.axvline(kept["top_p"] + 0.5, color=BOOK_COLORS[2], linestyle=":", label=f"top-p, p={top_p}")
    ax.set_xlabel("rank of the token")
    ax.set_ylabel("probability")
    return kept
