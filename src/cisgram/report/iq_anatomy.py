"""The "Interactions" section of an IQ report: each motif × motif term's anatomy (spacing
histogram, orientation bars, co-occurrence odds ratio) as
:func:`cisgram.interpret.iq_anatomy.interaction_anatomy` computed it, and the table of every term.

The figures follow :mod:`cisgram.report.plots` (Agg canvas, about 3 × 2 inches, plain numpy in).
This module draws what it is given: the anatomies arrive on ``IQResult.anatomy``.
"""

from __future__ import annotations

import html

import numpy as np

from cisgram.errors import InputError
from cisgram.report.html import html_table, img_tag
from cisgram.report.plots import new_figure, style_axes

SHOWN_PAIRS = 6  # pairs drawn with figures; every pair is in the table
ORIENTATIONS = ("++", "+-", "-+", "--")


def spacing_histogram(spacing, top, background, title: str = "", *, bin_bp: int = 1, expected=None):
    """Fractions of both-site regions per spacing (bp, centre of B − centre of A on A's strand),
    top set (filled) against background (line) and, when given, ``expected`` ``(spacings,
    counts)``: the top set under independent placement (grey); ``bin_bp`` groups spacings into
    wider bins."""
    s = np.asarray(spacing, dtype=np.float64)
    t = np.asarray(top, dtype=np.float64)
    b = np.asarray(background, dtype=np.float64)
    if not (s.shape == t.shape == b.shape) or s.ndim != 1:
        raise InputError(f"spacing, top and background must be 1-D of one length, got {s.shape}, {t.shape}, {b.shape}")
    fig, ax = new_figure((3.2, 2.0))
    if s.size:
        key = np.floor(s / bin_bp) * bin_bp
        edges = np.unique(key)
        tt = np.array([t[key == e].sum() for e in edges]) / max(t.sum(), 1)
        bb = np.array([b[key == e].sum() for e in edges]) / max(b.sum(), 1)
        ax.bar(edges, tt, width=bin_bp, align="edge", color="C0", alpha=0.7, label=f"top (n={int(t.sum())})")
        ax.step(np.append(edges, edges[-1] + bin_bp), np.append(bb, bb[-1]), where="post", color="C3", lw=0.8,
                label=f"background (n={int(b.sum())})")
        if expected is not None and len(expected[0]):
            ek = np.floor(np.asarray(expected[0], dtype=np.float64) / bin_bp) * bin_bp
            ev = np.asarray(expected[1], dtype=np.float64)
            ee = np.unique(ek)
            frac = np.array([ev[ek == e].sum() for e in ee]) / max(ev.sum(), 1e-12)
            ax.plot(ee + bin_bp / 2, frac, color="0.4", lw=0.6, ls="--", label="top, independent")
        ax.legend(fontsize=5, frameon=False)
    ax.axvline(0, color="0.5", lw=0.4)
    style_axes(ax, title, "spacing B − A (bp, on A's strand)", "fraction")
    return fig


def orientation_bars(top, background, expected, title: str = ""):
    """Fractions of both-site regions per strand class (``++ +- -+ --``, A first): top,
    background, and the top set under independent placement (``expected``)."""
    t, b, e = (np.asarray(v, dtype=np.float64) for v in (top, background, expected))
    if t.shape != (4,) or b.shape != (4,) or e.shape != (4,):
        raise InputError(f"four counts per set expected, got {t.shape}, {b.shape} and {e.shape}")
    fig, ax = new_figure((2.4, 2.0))
    x = np.arange(4)
    ax.bar(x - 0.27, t / max(t.sum(), 1), width=0.27, color="C0", label="top")
    ax.bar(x, e / max(e.sum(), 1e-12), width=0.27, color="0.6", label="top, independent")
    ax.bar(x + 0.27, b / max(b.sum(), 1), width=0.27, color="C3", label="background")
    ax.set_xticks(x, ORIENTATIONS)
    ax.legend(fontsize=5, frameon=False)
    style_axes(ax, title, "strands (A, B)", "fraction")
    return fig


def _fmt(v: float, spec: str) -> str:
    return "–" if v is None or not np.isfinite(v) else format(v, spec)


def _pair_row(a) -> str:
    (tb, tn), (bb, bn) = a.counts
    sm = a.summary()
    title = f"{a.motif_a} × {a.motif_b}"
    span = float(np.ptp(a.spacing)) if a.spacing.size else 0.0
    exp = (a.spacing_expected.index.to_numpy(), a.spacing_expected.to_numpy())
    o = a.orientation
    cells = [img_tag(spacing_histogram(a.spacing, a.spacing_top, a.spacing_background, title,
                                       bin_bp=1 if span <= 80 else 10, expected=exp), f"{title} spacing"),
             img_tag(orientation_bars(o["top"].to_numpy(), o["background"].to_numpy(), o["top expected"].to_numpy(),
                                      title), f"{title} orientation")]
    lines = [f"<b>{html.escape(a.pair)}</b>",
             "β " + ", ".join(f"{html.escape(t)}: {v:+.3f}" for t, v in a.coef.items()),
             f"both sites (p &lt; 1e-4): top {tb}/{tb + tn}, background {bb}/{bb + bn}",
             f"odds ratio {_fmt(a.odds_ratio, '.2f')} [{_fmt(a.ci_low, '.2f')}, {_fmt(a.ci_high, '.2f')}] "
             f"(Woolf 95 %), Fisher p = {_fmt(a.p_value, '.1e')}",
             f"spacing mode (top) {_fmt(a.spacing_mode_top, '+.1f')} bp: "
             f"{int(a.spacing_top.max()) if a.spacing_top.size else 0} region(s), "
             f"{a.spacing_expected.get(a.spacing_mode_top, 0.0):.1f} expected under independent placement",
             f"overlapping best sites (one site read by both motifs?): {sm['top_overlapping']} of {tb}; "
             f"mode among sites apart {_fmt(sm['spacing_mode_top_apart'], '+.1f')} bp "
             f"({sm['spacing_mode_top_apart_n']} region(s))"]
    cells.append("<br>".join(lines))
    return "<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>"


def interactions_section(interactions: list, anatomy: list, targets: list[str]) -> str:
    """The coefficient table of every term, then (motif × motif terms) the anatomy: the first
    :data:`SHOWN_PAIRS` pairs by mean |contribution| in their top set with figures, and a table of all."""
    if not interactions:
        return "<p class='note'>none (run with --interactions)</p>"
    out = [html_table(["pair", *targets], [[p] + [f"{c:+.3f}" for c in cs] for p, cs in interactions])]
    if not anatomy:
        return "".join(out + ["<p class='note'>no motif × motif term: no anatomy</p>"])
    out.append("<p class='note'>Anatomy of each motif × motif term on training regions: <i>top</i> = the 10 % with "
               "the largest |β·x| (x the term's [0, 1] feature); <i>background</i> = regions at or below the median "
               "|β·x|, drawn to match the top set's GC deciles. In each region, each motif's best PWM log-odds "
               "site inside the model's spatial bins; spacing and strands counted where both pass p &lt; 1e-4; "
               "<i>independent</i>: the top set with A's site of one region paired with B's of another. "
               "The odds ratio is partly by construction (the term grows with both energies); a grammar shows as a "
               "spacing or strand class well above independent placement. "
               "Written to interaction_anatomy.tsv.</p>")
    out.append(f"<table>{''.join(_pair_row(a) for a in anatomy[:SHOWN_PAIRS])}</table>")
    rows = [[a.pair, f"{a.mean_top_contribution:.3f}", f"{a.counts[0, 0]}/{a.counts[0].sum()}",
             f"{a.counts[1, 0]}/{a.counts[1].sum()}", _fmt(a.odds_ratio, ".2f"),
             f"[{_fmt(a.ci_low, '.2f')}, {_fmt(a.ci_high, '.2f')}]", _fmt(a.spacing_mode_top, "+.1f"),
             f"{int(a.spacing_top.max()) if a.spacing_top.size else 0} / "
             f"{a.spacing_expected.get(a.spacing_mode_top, 0.0):.1f}"]
            for a in anatomy]
    out.append(html_table(["pair", "mean |β·x| (top)", "both (top)", "both (background)", "odds ratio", "95 % (Woolf)",
                           "spacing mode (bp)", "at mode: observed / independent"], rows))
    return "".join(out)
