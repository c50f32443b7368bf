"""Figures of the IQ report beyond :mod:`cisgram.report.plots`: how each motif reads sequence
(best site only against integrated weak sites, :mod:`cisgram.interpret.iq_reading`).

Same conventions as :mod:`cisgram.report.plots`: plain numpy in, one Agg
:class:`matplotlib.figure.Figure` out, sized for a page that holds dozens of them.
"""

from __future__ import annotations

import numpy as np

from cisgram.errors import InputError
from cisgram.report.plots import new_figure, style_axes


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
    d, lo, hi = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (delta, low, high))
    if not (len(names) == d.size == lo.size == hi.size) or d.size == 0:
        raise InputError(f"reading_fits needs one delta, low and high per name; got {len(names)} names, "
                         f"{d.size}, {lo.size}, {hi.size} values")
    fig, ax = new_figure((3.0, max(1.1, 0.25 * len(names) + 0.7)))
    y = np.arange(len(names))
    ok = np.isfinite(d) & np.isfinite(lo) & np.isfinite(hi)
    colour = np.where(lo > 0, "C0", np.where(hi < 0, "C3", "0.6"))
    ax.barh(y[ok], d[ok], color=colour[ok], height=0.6)
    ax.errorbar(d[ok], y[ok], xerr=np.vstack([d[ok] - lo[ok], hi[ok] - d[ok]]).clip(0), fmt="none", ecolor="k",
                elinewidth=0.8, capsize=2)
    ax.set_yticks(y, [str(n) for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.axvline(0, color="0.5", lw=0.5)
    style_axes(ax, title, "ΔR² vs integrated (validation)")
    return fig


def site_positions(edges: np.ndarray, counts: np.ndarray, title: str = "", *, note: str = ""):
    """Positional frequency of a motif's hits: bars of ``counts`` ``(B,)`` over ``edges`` ``(B + 1,)``
    (bp from the region centre), a dashed line at 0; ``note`` (e.g. ``"412 of 2,348 regions"``)
    under the axis."""
    e, c = np.asarray(edges, dtype=np.float64).reshape(-1), np.asarray(counts, dtype=np.float64).reshape(-1)
    if e.size != c.size + 1 or c.size == 0:
        raise InputError(f"site_positions needs one more edge than counts; got {e.size} edges, {c.size} counts")
    fig, ax = new_figure((2.6, 1.6))
    ax.bar(e[:-1], c, width=np.diff(e), align="edge", color="C0")
    ax.axvline(0, color="0.5", lw=0.5, ls="--")
    style_axes(ax, title, "best-site centre − region centre (bp)" + (f"\n{note}" if note else ""), "regions")
    return fig


def energy_boxes(stats: list[dict], title: str = ""):
    """The target in bins of a motif's [0, 10] energy: one box per bin from precomputed ``stats``
    (matplotlib ``bxp`` dictionaries: ``med, q1, q3, whislo, whishi``, ``label`` the bin's lower
    edge, ``n`` its regions), no outliers drawn; an empty list gives an empty axis."""
    fig, ax = new_figure((2.6, 1.6))
    if stats:
        pos = [float(s["label"]) + 0.5 for s in stats]
        ax.bxp([{k: s[k] for k in ("med", "q1", "q3", "whislo", "whishi")} | {"label": s["label"], "fliers": []}
                for s in stats], positions=pos, widths=0.6, showfliers=False,
               medianprops={"color": "C3"}, boxprops={"linewidth": 0.7}, whiskerprops={"linewidth": 0.7})
        ax.set_xticks(range(0, 11, 2), [str(v) for v in range(0, 11, 2)])
    ax.set_xlim(0, 10)
    style_axes(ax, title, "energy bin", "target")
    return fig
