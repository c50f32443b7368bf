"""``report.html`` of ``cisgram demo``, drawn from a :class:`~cisgram.results.DemoResult`."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots
from cisgram.report.html import fmt_ci, fmt_num, html_table, img_tag, link_tag, raw_html_table, write_page
from cisgram.report.plots import compare_bars
from cisgram.report.variants import saturation_figure


def demo_report(path, result, *, elapsed: float | None = None) -> None:
    """Write the page of ``cisgram demo``: every step's time and outcome, the dataset, the motif
    scan, the IQ / CNN / baseline metrics, the comparison with its ensembles (bootstrap
    intervals), GET's test metrics and explanation, the variant table with the VCF lines that were
    not scored, and the saturation maps. Each step's own report is linked by a path relative to
    the page. ``result.summary`` is the demo's ``summary.json`` so far; sections of steps not run
    are left out."""
    summary, comparison = result.summary, result.comparison
    variants, problems = result.variants, result.problems

    steps = summary.get("steps", [])
    target = (summary.get("compare") or {}).get("target", "K562")
    mode = "quick mode (minimal epochs and motifs: same steps, rougher models)" if summary.get("quick") else "full mode"
    total = elapsed if elapsed is not None else sum(s["seconds"] for s in steps)
    intro = (f"<p>Every step of cisgram on the bundled real slice (hg38 chr22:19-29 Mb; K562, GM12878, MCF7), "
             f"{html.escape(mode)}: {len(steps)} steps so far in {total:.0f} s. Each step reads and writes files in "
             "this directory; its own report is linked.</p>")
    rows = []
    for s in steps:
        link = link_tag(s["report"], "report") if s.get("report") else ", ".join(link_tag(o, o.rsplit("/", 1)[-1]) for o in s["outputs"][:2])
        rows.append([html.escape(s["name"]), html.escape(s["title"]), f"{s['seconds']:.1f}", html.escape(s["note"]), link])
    sections = [("The chain", intro + raw_html_table(["step", "what", "seconds", "outcome", "see"], rows, left=(1, 3)))]
    if steps:
        fig = plots.bars([s["name"] for s in steps], np.array([s["seconds"] for s in steps], dtype=float),
                         "seconds per step", "seconds")
        sections[0] = ("The chain", sections[0][1] + img_tag(fig, "seconds per step"))

    if "conditions" in summary:
        sc = summary["split_counts"]
        crow = [[c["name"], f"{c['peaks']:,}", f"{c['nonzero']:,}", f"{c['mean_coverage']:,.1f}", f"{c['mean_access']:.3f}"]
                for c in summary["conditions"]]
        body = (f"<p>{summary['n_regions']:,} union regions of {summary['width']} bp ({summary['n_near_tss']:,} within "
                f"1 kb of a TSS, {summary['n_constitutive']:,} constitutive); {html.escape(summary['split'])} hold-out: "
                f"train {sc['train']:,} / val {sc['val']:,} / test {sc['test']:,}. "
                f"{link_tag('prepare_report.html', 'Dataset report')}, {link_tag('dataset.h5ad', 'dataset.h5ad')}.</p>")
        sections.append(("Dataset", body + html_table(["cell line", "peaks", "regions with signal", "mean coverage",
                                                     "mean access prob."], crow)))
    if "scan" in summary:
        s = summary["scan"]
        body = (f"<p>{s['n_regions']:,} regions x {s['n_motifs']} motifs: {html.escape(', '.join(s['features']))}; "
                f"{s['n_hits']:,} hits at p &lt; 1e-4 ({link_tag('features.parquet', 'features.parquet')}, "
                f"{link_tag('hits.tsv', 'hits.tsv')}). Motifs with the most hits:</p>")
        sections.append(("Motif scan", body + html_table(["motif", "name", "hits"],
                                                     [[m["motif"], m["name"], f"{m['hits']:,}"] for m in s["top_motifs_by_hits"]])))
    model_rows = []
    for key, name, href in (("iq", "IQ (biophysical)", "runs/iq/report.html"), ("cnn", "CNN (DeepSEA-style)", "runs/cnn/report.html"),
                            ("baseline", "6-mer ridge", "runs/kmer/report.html")):
        if key in summary:
            m = summary[key]
            model_rows.append([html.escape(name), fmt_num(m["val"]["pearson"]), fmt_num(m["test"]["pearson"]),
                               fmt_num(m["test"]["spearman"]), f"{m['test']['n']:,}", link_tag(href, "report")])
    if model_rows:
        body = (f"<p>{html.escape(target)} access probability on the dataset's peaks: the same rows, numbers and "
                "split for the three families.</p>")
        body += raw_html_table(["model", "val Pearson", "test Pearson", "test Spearman", "test n", "run"], model_rows)
        if "iq" in summary:
            body += "<p>IQ binding models, by leave-one-out ΔR² on training regions:</p>" + html_table(
                ["motif", "from", "how", "ΔR²"],
                [[m["name"], m["representative"], m["how"], fmt_num(m["delta_r2"], 4)] for m in summary["iq"]["motifs"]])
        sections.append(("Models of accessibility", body))
    if comparison is not None and "compare" in summary:
        c = summary["compare"]
        ref = c["reference"]
        versus = comparison["versus_reference"][target]
        crow = [[m["name"], m["kind"], fmt_num(m["pearson"]) + fmt_ci(m["pearson_ci"]), fmt_num(m["r2"]), f"{m['n']:,}",
                 fmt_num((versus[m["name"]].get("pearson") or [None])[0]) + fmt_ci((versus[m["name"]].get("pearson") or [None])[1:])]
                for m in c["models"]]
        body = (f"<p>{c['entries']['val']:,} validation and {c['entries']['test']:,} test regions shared by every run; "
                "ensembles fitted on validation only; 95 % intervals from a paired bootstrap of the test regions; "
                f"reference {html.escape(ref)} (best validation Pearson). {link_tag('compare/report.html', 'Comparison report')}, "
                f"{link_tag('compare/comparison.tsv', 'comparison.tsv')}.</p>")
        body += html_table(["model", "kind", "test Pearson [95% CI]", "test R²", "n", f"Δ Pearson vs {ref} [95% CI]"], crow)
        body += img_tag(compare_bars(target, comparison), f"{target} test metrics with bootstrap intervals")
        sections.append(("Comparison and ensembles", body))
    if "get" in summary:
        g = summary["get"]
        cells = list(g["test"])
        names = ["GET", *(["GET + LoRA"] if g.get("lora") else []), *g["baselines"]]
        grow = []
        for cell in cells:
            vals = [g["test"][cell]["pearson"], *([(g["lora"] or {}).get(cell, {}).get("pearson")] if g.get("lora") else []),
                    *[b.get(cell, {}).get("pearson") for b in g["baselines"].values()]]
            held = "held out (zero-shot)" if cell == g["leave_out"] else "trained on (held-out blocks)"
            grow.append([cell, held, f"{g['test'][cell]['n']:,}", *[fmt_num(v) for v in vals]])
        body = (f"<p>Transcription initiation at TSS regions from windows of 50 regions' motif hit-score sums and "
                f"accessibility; {html.escape(g['leave_out'])} held out of fine-tuning, then adapted with LoRA. "
                f"Test Pearson per cell type ({link_tag('runs/get/report.html', 'GET run report')}); with ~25 test "
                "entries per cell type the intervals are wide.</p>")
        body += html_table(["cell type", "role", "test n", *names], grow)
        if "explain_get" in summary:
            e = summary["explain_get"]
            top = ", ".join(f"{m['name'] or m['motif']}" for m in e["top_motifs"][:10])
            body += (f"<p>Explanation in {html.escape(e['cell'])} ({link_tag('explain_get/report.html', 'explanation report')}): "
                     f"{e['n_entries']} TSS entries; motifs with the largest mean |input x gradient|: {html.escape(top)}; "
                     f"{e['n_interactions']} motif pairs kept, {e['n_causal_edges']} LiNGAM edges; enhancer-gene scores "
                     f"for {html.escape(', '.join(e['genes']))} ({link_tag('explain_get/enhancer_gene.tsv', 'enhancer_gene.tsv')}).</p>")
        sections.append(("Expression from region-by-motif data (GET)", body))
    if "variants" in summary:
        v = summary["variants"]
        sat = v["saturation"]
        body = (f"<p>{link_tag(v['vcf'], v['vcf'].rsplit('/', 1)[-1])}: {v['n_records']} records written for the demo, scored with "
                f"the CNN and IQ runs ({link_tag('variants/scores_cnn.tsv', 'scores_cnn.tsv')}, "
                f"{link_tag('variants/scores_iq.tsv', 'scores_iq.tsv')}); Δ = predicted {html.escape(target)} AP of the "
                "alternative minus the reference.</p>")
        if variants is not None and len(variants):
            vrow = [[int(r.line), r.id, f"{r.chrom}:{int(r.pos):,}", f"{r.ref}>{r.alt}", r.kind, f"{r.delta_cnn:+.4f}",
                     f"{r.delta_iq:+.4f}"] for r in variants.itertuples(index=False)]
            body += html_table(["line", "id", "position", "change", "kind", "Δ CNN", "Δ IQ"], vrow)
        if problems is not None and len(problems):
            body += ("<p>Lines not scored (the wrong REF is deliberate; "
                     f"{link_tag('variants/scores_cnn.problems.tsv', 'scores_cnn.problems.tsv')}):</p>")
            body += html_table(["line", "reason"], [[int(p.line), p.reason] for p in problems.itertuples(index=False)])
        body += (f"<p>Saturation mutagenesis of {html.escape(sat['region'])}, {html.escape(sat['where'])}: every "
                 "substitution scored alone. Strongest loss: "
                 + "; ".join(f"{fam.upper()} {html.escape(sat[fam]['worst'])} ({sat[fam]['min_delta']:+.4f}, "
                             f"{link_tag(sat[fam]['report'], 'map report')})" for fam in ("iq", "cnn") if fam in sat) + ".</p>")
        for fam, sat_res in result.saturation.items():
            title = f"{fam.upper()} run: saturation map of {sat['region']}"
            body += f"<p class='note'>{html.escape(title)}</p>" + img_tag(saturation_figure(sat_res), title)
        sections.append(("Variant effects", body))
    files = [[html.escape(s["name"]), ", ".join(link_tag(o, o) for o in s["outputs"])] for s in steps]
    sections.append(("Files", raw_html_table(["step", "outputs"], files, left=(1,))
                     + f"<p class='note'>{link_tag('summary.json', 'summary.json')} holds every number on this page.</p>"))
    write_page(path, "cisgram demo: chr22:19-29 Mb, K562 / GM12878 / MCF7", sections)
