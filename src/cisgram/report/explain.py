"""``report.html`` of ``cisgram explain`` (:class:`~cisgram.results.ExplainResult`) and of
``cisgram explain benchmark`` (:class:`~cisgram.results.BenchmarkResult`)."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots
from cisgram.report.discovery import discovery_section
from cisgram.report.html import html_table, img_tag, write_page


def _sequence_figures(seq) -> str:
    """One explained sequence: its importance tracks, then each contribution logo."""
    out = img_tag(plots.importance_tracks(seq.tracks, seq.title, spans=seq.spans), f"tracks {seq.title}")
    for title, contrib, spans in seq.logos:
        out += img_tag(plots.contribution_logo(contrib, title, spans=spans), title)
    return out


def explain_benchmark_report(path, result) -> None:
    """Write the report of an attribution benchmark: the grammar, the classifier's test areas,
    each method's recovery of the planted sites beside AgentBind's published figure, and the
    importance tracks and DeepLIFT / ISM logos of a few explained sequences."""
    clf, table = result.classifier, result.table
    head = (f"<p class='note'>grammar <b>{html.escape(result.grammar)}</b>: {html.escape(result.description)}; "
            f"{result.n_sequences:,} sequences of {result.length} bp; classifier test auROC "
            f"{clf['auroc']:.3f}, auPRC {clf['auprc']:.3f}. Scores: auROC of the planted "
            "label-bearing bases against all other bases of the explained test positives.</p>")
    rows = [[r.method, f"{r.auroc:.3f}", f"{r.auroc_per_sequence:.3f}", "" if np.isnan(r.agentbind) else f"{r.agentbind:.3f}",
             "" if np.isnan(r.target) else f"{r.target:.3f}", f"{r.seconds:.1f}"] for r in table.itertuples()]
    bars = plots.bars(list(table["method"]), table["auroc"].to_numpy(), "planted-site recovery", "auROC")
    write_page(path, f"cisgram explain benchmark: {result.grammar}", [
        ("Methods against the ground truth",
         head + html_table(["method", "auROC", "per sequence", "AgentBind", "target", "seconds"], rows)
         + img_tag(bars, "auROC per method")),
        ("Examples (shaded: planted sites)", "".join(_sequence_figures(s) for s in result.examples))])


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
