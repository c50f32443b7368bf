"""The figures of base-resolution (ChromBPNet) runs: observed against predicted counts per kind of
window, and one region's observed and predicted profiles. Built as :mod:`cisgram.report.plots`
builds its figures (Agg canvas, no pyplot, its :func:`~cisgram.report.plots.new_figure` and
:func:`~cisgram.report.plots.style_axes`); each takes plain numpy input and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

import numpy as np

from cisgram.errors import InputError
from cisgram.report.plots import fit_stats, new_figure, style_axes

KIND_COLOURS = {"peak": "C0", "background": "C7"}


def count_scatter(observed: np.ndarray, predicted: np.ndarray, kinds: np.ndarray, title: str = ""):
    """Observed against predicted log counts, one colour per kind of window (``kinds``: peak,
    background), Pearson r of each kind and of all in the legend; the line y = x."""
    o, p = np.asarray(observed, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    k = np.asarray(kinds).astype(str)
    if not o.shape == p.shape == k.shape or o.ndim != 1 or o.size < 2:
        raise InputError(f"observed, predicted and kinds must be 1-D of one length >= 2, got {o.shape}, {p.shape}, "
                         f"{k.shape}")
    fig, ax = new_figure((3.0, 2.6))
    for kind in dict.fromkeys(k):
        m = k == kind
        r = fit_stats(o[m], p[m])[0] if m.sum() > 2 else float("nan")
        ax.scatter(p[m], o[m], s=4, alpha=max(0.15, min(0.8, 200 / m.sum())), linewidths=0,
                   color=KIND_COLOURS.get(kind, "C1"), label=f"{kind} (n {int(m.sum()):,}, r {r:.2f})")
    lo, hi = float(min(o.min(), p.min())), float(max(o.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.7, ls="--")
    ax.legend(fontsize=5, frameon=False, markerscale=2)
    r_all = fit_stats(o, p)[0]
    style_axes(ax, f"{title}  r = {r_all:.3f}" if title else f"r = {r_all:.3f}", "predicted log count",
               "observed log(1 + count)")
    return fig


def profile_tracks(observed: np.ndarray, predicted: dict[str, np.ndarray], start: int = 0, title: str = ""):
    """One region's observed counts per base (bars) and predicted expected counts (lines, one per
    name of ``predicted``: e.g. full, bias-free, bias), tracks summed; x in genome coordinates
    from ``start``."""
    y = np.asarray(observed, dtype=np.float64)
    y = y.reshape(-1, y.shape[-1]).sum(0)
    fig, ax = new_figure((6.0, 1.8))
    x = np.arange(y.size) + int(start)
    ax.bar(x, y, width=1.0, color="0.75", linewidth=0, label="observed")
    for i, (name, v) in enumerate(predicted.items()):
        if v is None:
            continue
        v = np.asarray(v, dtype=np.float64)
        v = v.reshape(-1, v.shape[-1]).sum(0)
        if v.size != y.size:
            raise InputError(f"predicted {name!r} has {v.size} positions, observed {y.size}")
        ax.plot(x, v, lw=0.8, color=f"C{i}", label=name)
    ax.legend(fontsize=5, frameon=False, ncol=len(predicted) + 1)
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    style_axes(ax, title, "position", "counts")
    return fig
