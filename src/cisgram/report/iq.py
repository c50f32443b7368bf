"""``report.html`` of an IQ run, drawn from an :class:`~cisgram.results.IQResult`."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots, plots_iq
from cisgram.report.html import html_table, img_tag, write_page
from cisgram.report.iq_anatomy import interactions_section
from cisgram.report.sections import metric_bars, metrics_section, test_scatters


def _motif_row(m, targets: list[str]) -> str:
    cells = [img_tag(plots.logo(m.probs, m.name), f"{m.name} logo")]
    for t in targets:
        cells.append(img_tag(plots.dose_response(m.energies, m.response[t], f"{t}: partial response (link)"),
                             f"{m.name} response"))
    cells.append(img_tag(plots.spatial_profile(m.spatial, m.bin_size, m.offset, "spatial"), f"{m.name} spatial"))
    reading = _reading_bars(m)
    if reading is not None:
        cells.append(reading)
    lines = [f"<b>{html.escape(m.name)}</b> ({html.escape(m.how)}; {m.n_members} member(s))",
             f"bits {m.bits:.1f}; reading: {html.escape(m.reading)} (best-site share {m.best_site_share:.2f})"]
    for t, r in m.readings.items():
        lines.append(f"{html.escape(t)}: validation R² " + ", ".join(f"{k} {v:.3f}" for k, v in r.r2.items())
                     + f" ({r.n_val} regions, {r.n_boot} paired resamples)")
    if m.nearest is not None:
        n = m.nearest
        lines.append(f"nearest: {html.escape(n['target'])} {html.escape(n['target_name'])} "
                     f"(p = {n['p_value']:.1e}, {n['strand']})")
    for t in targets:
        d = m.delta_r2.get(t)
        lines.append(f"{html.escape(t)}: β " + ", ".join(f"{b}: {v:+.2f}" for b, v in m.coef[t].items())
                     + (f"; ΔR² {d:.4f}" if d is not None else ""))
    cells.append("<br>".join(lines))
    return "<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>"


def _reading_bars(m) -> str | None:
    """The motif's reading fits: ΔR² of best-site and top-k against integrated, with intervals."""
    rows = [(f"{t} {k}", *v) for t, r in m.readings.items() for k, v in r.delta.items()]
    if not rows or not any(np.isfinite(v[1]) for v in rows):
        return None
    names, d, lo, hi = zip(*rows, strict=True)
    return img_tag(plots_iq.reading_fits(list(names), np.array(d), np.array(lo), np.array(hi), "reading"),
                   f"{m.name} reading fits")


def iq_report(path, result) -> None:
    """Write the report of an IQ run: metrics, test scatters, the pipeline's stages, and one row
    per motif (logo, dose-response per target, spatial profile, basis coefficients,
    leave-one-out ΔR², nearest database match by TOMTOM, strong-site or weak-site reading), then
    the interactions."""
    targets = result.targets
    stages = html_table(["stage", "seconds", "details"],
                        [[s["stage"], f"{s['seconds']:.1f}",
                          "; ".join(f"{k}: {v}" for k, v in s.items() if k not in ("stage", "seconds"))]
                         for s in result.stages])
    motifs_html = f"<table>{''.join(_motif_row(m, targets) for m in result.motifs)}</table>"
    rank_html = "".join(img_tag(plots.bars([k for k, _ in r], np.array([v for _, v in r]), t, "leave-one-out ΔR² (train)"),
                                f"{t} ranking") for t, r in result.ranking.items() if r)
    inter_html = interactions_section(result.interactions, result.anatomy, targets)
    write_page(path, f"cisgram IQ model: {', '.join(targets)}", [
        ("Metrics", metrics_section(result.metrics) + metric_bars(result.metrics)),
        ("Test predictions", test_scatters(result.predictions)),
        ("Pipeline", stages), ("Contribution ranking", rank_html), (f"Motifs ({len(result.motifs)})", motifs_html),
        ("Interactions", inter_html)])
