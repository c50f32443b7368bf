"""Figures of the IQ report beyond :mod:`cisgram.report.plots`: how each motif reads sequence
(best site only against integrated weak sites, :mod:`cisgram.interpret.iq_reading`).

Same conventions as :mod:`cisgram.report.plots`: plain numpy in, one Agg
:class:`matplotlib.figure.Figure` out, sized for a page that holds dozens of them.
"""

from __future__ import annotations

import numpy as np

from cisgram.errors import InputError
from cisgram.report.plots import DPI


def reading_fits(names: list[str], delta: np.ndarray, low: np.ndarray, high: np.ndarray, title: str = ""):
    """ΔR² of each refit against the integrated energy, as horizontal bars with their 95 % interval
    (e.g. ``"K562 best site"``, ``"K562 top-3 sites"``), first name on top; a bar whose interval
    lies above 0 is blue, below 0 red, across 0 grey.

    Parameters
    ----------
    names
        One label per bar.
    delta, low, high
        ``(len(names),)``: R²(fit) − R²(integrated) and its interval; NaN bars are left empty.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    d, lo, hi = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (delta, low, high))
    if not (len(names) == d.size == lo.size == hi.size) or d.size == 0:
        raise InputError(f"reading_fits needs one delta, low and high per name; got {len(names)} names, "
                         f"{d.size}, {lo.size}, {hi.size} values")
    fig = Figure(figsize=(3.0, max(1.1, 0.25 * len(names) + 0.7)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ok = np.isfinite(d) & np.isfinite(lo) & np.isfinite(hi)
    colour = np.where(lo > 0, "C0", np.where(hi < 0, "C3", "0.6"))
    ax.barh(y[ok], d[ok], color=colour[ok], height=0.6)
    ax.errorbar(d[ok], y[ok], xerr=np.vstack([d[ok] - lo[ok], hi[ok] - d[ok]]).clip(0), fmt="none", ecolor="k",
                elinewidth=0.8, capsize=2)
    ax.set_yticks(y, [str(n) for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.axvline(0, color="0.5", lw=0.5)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("ΔR² vs integrated (validation)", fontsize=7)
    ax.tick_params(labelsize=6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig
