"""``report.html`` of ``cisgram explain`` (:class:`~cisgram.results.ExplainResult`) and of
``cisgram explain benchmark`` (:class:`~cisgram.results.BenchmarkResult`)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from cisgram.report import plots
from cisgram.report.discovery import discovery_section
from cisgram.report.html import html_table, img_tag, write_page


def _sequence_figures(seq) -> str:
    """One explained sequence: its importance tracks, then each contribution logo."""
    out = img_tag(plots.importance_tracks(seq.tracks, seq.title, spans=seq.spans), f"tracks {seq.title}")
    for title, contrib, spans in seq.logos:
        out += img_tag(plots.contribution_logo(contrib, title, spans=spans), title)
    return out


def _num(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}"


def _ci(v: float, lo: float, hi: float) -> str:
    return "n/a" if v != v else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def _signed_ci(r) -> str:
    return f"{r.difference:+.3f} [{r.low:+.3f}, {r.high:+.3f}]"


def _winners_note(result) -> str:
    """One sentence per resolution: the best method and its paired lead over the runner-up."""
    out = []
    for w in getattr(result, "winners", pd.DataFrame()).itertuples():
        lead = "" if w.runner_up is None else (
            f", ahead of <b>{html.escape(w.runner_up)}</b> by {_signed_ci(w)} (95 % paired bootstrap interval; "
            f"ahead in {w.share_above_zero:.0%} of resamples{'' if w.low > 0 else ': not a clear win'})")
        out.append(f"<li>{w.resolution} level: <b>{html.escape(w.best)}</b> {w.auroc:.3f}{lead}</li>")
    return f"<ul>{''.join(out)}</ul>" if out else ""


def explain_benchmark_report(path, result) -> None:
    """Write the report of an attribution benchmark: the grammar, the classifier's test areas,
    each method's recovery of the planted sites (base level) and of the windows holding them
    (region level) with bootstrap intervals, beside AgentBind's published figure; the winner per
    resolution, every paired difference, and the importance tracks and DeepLIFT / ISM logos of
    a few explained sequences."""
    clf, table = result.classifier, result.table
    width = getattr(result, "region_width", 30)
    regions = "region_auroc" in table
    head = (f"<p class='note'>grammar <b>{html.escape(result.grammar)}</b>: {html.escape(result.description)}; "
            f"{result.n_sequences:,} sequences of {result.length} bp; {html.escape(getattr(result, 'arch', 'deepsea'))} "
            f"classifier test auROC {clf['auroc']:.3f}, auPRC {clf['auprc']:.3f}. Base level: auROC of the planted "
            "label-bearing bases against all other bases of the explained test positives"
            + (f"; region level: of the {width} bp windows (non-overlapping, a shorter last window dropped) that "
               "overlap a planted site against the other windows, ranked by summed |attribution|; intervals: "
               "95 % bootstrap over the explained sequences" if regions else "") + ".</p>")
    rows, cols = [], ["method", "base auROC", "per sequence"]
    if regions:
        cols += ["region auROC", "per sequence"]
    cols += ["AgentBind", "target", "seconds", "note"]
    for r in table.itertuples():
        row = [r.method, _ci(r.auroc, r.auroc_low, r.auroc_high) if regions else f"{r.auroc:.3f}",
               _num(r.auroc_per_sequence)]
        if regions:
            row += [_ci(r.region_auroc, r.region_auroc_low, r.region_auroc_high),
                    _num(r.region_auroc_per_sequence)]
        row += ["" if np.isnan(r.agentbind) else f"{r.agentbind:.3f}", "" if np.isnan(r.target) else f"{r.target:.3f}",
                f"{r.seconds:.1f}", str(getattr(r, "note", "") or "")]  # html_table escapes
        rows.append(row)
    scored = table[np.isfinite(table["auroc"].to_numpy(dtype=float))]
    figures = img_tag(plots.bars(list(scored["method"]), scored["auroc"].to_numpy(), "planted-site recovery (bases)",
                                 "auROC"), "base-level auROC per method")
    if regions:
        figures += img_tag(plots.bars(list(scored["method"]), scored["region_auroc"].to_numpy(),
                                      f"planted-region recovery ({width} bp windows)", "auROC"),
                           "region-level auROC per method")
    sections = [("Methods against the ground truth", head + _winners_note(result) + html_table(cols, rows) + figures)]
    pairs = getattr(result, "pairs", pd.DataFrame())
    if len(pairs):
        sections.append(("Paired differences (a − b, 95 % bootstrap interval over sequences)", html_table(
            ["a", "b", "resolution", "a − b [95 % CI]", "a ahead in"],
            [[p.a, p.b, p.resolution, _signed_ci(p), f"{p.share_above_zero:.0%}"] for p in pairs.itertuples()])))
    sections.append(("Examples (shaded: planted sites)", "".join(_sequence_figures(s) for s in result.examples)))
    write_page(path, f"cisgram explain benchmark: {result.grammar}", sections)


def explain_report(path, result) -> None:
    """Write the report of ``cisgram explain``: per highest-predicted sequence, every method's
    importance along it and a logo of each method's contributions over its most important
    stretch; with discovery, the TF-MoDISco patterns and their database matches."""
    conf = result.config or {}
    part = f", {conf['part'].replace('_', '-')} model (ChromBPNet)" if conf.get("part") else ""
    what = f"<p class='note'>Explained output: {html.escape(str(conf.get('target')))}{html.escape(part)}.</p>"
    sections = [(f"The {len(result.shown)} highest-predicted sequences",
                 what + "".join(_sequence_figures(s) for s in result.shown))]
    blind = unresponsive_note(result.names, result.unresponsive)
    if blind:
        sections.insert(0, ("Regions the model cannot see", blind))
    if result.discovery is not None:
        sections.append(("Motif discovery (TF-MoDISco, TOMTOM)", discovery_section(result.discovery)))
    write_page(path, "cisgram explain", sections)


def unresponsive_note(names, flags, shown: int = 20) -> str:
    """A paragraph naming the regions whose explained output does not respond to the sequence
    (``flags`` ``(N,)``, from :class:`~cisgram.results.ExplainResult`), or "" when there are none."""
    if flags is None or not np.any(flags):
        return ""
    blind = [str(n) for n, f in zip(names, flags, strict=True) if f]
    more = f" and {len(blind) - shown:,} more" if len(blind) > shown else ""
    return (f"<p class='note'><b>{len(blind):,} of {len(names):,} regions do not respond to their input</b>: the "
            "gradient of the explained output is zero at every base, so their attributions are 0 because the "
            "model cannot see these windows, not because no base matters (<code>unresponsive</code> in "
            f"attributions.npz): {html.escape(', '.join(blind[:shown]))}{more}.</p>")
