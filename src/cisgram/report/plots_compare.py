"""Figures of ``cisgram compare`` beyond the metric bars of :mod:`cisgram.report.plots`: the
cell-type specificity of each model for one pair of targets.

Builders take the dictionaries ``comparison.json`` holds (nothing is computed here but the
positions of marks) and return a :class:`matplotlib.figure.Figure` on the Agg canvas, in the house
style of :mod:`cisgram.report.plots`.
"""

from __future__ import annotations

import numpy as np

from cisgram.report.plots import DPI, style_axes


def _num(v) -> float:
    return np.nan if v is None else float(v)


def specificity_pair(pair: dict, title: str = ""):
    """One pair (A, B) of a ``specificity`` entry: left, each model's head-head Pearson r with the
    observed A-B r as a dashed line (a model that tells A from B sits near it, not at 1); right,
    the Pearson r of (pred A - pred B) with (obs A - obs B), raw and with GC regressed out of both,
    with 95 % bootstrap intervals. Models without a value (a constant difference) are left blank."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = list(pair["models"])
    y = np.arange(len(models))
    fig = Figure(figsize=(7.0, 0.32 * len(models) + 1.1), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    hx, dx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    head = np.array([_num(pair["models"][m]["head_r"]) for m in models])
    ok = np.isfinite(head)
    hx.barh(y[ok], head[ok], height=0.6, color="0.6")
    if pair.get("observed_r") is not None:
        hx.axvline(pair["observed_r"], color="C3", ls="--", lw=0.8, label="observed A-B r")
        hx.legend(fontsize=6, loc="lower left", frameon=False)
    hx.set_yticks(y, models, fontsize=6)
    hx.set_ylim(len(models) - 0.5, -0.5)
    hx.set_xlim(min(0.0, np.nanmin(head, initial=0.0)), 1.02)
    style_axes(hx, "head-head r", "Pearson r")
    for k, (key, colour, label) in enumerate((("difference_r", "C0", "raw"), ("difference_r_gc", "C2", "GC regressed out"))):
        est = np.array([_num(pair["models"][m].get(key)) for m in models])
        ci = [pair["models"][m].get(key + "_ci") or [None, None] for m in models]
        lo, hi = np.array([_num(c[0]) for c in ci]), np.array([_num(c[1]) for c in ci])
        ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            dx.errorbar(est[ok], y[ok] + (k - 0.5) * 0.3, xerr=np.vstack([est[ok] - lo[ok], hi[ok] - est[ok]]).clip(0),
                        fmt="o", ms=3, color=colour, elinewidth=0.8, capsize=2, label=label)
    dx.axvline(0, color="0.5", lw=0.6, ls="--")
    dx.set_yticks(y, [""] * len(models))
    dx.set_ylim(len(models) - 0.5, -0.5)
    if dx.get_legend_handles_labels()[0]:
        dx.legend(fontsize=6, frameon=False, loc="best")
    style_axes(dx, title or f"{pair['a']} - {pair['b']}: r with observed difference", "Pearson r (95% bootstrap)")
    return fig
