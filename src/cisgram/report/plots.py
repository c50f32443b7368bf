"""Every figure of the reports: logos, dose-response curves, spatial profiles, observed-vs-predicted
scatters, bar rankings, training curves, ROC curves, importance tracks, heat maps, graphs,
enhancer tracks, saturation maps, comparison bars and structure tracks (the dataset diagnostics are in
:mod:`cisgram.report.plots_dataset`).

Every builder takes plain numpy input and returns a :class:`matplotlib.figure.Figure` with one
axes, sized for an HTML page that holds dozens of them (about 3 x 2 inches at 90 dpi; a PNG of a
few tens of kB). Wrong shapes or values raise :class:`~cisgram.errors.InputError`.

The figures are built on the Agg canvas directly, not through ``pyplot``: nothing is drawn on
screen, no global state changes, and a figure is freed once the caller drops it. Encoding it and
embedding it is the caller's job — ``cisgram.report.html.img_tag(fig, alt)``; a caller writing
files uses ``fig.savefig(path, dpi=90, bbox_inches="tight")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cisgram.errors import InputError

SIZE = (3.0, 2.0)  # inches
DPI = 90
ALPHABET = "ACGT"
ROW_SUM_TOLERANCE = 1e-3
SCATTER_POINTS = 2000  # above this many points the scatter becomes a hexbin density


def new_figure(size: tuple[float, float] = SIZE):
    """A figure on the Agg canvas with one axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def style_axes(ax, title: str, xlabel: str = "", ylabel: str = "") -> None:
    """The house style of a small figure: 8 pt title, 7 pt labels, 6 pt ticks, no top or right spine."""
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.tick_params(labelsize=6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _vector(values, name: str, *, min_size: int = 1) -> np.ndarray:
    """``values`` as a finite float64 array shaped ``(n,)`` with ``n >= min_size``."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers") from None
    if x.ndim != 1 or x.size < min_size:
        raise InputError(f"{name} must be a 1-D array of at least {min_size} value(s), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name} holds {int(np.sum(~np.isfinite(x)))} value(s) that are NaN or infinite",
                         hint="drop or fill them before plotting")
    return x


def _same_length(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape != b.shape:
        raise InputError(f"{names} must have the same length, got {a.size} and {b.size}")


def information_heights(probs: np.ndarray) -> np.ndarray:
    """Letter heights of an information-content logo, shaped ``(w, 4)``: ``p * IC`` where
    ``IC = 2 - H`` bits (uniform background, ``0 log 0 = 0``). ``probs`` is ``(w, 4)``, A, C, G, T."""
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    return p * (2.0 - entropy)[:, None]


def logo(probs: np.ndarray, title: str = "", *, ax=None):
    """An information-content sequence logo (logomaker) of one motif.

    Parameters
    ----------
    probs
        Letter probabilities shaped ``(w, 4)``, columns A, C, G, T, each row summing to 1 (within
        1e-3), e.g. ``Motif.probs``.
    title
        Axes title (e.g. ``"MA0139.2 CTCF"``).
    ax
        Draw into this axes instead of a new figure (its figure is returned).

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding one glyph patch per letter of non-zero height (``4 * w`` at most;
        logomaker draws no patch for a zero height), y from 0 to 2 bits, x the 0-based positions.
    """
    import logomaker

    try:
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("logo probabilities must be numbers") from None
    if p.ndim != 2 or p.shape[1] != 4 or p.shape[0] == 0:
        raise InputError(f"logo probabilities must be shaped (w, 4) (columns A, C, G, T), got {p.shape}",
                         hint="Motif.probs has this shape; transpose a (4, w) array")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise InputError("logo probabilities must be finite and non-negative")
    off = np.flatnonzero(np.abs(p.sum(axis=1) - 1) > ROW_SUM_TOLERANCE)
    if off.size:
        raise InputError(f"logo probabilities: row {off[0]} sums to {p[off[0]].sum():.4g}, not 1",
                         hint="divide each row by its total")
    if ax is None:
        fig, ax = new_figure((max(1.5, 0.2 * p.shape[0] + 0.5), 1.2))
    else:
        fig = ax.figure
    heights = pd.DataFrame(information_heights(p), columns=list(ALPHABET))
    logomaker.Logo(heights, ax=ax, color_scheme="classic", font_name="DejaVu Sans")
    ax.set_ylim(0, 2)
    style_axes(ax, title, ylabel="bits")
    return fig


def dose_response(energy: np.ndarray, response: np.ndarray, title: str = "", *,
                  observed: tuple[np.ndarray, np.ndarray] | None = None):
    """A motif's response curve: model response against its energy (IceQream's 0-10 scale).

    Parameters
    ----------
    energy, response
        The curve, both shaped ``(n,)``, ``n >= 2``; drawn in the order of ``energy``.
    observed
        Optional ``(x, y)`` of equal length ``(m,)``: binned mean observations, drawn as points.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: one line (the curve) and, with ``observed``, one point collection.
    """
    x = _vector(energy, "energy", min_size=2)
    y = _vector(response, "response", min_size=2)
    _same_length(x, y, "energy and response")
    fig, ax = new_figure()
    order = np.argsort(x, kind="stable")
    ax.plot(x[order], y[order], color="C0", lw=1.5, label="model")
    if observed is not None:
        if len(observed) != 2:
            raise InputError("observed must be a pair (x, y) of binned means")
        ox = _vector(observed[0], "observed x")
        oy = _vector(observed[1], "observed y")
        _same_length(ox, oy, "observed x and y")
        ax.scatter(ox, oy, s=10, color="C1", zorder=3, label="observed")
        ax.legend(fontsize=6, frameon=False)
    style_axes(ax, title, "energy", "response")
    return fig


def spatial_profile(weights: np.ndarray, bin_size: int, offset: int, title: str = ""):
    """Per-bin weights of a position-resolved model as bars.

    Parameters
    ----------
    weights
        One weight per bin, shaped ``(n_bins,)``.
    bin_size
        Width of a bin in bp (> 0).
    offset
        Position in bp of the start of bin 0 (e.g. ``-500`` for bins over ``[-500, 500)`` around
        a region's centre). Bin ``i`` covers ``[offset + i * bin_size, offset + (i + 1) * bin_size)``
        and is drawn at its centre.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with ``n_bins`` bars.
    """
    w = _vector(weights, "weights")
    if isinstance(bin_size, bool) or not isinstance(bin_size, (int, np.integer)) or bin_size <= 0:
        raise InputError(f"bin_size must be a positive integer (bp), got {bin_size!r}")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise InputError(f"offset must be an integer (bp), got {offset!r}")
    centres = offset + bin_size * (np.arange(w.size) + 0.5)
    fig, ax = new_figure()
    ax.bar(centres, w, width=bin_size * 0.9, color=np.where(w >= 0, "C0", "C3"))
    ax.axhline(0, color="0.5", lw=0.5)
    style_axes(ax, title, "position (bp)", "weight")
    return fig


def fit_stats(observed: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Pearson ``r`` and ``R^2 = 1 - SS_res / SS_tot`` of predictions (not ``r**2``); NaN where
    undefined (a constant input)."""
    o, p = np.asarray(observed, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    do, dp = o - o.mean(), p - p.mean()
    ss_o, ss_p = float(do @ do), float(dp @ dp)
    r = float(do @ dp) / np.sqrt(ss_o * ss_p) if ss_o > 0 and ss_p > 0 else float("nan")
    r2 = 1.0 - float((o - p) @ (o - p)) / ss_o if ss_o > 0 else float("nan")
    return r, r2


def scatter(observed: np.ndarray, predicted: np.ndarray, title: str = ""):
    """Observed against predicted values, with Pearson r and R² in the title.

    Parameters
    ----------
    observed, predicted
        Shaped ``(n,)``, ``n >= 2``, finite.

    Returns
    -------
    matplotlib.figure.Figure
        One axes titled ``"{title}  r = 0.812, R² = 0.650"`` (``fit_stats``), holding the points
        (alpha-blended) or, with more than 2000 of them, a hexbin density; and the line y = x.
    """
    o = _vector(observed, "observed", min_size=2)
    p = _vector(predicted, "predicted", min_size=2)
    _same_length(o, p, "observed and predicted")
    r, r2 = fit_stats(o, p)
    fig, ax = new_figure((2.6, 2.4))
    if o.size > SCATTER_POINTS:
        ax.hexbin(p, o, gridsize=40, bins="log", mincnt=1, cmap="Blues", linewidths=0)
    else:
        ax.scatter(p, o, s=4, alpha=max(0.15, min(0.8, 200 / o.size)), color="C0", linewidths=0)
    lo, hi = float(min(o.min(), p.min())), float(max(o.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.7, ls="--")
    stats = f"r = {r:.3f}, R\u00b2 = {r2:.3f}"
    style_axes(ax, f"{title}  {stats}" if title else stats, "predicted", "observed")
    return fig


def bars(names: list[str], values: np.ndarray, title: str = "", xlabel: str = ""):
    """A horizontal bar ranking, first name on top (e.g. leave-one-out ΔR² per motif).

    Parameters
    ----------
    names
        One label per bar, in the order to show (sort first for a ranking).
    values
        Shaped ``(len(names),)``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with ``len(names)`` bars; the figure grows by 0.15 inch per bar.
    """
    names = [str(n) for n in names]
    v = _vector(values, "values")
    if len(names) != v.size:
        raise InputError(f"names and values must have the same length, got {len(names)} and {v.size}")
    fig, ax = new_figure((3.0, max(1.2, 0.15 * len(names) + 0.6)))
    y = np.arange(len(names))
    ax.barh(y, v, color=np.where(v >= 0, "C0", "C3"), height=0.8)
    ax.set_yticks(y, names)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first name on top
    ax.axvline(0, color="0.5", lw=0.5)
    style_axes(ax, title, xlabel)
    return fig


def training_curve(epochs: list[dict], title: str = "", *, best: int | None = None):
    """Training and validation loss per epoch (``epochs``: dicts with ``epoch``, ``train_loss``,
    ``val_loss``), with the kept epoch marked."""
    if not epochs:
        raise InputError("no epochs to plot")
    fig, ax = new_figure((3.2, 2.2))
    e = [d["epoch"] for d in epochs]
    ax.plot(e, [d["train_loss"] for d in epochs], marker=".", label="train", color="C0")
    ax.plot(e, [d["val_loss"] for d in epochs], marker=".", label="validation", color="C1")
    if best is not None and best >= 0:
        ax.axvline(best, color="0.5", lw=0.7, ls="--")
    ax.legend(fontsize=6, frameon=False)
    style_axes(ax, title, "epoch", "loss")
    return fig


def roc_pr(labels: np.ndarray, scores: np.ndarray, title: str = ""):
    """ROC and precision-recall curves side by side, areas in the panel titles."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    y = _vector(labels, "labels", min_size=2) > 0.5
    s = _vector(scores, "scores", min_size=2)
    _same_length(y.astype(float), s, "labels and scores")
    if y.all() or not y.any():
        raise InputError("ROC and PR curves need both classes among the labels")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 2.3), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    fpr, tpr, _ = roc_curve(y, s)
    a.plot(fpr, tpr, color="C0")
    a.plot([0, 1], [0, 1], color="0.6", lw=0.7, ls="--")
    style_axes(a, f"{title} ROC, area {roc_auc_score(y, s):.3f}", "false positive rate", "true positive rate")
    prec, rec, _ = precision_recall_curve(y, s)
    b.plot(rec, prec, color="C1")
    b.axhline(y.mean(), color="0.6", lw=0.7, ls="--")
    style_axes(b, f"PR, area {average_precision_score(y, s):.3f}", "recall", "precision")
    return fig


def roc_curves(labels: np.ndarray, scores: dict[str, np.ndarray], title: str = ""):
    """ROC curves of several scorers of the same labels on one axes, areas in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = _vector(labels, "labels", min_size=2) > 0.5
    if y.all() or not y.any():
        raise InputError("ROC curves need both classes among the labels")
    fig, ax = new_figure((2.8, 2.5))
    for i, (name, s) in enumerate(scores.items()):
        s = _vector(s, f"scores of {name}", min_size=2)
        _same_length(y.astype(float), s, f"labels and scores of {name}")
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, color=f"C{i}", lw=1, label=f"{name} {roc_auc_score(y, s):.3f}")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.7, ls="--")
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    style_axes(ax, title, "false positive rate", "true positive rate")
    return fig


def contribution_logo(contrib: np.ndarray, title: str = "", *, ax=None, spans=()):
    """A logo of signed per-base contributions (letters above zero push the output up, below
    zero down), as drawn for DeepLIFT or ISM explanations.

    Parameters
    ----------
    contrib
        ``(w, 4)`` contributions, columns A, C, G, T (usually non-zero only at the observed base).
    spans
        ``(start, end, label)`` stretches (0-based, half-open, in ``contrib``'s coordinates) to
        shade, e.g. the planted sites of a simulation.
    """
    import logomaker

    c = np.asarray(contrib, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 4 or c.shape[0] == 0 or not np.all(np.isfinite(c)):
        raise InputError(f"contributions must be finite and shaped (w, 4), got {c.shape}",
                         hint="transpose a (4, w) attribution")
    if ax is None:
        fig, ax = new_figure((min(12.0, max(3.0, 0.09 * c.shape[0] + 1.0)), 1.4))  # ~0.09 in a letter up to 120 bp
    else:
        fig = ax.figure
    for start, end, label in spans:
        ax.axvspan(start - 0.5, end - 0.5, color="C2", alpha=0.15, lw=0)
        ax.text((start + end) / 2, 1.0, str(label), transform=ax.get_xaxis_transform(), fontsize=5, ha="center",
                va="bottom")
    logomaker.Logo(pd.DataFrame(c, columns=list(ALPHABET)), ax=ax, color_scheme="classic", font_name="DejaVu Sans")
    ax.axhline(0, color="0.5", lw=0.4)
    style_axes(ax, title, ylabel="contribution")
    return fig


def importance_tracks(tracks: dict[str, np.ndarray], title: str = "", *, spans=()):
    """One row per method: its per-base importance along a sequence, with ``(start, end,
    label)`` stretches shaded (the ground truth of a simulation)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not tracks:
        raise InputError("no importance tracks to plot")
    vals = {name: _vector(v, f"importance of {name}") for name, v in tracks.items()}
    fig = Figure(figsize=(6.0, 0.55 * len(vals) + 0.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(len(vals), 1, sharex=True))
    for i, (ax, (name, v)) in enumerate(zip(axes, vals.items(), strict=True)):
        for start, end, _ in spans:
            ax.axvspan(start - 0.5, end - 0.5, color="C2", alpha=0.2, lw=0)
        ax.plot(np.arange(v.size), v, color=f"C{i % 10}", lw=0.6)
        ax.set_yticks([])
        style_axes(ax, "", ylabel=name)
        ax.yaxis.label.set(rotation=0, ha="right", va="center", fontsize=6)
    axes[0].set_title(title, fontsize=8)
    axes[-1].set_xlabel("position (bp)", fontsize=7)
    return fig


def heatmap(values: np.ndarray, rows: list[str], columns: list[str], title: str = "", *, center: bool = True,
            label: str = ""):
    """A labelled heat map of a ``(len(rows), len(columns))`` matrix (gene × motif, motif × motif),
    a diverging colour scale centred on 0 when ``center`` (else viridis); the figure grows with the
    matrix (0.16 inch per row and column)."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("the heat map's values must be numbers") from None
    if v.ndim != 2 or v.shape != (len(rows), len(columns)) or v.size == 0:
        raise InputError(f"the heat map needs a non-empty ({len(rows)}, {len(columns)}) matrix, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise InputError("the heat map's values hold NaN or infinite entries")
    fig, ax = new_figure((max(2.5, 0.16 * len(columns) + 1.6), max(1.5, 0.16 * len(rows) + 1.0)))
    if center:
        lim = float(np.abs(v).max()) or 1.0
        im = ax.imshow(v, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    else:
        im = ax.imshow(v, cmap="viridis", aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(len(columns)), [str(c) for c in columns], rotation=90)
    ax.set_yticks(np.arange(len(rows)), [str(r) for r in rows])
    cb = fig.colorbar(im, ax=ax, shrink=0.6)
    cb.ax.tick_params(labelsize=6)
    cb.set_label(label, fontsize=6)
    style_axes(ax, title)
    ax.tick_params(labelsize=5)
    return fig


def network(edges: list[tuple[str, str, float]], title: str = "", *, seed: int = 0):
    """A directed graph of weighted edges ``(source, target, weight)`` (a causal graph among
    motifs): nodes on a spring layout, arrows coloured by sign (red +, blue -), width by |weight|."""
    import networkx as nx

    fig, ax = new_figure((5.0, 4.0))
    ax.set_axis_off()
    if not edges:
        ax.text(0.5, 0.5, "no edge above the threshold", ha="center", va="center", fontsize=8)
        style_axes(ax, title)
        return fig
    g = nx.DiGraph()
    for s, t, w in edges:
        g.add_edge(str(s), str(t), weight=float(w))
    pos = nx.spring_layout(g, seed=seed, k=1.5 / np.sqrt(g.number_of_nodes()))
    w = np.array([d["weight"] for _, _, d in g.edges(data=True)])
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=60, node_color="0.85", edgecolors="0.4", linewidths=0.5)
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=5)
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color=np.where(w > 0, "C3", "C0").tolist(),
                           width=(0.5 + 2.5 * np.abs(w) / np.abs(w).max()).tolist(), arrowsize=6, node_size=60)
    style_axes(ax, title)
    return fig


def enhancer_track(distance: np.ndarray, score: np.ndarray, title: str = "", *, parts: dict | None = None):
    """Bars of an enhancer score per region against its distance to the TSS (kb); ``parts`` (name →
    values) are drawn as lines of markers above it (e.g. knock-out loss, ABC term)."""
    d = _vector(distance, "distance") / 1000.0
    s = _vector(score, "score")
    _same_length(d, s, "distance and score")
    fig, ax = new_figure((5.0, 2.0))
    width = max(0.5, 0.6 * float(np.median(np.diff(np.sort(d)))) if d.size > 1 else 1.0)
    ax.bar(d, s, width=width, color="0.6", label="score")
    for i, (name, v) in enumerate((parts or {}).items()):
        v = _vector(v, name)
        _same_length(d, v, f"distance and {name}")
        ax.plot(d, v, ls="none", marker="o", ms=2, color=f"C{i}", label=name)
    ax.axvline(0, color="0.3", lw=0.5, ls=":")
    ax.legend(fontsize=5, frameon=False)
    style_axes(ax, title, "distance to the TSS region (kb)", "share")
    return fig





def saturation_heatmap(mat: np.ndarray, ref: np.ndarray, first_pos: int, title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    n = mat.shape[1]
    fig = Figure(figsize=(min(16.0, max(4.0, 0.03 * n + 2.0)), 2.0), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lim = float(np.abs(mat).max()) or 1.0
    im = ax.imshow(mat, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), interpolation="nearest",
                   extent=(first_pos - 0.5, first_pos + n - 0.5, 3.5, -0.5))
    known = ref < 4
    ax.scatter(first_pos + np.flatnonzero(known), ref[known], s=max(1.0, min(9.0, 600.0 / n)), c="k", marker="o",
               edgecolors="w", linewidths=0.4, label="reference base")  # visible on dark cells too
    ax.set_yticks(range(4), list("ACGT"))
    ax.set_xlabel("position (1-based)", fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=ax, shrink=0.9).set_label("alt − ref", fontsize=7)
    return fig





def compare_bars(target: str, comparison: dict):
    """Test Pearson (and auROC) per model with 95 % bootstrap intervals, and each model's
    difference to the reference run with its interval, from a ``comparison.json`` dict."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = [m["name"] for m in comparison["models"]]
    test = comparison["metrics"]["test"][target]
    ref = comparison["reference"][target]["model"]
    binary = next(x["binary"] for x in comparison["targets"] if x["name"] == target)
    metrics = ["pearson", "auroc"] if binary else ["pearson"]
    fig = Figure(figsize=(4.2 * 2 * len(metrics), 0.35 * len(models) + 1.2), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 * len(metrics), squeeze=False)[0]
    y = np.arange(len(models))
    colours = ["C0" if m["kind"] == "run" else "C2" for m in comparison["models"]]
    for k, metric in enumerate(metrics):
        ax, dx = axes[2 * k], axes[2 * k + 1]
        vals = np.array([np.nan if test[m].get(metric) is None else test[m][metric] for m in models], dtype=float)
        ci = [comparison["intervals"][target].get(m, {}).get(metric) or [None, None] for m in models]
        lo = np.array([np.nan if c[0] is None else c[0] for c in ci], dtype=float)
        hi = np.array([np.nan if c[1] is None else c[1] for c in ci], dtype=float)
        ax.barh(y, np.nan_to_num(vals), color=colours, height=0.7)
        err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        ok = np.isfinite(err).all(axis=0) & np.isfinite(vals)
        ax.errorbar(vals[ok], y[ok], xerr=err[:, ok], fmt="none", ecolor="k", elinewidth=0.8, capsize=2)
        ax.set_yticks(y, [f"{m} (ref)" if m == ref else m for m in models], fontsize=7)
        ax.set_ylim(len(models) - 0.5, -0.5)
        ax.axvline(0, color="0.5", lw=0.5)
        ax.set_title(f"{target}: test {metric} (95% bootstrap)", fontsize=8)
        ax.tick_params(labelsize=6)
        d = [comparison["versus_reference"][target][m].get(metric) or [None, None, None] for m in models]
        est = np.array([np.nan if v[0] is None else v[0] for v in d], dtype=float)
        dlo = np.array([np.nan if v[1] is None else v[1] for v in d], dtype=float)
        dhi = np.array([np.nan if v[2] is None else v[2] for v in d], dtype=float)
        ok = np.isfinite(est) & np.isfinite(dlo) & np.isfinite(dhi)
        dx.errorbar(est[ok], y[ok], xerr=np.vstack([est[ok] - dlo[ok], dhi[ok] - est[ok]]).clip(0), fmt="o",
                    color="C1", ms=3, elinewidth=0.8, capsize=2)
        dx.axvline(0, color="0.5", lw=0.7, ls="--")
        dx.set_yticks(y, [""] * len(models))
        dx.set_ylim(len(models) - 0.5, -0.5)
        dx.set_title(f"difference to {ref}", fontsize=8)
        dx.tick_params(labelsize=6)
    return fig


def plddt_track(plddt: np.ndarray, residues: np.ndarray, folded=(), title: str = ""):
    """pLDDT ``(n,)`` (0-100) by residue number ``(n,)``, ``folded`` ``[(start, end)]`` (inclusive) shaded."""
    _same_length(x := _vector(residues, "residue numbers"), y := _vector(plddt, "pLDDT"), "residues and pLDDT")
    fig, ax = new_figure((6.0, 1.6))
    ax.broken_barh([(s - 0.5, e - s + 1.0) for s, e in folded], (0, 100), color="C2", alpha=0.25, lw=0)
    ax.plot(x, y, color="C0", lw=0.8)
    style_axes(ax, title, "residue", "pLDDT")
    return fig

def pae_map(pae: np.ndarray, starts=(), title: str = ""):
    """A ``(N, N)`` PAE in Å (row: aligned, column: scored residue); chain ``starts`` (0-based rows) ruled."""
    fig, ax = new_figure((3.4, 3.0))
    fig.colorbar(ax.imshow(pae, cmap="Greens_r", vmin=0, interpolation="nearest"), ax=ax, shrink=0.8, label="PAE (Å)")
    ax.hlines(np.asarray(starts[1:]) - 0.5, -0.5, len(pae) - 0.5, color="k", lw=0.6)
    ax.vlines(np.asarray(starts[1:]) - 0.5, -0.5, len(pae) - 0.5, color="k", lw=0.6)
    style_axes(ax, title, "scored residue", "aligned residue")
    return fig
