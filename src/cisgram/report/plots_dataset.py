"""The dataset diagnostics of ``cisgram prepare``'s report: access values per normalisation
stage against their mean over conditions, access-probability distributions, region widths and
TSS distances. Built as :mod:`cisgram.report.plots` builds its figures (Agg canvas, no pyplot)."""

from __future__ import annotations

import numpy as np

DPI = 90


def _grid(rows: int, cols: int, size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def normalisation_stages(stages: list[tuple[str, np.ndarray]], conditions: list[str], constitutive: np.ndarray, *,
                         threshold: float | None = None, threshold_stage: int | None = None):
    """Per condition (rows) and normalisation stage (columns, ``(label, (C, R) values)``), each
    region's value against its mean over the conditions; constitutive regions in red, a dashed
    line at ``threshold`` on stage ``threshold_stage``."""
    const = np.asarray(constitutive, dtype=bool)
    fig, axes = _grid(len(conditions), len(stages), (3.2 * len(stages), 3.0 * len(conditions)))
    for j, (label, m) in enumerate(stages):
        mean = m.mean(axis=0)
        for i, c in enumerate(conditions):
            ax = axes[i, j]
            ax.scatter(mean[~const], m[i, ~const], s=3, alpha=0.4, color="#888", label="other", rasterized=True)
            ax.scatter(mean[const], m[i, const], s=3, alpha=0.6, color="#c33", label="constitutive", rasterized=True)
            lo, hi = float(min(mean.min(), m[i].min())), float(max(mean.max(), m[i].max()))
            ax.plot([lo, hi], [lo, hi], lw=0.8, color="k")
            if threshold is not None and j == threshold_stage:
                ax.axhline(threshold, color="#c33", lw=0.8, ls="--")
            ax.set_title(f"{c}: {label}", fontsize=8)
            ax.set_xlabel("mean over conditions", fontsize=7)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, markerscale=3)
    return fig


def access_histograms(access: np.ndarray, conditions: list[str]):
    """The distribution of access probabilities ``(C, R)`` of each condition."""
    fig, axes = _grid(1, 1, (6, 3.2))
    ax = axes[0, 0]
    for i, c in enumerate(conditions):
        ax.hist(np.asarray(access[i]), bins=50, histtype="step", label=c)
    ax.set_xlabel("access probability")
    ax.set_ylabel("regions")
    ax.legend(fontsize=8)
    return fig


def region_histograms(widths: np.ndarray, tss_distance: np.ndarray, *, distal: float = 5000):
    """Region widths, and distances to the nearest TSS on a log scale with the distal filter."""
    fig, axes = _grid(1, 2, (10, 3.2))
    a, b = axes[0]
    a.hist(widths, bins=40, color="#468")
    a.set_xlabel("region width (bp)")
    d = np.asarray(tss_distance, dtype=float)
    d = d[np.isfinite(d)]
    if d.size:
        b.hist(np.log10(d + 1), bins=50, color="#468")
        b.axvline(np.log10(distal + 1), color="#c33", lw=1, label=f"{distal / 1000:g} kb (distal filter)")
        b.legend(fontsize=8)
    b.set_xlabel("log10(distance to nearest TSS + 1)")
    for ax in (a, b):
        ax.set_ylabel("regions")
    return fig
