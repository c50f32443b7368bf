"""TODO docstring."""

from __future__ import annotations

import html

import numpy as np

from cisgram.files import atomic_write
from cisgram.report.html import html_table, img_tag, page
from cisgram.report.sections import metric_bars, metrics_section, test_scatters


def _reading(codes, motif, spatial, grid) -> tuple[str, float]:
    """Whether a motif reads strong sites only or integrates weak ones: the median share of the
    best site in the energy of the top 10 % regions by that motif's energy."""
    from cisgram.models.iq_distill import top_site_share

    lse, share = top_site_share(codes, motif.probs, spatial, grid)
    top = share[lse >= np.quantile(lse, 0.9)]
    med = float(np.median(top)) if top.size else float("nan")
    return ("strong sites" if med >= 0.5 else "integrates weak sites"), med


def iq_report(path, fitted, data, preds, metrics: dict, database) -> None:
    """``report.html`` of an IQ run: metrics, test scatters, the pipeline's stages, and one row per
    motif (logo, dose-response per target, spatial profile, basis coefficients, leave-one-out ΔR²,
    nearest database match by TOMTOM, strong-site or weak-site reading), then the interactions."""
    from cisgram.models.iq import BASES, logistic_bases
    from cisgram.models.iq_fit import information_bits
    from cisgram.motifs.compare import nearest_matches
    from cisgram.motifs.pwm import MotifSet
    from cisgram.report import plots

    model = fitted.model
    m = len(model.motifs)
    stages = html_table(["stage", "seconds", "details"], [[s["stage"], f"{s['seconds']:.1f}",
                    "; ".join(f"{k}: {v}" for k, v in s.items() if k not in ("stage", "seconds"))] for s in fitted.stages])
    matches = nearest_matches(MotifSet(model.motifs), database, n=1).set_index("query") if len(database) else None
    xs = np.linspace(0, 10, 101)
    phi = logistic_bases(xs[:, None])[:, 0, :]  # (101, 4)
    rows, ranking = [], {}
    for target in model.targets:
        ranking[target] = sorted(fitted.contributions.get(target, {}).items(), key=lambda kv: -kv[1])
    for i, mot in enumerate(model.motifs):
        cells = [img_tag(plots.logo(mot.probs, mot.name), f"{mot.name} logo")]
        for t, target in enumerate(model.targets):
            beta = model.coef[t, 4 * i: 4 * i + 4]
            cells.append(img_tag(plots.dose_response(xs, phi @ beta, f"{target}: partial response (link)"),
                              f"{mot.name} response"))
        cells.append(img_tag(plots.spatial_profile(model.spatial[i], model.grid.size, model.grid.offset, "spatial"),
                          f"{mot.name} spatial"))
        reading, share = _reading(data.codes[data.split == "train"], mot, model.spatial[i], model.grid)
        info = fitted.clusters[i]
        lines = [f"<b>{html.escape(mot.name)}</b> ({html.escape(info.get('how', ''))}; {len(info.get('members', []))} member(s))",
                 f"bits {information_bits(mot.probs):.1f}; reading: {reading} (best-site share {share:.2f})"]
        if matches is not None and mot.name in matches.index:
            r = matches.loc[mot.name]
            lines.append(f"nearest: {html.escape(str(r['target']))} {html.escape(str(r.get('target_name', '')))} "
                         f"(p = {r['p_value']:.1e}, {r['strand']})")
        for t, target in enumerate(model.targets):
            beta = model.coef[t, 4 * i: 4 * i + 4]
            d = fitted.contributions.get(target, {}).get(mot.name)
            lines.append(f"{html.escape(target)}: β " + ", ".join(f"{b}: {v:+.2f}" for b, v in zip(BASES, beta, strict=True))
                         + (f"; ΔR² {d:.4f}" if d is not None else ""))
        cells.append("<br>".join(lines))
        rows.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>")
    motifs_html = f"<table>{''.join(rows)}</table>"
    rank_html = "".join(img_tag(plots.bars([k for k, _ in r], np.array([v for _, v in r]), t, "leave-one-out ΔR² (train)"),
                             f"{t} ranking") for t, r in ranking.items() if r)
    names = model.feature_names()
    k0 = 4 * (m + len(model.covariates))
    inter_rows = [[names[k0 + j]] + [f"{model.coef[t, k0 + j]:+.3f}" for t in range(len(model.targets))]
                  for j in range(len(model.interactions))]
    inter_html = html_table(["pair", *model.targets], inter_rows) if inter_rows else "<p class='note'>none (run with --interactions)</p>"
    html_text = page(f"cisgram IQ model: {', '.join(model.targets)}", [
        ("Metrics", metrics_section(metrics) + metric_bars(metrics)), ("Test predictions", test_scatters(preds)),
        ("Pipeline", stages), ("Contribution ranking", rank_html), (f"Motifs ({m})", motifs_html),
        ("Interactions", inter_html)])
    with atomic_write(path) as fh:
        fh.write(html_text)
