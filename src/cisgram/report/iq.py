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
    cells.extend(_motif_figures(m))
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
        ("Domain", _domain_section(result.config, result.metrics)),
        ("Test predictions", test_scatters(result.predictions)),
        ("Pipeline", stages), ("Contribution ranking", rank_html), (f"Motifs ({len(result.motifs)})", motifs_html),
        ("Interactions", inter_html), *_fusion_entry(result)])


def _fusion_entry(result) -> list[tuple[str, str]]:
    """The "Fusing several targets" section (:func:`fusion_section`), only for runs with several targets."""
    body = fusion_section(result.stages, getattr(result, "trajectory_sets", {}) or {}, result.targets)
    return [("Fusing several targets", body)] if body else []


def fusion_section(stages: list[dict], sets: dict, targets: list[str]) -> str:
    """IceQream's multi-trajectory fusion (:mod:`cisgram.models.iq_fusion`): the coherence split
    (threshold, regions, clusters before and after, each split cluster with its cross-target r,
    member mean r and parts) and each target's own binding models (``models``) beside the shared
    set (``models_full``). Empty for a single target."""
    if len(targets) < 2:
        return ""
    split = next((s for s in stages if s.get("stage") == "coherence split"), None)
    parts = []
    if split is not None:
        parts.append(f"<p>Coherence split <b>{html.escape(str(split['mode']))}</b> at r &lt; {split['threshold']} "
                     f"across targets, on {split['rows']} training regions (|target| &gt; min_diff in some target): "
                     f"{split['clusters_before']} clusters, {split['clusters_split']} split, {split['clusters_after']} "
                     f"after.</p>")
        if split["split"]:
            parts.append(html_table(["members", "cross-target r", "member mean r", "parts"],
                                    [[", ".join(c["members"][:8]) + (" …" if len(c["members"]) > 8 else ""),
                                      c["coherence"], c["member_r"],
                                      " | ".join(", ".join(p[:4]) + (" …" if len(p) > 4 else "") for p in c["parts"])]
                                     for c in split["split"]]))
    if sets:
        full = sets.get("models_full", [])
        rows = [[t, len(sets.get("models", {}).get(t, [])), len(full),
                 ", ".join(m for m in full if m not in set(sets.get("models", {}).get(t, [])))] for t in targets]
        parts.append(html_table(["target", "own binding models (models)", "shared set (models_full)",
                                 "shared models no member of this target led to"], rows))
    return "".join(parts)


def _motif_figures(m) -> list[str]:
    """Cells of a motif row beyond its logo, responses and spatial profile: the positional frequency
    of its best sites (p < 1e-4) over training regions, the target in bins of its energy per
    target, and the seed k-mer of a learned PWM when the run recorded one."""
    cells = []
    sp = m.site_positions
    if sp and sp.get("n_strong", 0) > 0:
        note = f"{sp['n_strong']:,} of {sp['n_regions']:,} regions with p < {sp['p_site']:g}"
        cells.append(img_tag(plots_iq.site_positions(sp["edges"], sp["counts"], "best-site positions", note=note),
                             f"{m.name} site positions"))
    elif sp:
        cells.append(f"no training region has a best site at p &lt; {sp.get('p_site', 1e-4):g}")
    for t, eb in m.energy_bins.items():
        cells.append(img_tag(plots_iq.energy_boxes(eb["stats"], f"{t} by energy bin"), f"{m.name} {t} energy bins"))
    if m.seed:
        cells.append(f"seed k-mer: <code>{html.escape(str(m.seed))}</code>")
    return cells


def _domain_section(config: dict, metrics: dict) -> str:
    """The domain the model was fitted on (``config.json``'s ``domain``) and what it means for predictions."""
    domain = config.get("domain") or "peaks"
    if domain == "peaks":
        return ("<p>Fitted on <b>peaks only</b>: every training, validation and test region is an accessible "
                "region of the dataset. Predictions on other sequence (genome-wide tiles, closed chromatin) are "
                "outside the model's domain; <code>cisgram train iq --background R</code> adds GC-matched "
                "background windows with access probability 0.</p>")
    return (f"<p>Fitted on <b>{html.escape(domain)}</b>: the dataset's peaks plus GC-matched background windows "
            "(matched within each split, access probability 0). "
            + ("The metrics' <code>subsets</code> score peaks alone. " if "subsets" in metrics else
               "The metrics above score peaks and background rows together (a peaks-versus-background "
               "contrast lifts r); score peaks alone from <code>predictions.parquet</code>, where rows named "
               "<code>bg:…</code> are background. ")
            + "The windows come from the dataset's own chromosomes and the peaks' GC range; sequence outside "
              "those is still extrapolation.</p>")
