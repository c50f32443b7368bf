"""``report.html`` of an IQ run, drawn from an :class:`~cisgram.results.IQResult`."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots
from cisgram.report.html import html_table, img_tag, write_page
from cisgram.report.sections import metric_bars, metrics_section, test_scatters


def _motif_row(m, targets: list[str]) -> str:
    cells = [img_tag(plots.logo(m.probs, m.name), f"{m.name} logo")]
    for t in targets:
        cells.append(img_tag(plots.dose_response(m.energies, m.response[t], f"{t}: partial response (link)"),
                             f"{m.name} response"))
    cells.append(img_tag(plots.spatial_profile(m.spatial, m.bin_size, m.offset, "spatial"), f"{m.name} spatial"))
    lines = [f"<b>{html.escape(m.name)}</b> ({html.escape(m.how)}; {m.n_members} member(s))",
             f"bits {m.bits:.1f}; reading: {m.reading} (best-site share {m.best_site_share:.2f})"]
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
    inter_rows = [[pair] + [f"{c:+.3f}" for c in coefs] for pair, coefs in result.interactions]
    inter_html = (html_table(["pair", *targets], inter_rows) if inter_rows
                  else "<p class='note'>none (run with --interactions)</p>")
    write_page(path, f"cisgram IQ model: {', '.join(targets)}", [
        ("Metrics", metrics_section(result.metrics) + metric_bars(result.metrics)),
        ("Test predictions", test_scatters(result.predictions)),
        ("Pipeline", stages), ("Contribution ranking", rank_html), (f"Motifs ({len(result.motifs)})", motifs_html),
        ("Interactions", inter_html)])
