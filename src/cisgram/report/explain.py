"""TODO docstring."""

from __future__ import annotations

import html

import numpy as np

from cisgram.files import atomic_write
from cisgram.report.html import html_table, img_tag, page


def explain_benchmark_report(path, sim, table, classifier: dict, arrays: dict, X, truth) -> None:
    """``report.html`` of ``cisgram explain benchmark``: the grammar, the classifier's test
    areas, each method's recovery of the planted sites beside AgentBind's published figure, and
    the importance tracks and DeepLIFT / ISM logos of a few explained sequences."""
    from cisgram.interpret.attribution import importance
    from cisgram.report import plots

    g = sim.grammar
    head = (f"<p class='note'>grammar <b>{html.escape(g.name)}</b>: {html.escape(g.description)}; "
            f"{len(sim.label):,} sequences of {sim.codes.shape[1]} bp; classifier test auROC "
            f"{classifier['auroc']:.3f}, auPRC {classifier['auprc']:.3f}. Scores: auROC of the planted "
            "label-bearing bases against all other bases of the explained test positives.</p>")
    rows = [[r.method, f"{r.auroc:.3f}", f"{r.auroc_per_sequence:.3f}", "" if np.isnan(r.agentbind) else f"{r.agentbind:.3f}",
             "" if np.isnan(r.target) else f"{r.target:.3f}", f"{r.seconds:.1f}"] for r in table.itertuples()]
    bars = plots.bars(list(table["method"]), table["auroc"].to_numpy(), "planted-site recovery", "auROC")
    sections = [("Methods against the ground truth",
                 head + html_table(["method", "auROC", "per sequence", "AgentBind", "target", "seconds"], rows)
                 + img_tag(bars, "auROC per method"))]
    examples = []
    sites = sim.sites
    for k, i in enumerate(arrays["index"][:3]):
        s = sites[(sites["seq"] == i)]
        spans = [(a, b, f"{n} ({r})") for a, b, n, r in zip(s["start"], s["end"], s["name"], s["role"], strict=True)]
        tracks = {m: importance(arrays[m][k: k + 1], X[k: k + 1], m)[0] for m in table["method"]}
        examples.append(img_tag(plots.importance_tracks(tracks, f"test sequence {i}", spans=spans), f"tracks {i}"))
        for m in ("deeplift", "ism"):
            if m in arrays:
                # ISM: the observed base carries minus the mean change of its three substitutions
                a = -arrays[m][k].sum(0, keepdims=True) / 3 if m == "ism" else arrays[m][k]
                contrib = (a * X[k]).T
                examples.append(img_tag(plots.contribution_logo(contrib, f"{m}, sequence {i}", spans=spans), f"{m} {i}"))
    sections.append(("Examples (shaded: planted sites)", "".join(examples)))
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram explain benchmark: {g.name}", sections))


def explain_report(path, names, X, pred, arrays: dict, found, n_logos: int, window: int = 60) -> None:
    """``report.html`` of ``cisgram explain``: per highest-predicted sequence, every method's
    importance along it and a logo of each method's contributions over its most important
    ``window`` bp; with discovery, the TF-MoDISco patterns and their database matches."""
    from cisgram.interpret.attribution import importance
    from cisgram.report import plots

    order = np.argsort(-pred)[:n_logos]
    blocks = []
    for i in order:
        tracks = {m: importance(a[i: i + 1], X[i: i + 1], m)[0] for m, a in arrays.items()}
        first = next(iter(tracks.values()))
        smooth = np.convolve(first, np.ones(window), mode="valid")
        lo = int(np.argmax(smooth)) if smooth.size else 0
        blocks.append(img_tag(plots.importance_tracks(tracks, f"{names[i]} (prediction {pred[i]:.3g})",
                                                   spans=[(lo, lo + window, "")]), f"tracks {names[i]}"))
        for m, a in arrays.items():
            c = -a[i].sum(0, keepdims=True) / 3 if m == "ism" else a[i]
            contrib = (c * X[i]).T[lo: lo + window]
            blocks.append(img_tag(plots.contribution_logo(contrib, f"{m}: {names[i]} +{lo}"), f"{m} {names[i]}"))
    sections = [(f"The {len(order)} highest-predicted sequences", "".join(blocks))]
    if found is not None:
        from cisgram.report.discovery import discovery_section

        sections.append(("Motif discovery (TF-MoDISco, TOMTOM)", discovery_section(found)))
    with atomic_write(path) as fh:
        fh.write(page("cisgram explain", sections))
