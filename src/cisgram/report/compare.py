"""``report.html`` of ``cisgram compare``, drawn from a :class:`~cisgram.results.CompareResult`."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots
from cisgram.report.html import fmt_ci, fmt_num, html_table, img_tag, write_page
from cisgram.report.plots import compare_bars
from cisgram.report.plots_compare import specificity_pair


def compare_report(path, result) -> None:
    """Write the report of ``cisgram compare``: the runs, per target the test metrics of every run
    and ensemble with 95 % bootstrap intervals and differences to the reference run (bar charts
    and a table), validation metrics, ensemble weights, and test observed-vs-predicted scatters
    per model (from the joined predictions table, one column per model); with several targets,
    their cell-type specificity (:func:`specificity_sections`)."""
    comparison, joined = result.comparison, result.joined

    models = comparison["models"]
    boot = comparison["bootstrap"]
    runs_rows = [[r["name"], r["family"], r["path"], "" if r["n_params"] is None else f"{r['n_params']:,}",
                  fmt_num(r["train_seconds"], 1), f"{r['entries_dropped']:,}"] for r in comparison["runs"]]
    note = (f"<p class='note'>Entries compared: those every run scored, on the targets every run predicts. "
            f"Ensembles are fitted on the validation split only ({html.escape(', '.join(m['name'] for m in models if m['kind'] == 'ensemble')) or 'none'}); "
            f"their validation metrics are in-sample. Intervals: paired bootstrap of the test entries, "
            f"{boot['n_boot']} resamples (seed {boot['seed']}), 2.5th-97.5th percentiles. The reference of a target is "
            "the single run with the best validation score. Parameters: fitted values in each run's weights; "
            "an ensemble's are the sum over its runs.</p>")
    sections = [("Runs", note + html_table(["run", "family", "path", "parameters", "training seconds", "entries left out"],
                                       runs_rows))]
    for tinfo in comparison["targets"]:
        t, binary = tinfo["name"], tinfo["binary"]
        ref = comparison["reference"][t]["model"]
        rows = []
        for m in models:
            met = comparison["metrics"]["test"][t][m["name"]]
            ci = comparison["intervals"][t].get(m["name"], {})
            pc = ci.get("pearson") or [None, None]
            vs = comparison["versus_reference"][t][m["name"]]
            d = vs.get("pearson") or [None, None, None]
            row = [m["name"], m["kind"], f"{fmt_num(met['pearson'])} [{fmt_num(pc[0])}, {fmt_num(pc[1])}]", fmt_num(met["spearman"]),
                   fmt_num(met["r2"]), f"{met['n']:,}", f"{fmt_num(d[0])} [{fmt_num(d[1])}, {fmt_num(d[2])}]"]
            if binary:
                da = vs.get("auroc") or [None, None, None]
                row += [fmt_num(met.get("auroc")), fmt_num(met.get("auprc")), f"{fmt_num(da[0])} [{fmt_num(da[1])}, {fmt_num(da[2])}]"]
            rows.append(row)
        head = ["model", "kind", "Pearson [95% CI]", "Spearman", "R²", "n", f"Δ Pearson vs {ref} [95% CI]"]
        if binary:
            head += ["auROC", "auPRC", f"Δ auROC vs {ref} [95% CI]"]
        entries = tinfo["entries"]
        tnote = (f"<p class='note'>{entries['val']:,} validation and {entries['test']:,} test entries"
                 f"{'; observed values are 0/1' if binary else ''}; reference {html.escape(ref)} "
                 f"({html.escape(comparison['reference'][t]['chosen_by'])}).</p>")
        sections.append((f"{t}: test metrics", tnote + img_tag(compare_bars(t, comparison), f"{t} test metrics with bootstrap intervals") + html_table(head, rows)))
    val_rows = [[t, m["name"], fmt_num(met["pearson"]), fmt_num(met["spearman"]), fmt_num(met["r2"]), f"{met['n']:,}"]
                for t, per in comparison["metrics"]["val"].items() for m in models for met in [per[m["name"]]]]
    sections.append(("Validation metrics (ensembles fitted here: in-sample)",
                     html_table(["target", "model", "Pearson", "Spearman", "R²", "n"], val_rows)))
    w_rows = []
    for t, per in comparison["ensembles"]["weights"].items():
        for kind, info in per.items():
            if not info.get("fitted"):
                w_rows.append([t, kind, f"not fitted: {info.get('reason', '')}"])
            elif kind == "stacked":
                w_rows.append([t, kind, f"intercept {info['intercept']:.4g}; " + "; ".join(
                    f"{r} {w:.4g} (standardised {info['standardised_weights'][r]:.3f})" for r, w in info["weights"].items())])
            else:
                w_rows.append([t, kind, f"mean of validation z-scores × {info['slope']:.4g} + {info['intercept']:.4g}"])
    if w_rows:
        sections.append(("Ensemble weights (fitted on validation)", html_table(["target", "ensemble", "fit"], w_rows)))
    test = joined[joined["split"] == "test"]
    for tinfo in comparison["targets"]:
        t = tinfo["name"]
        g = test[test["target"] == t]
        figs = []
        for m in models:
            v = g[m["name"]].to_numpy(np.float64)
            ok = np.isfinite(v)
            if ok.sum() >= 2:
                figs.append(img_tag(plots.scatter(g["observed"].to_numpy(np.float64)[ok], v[ok], f"{t}: {m['name']}"),
                                 f"{t} {m['name']} test scatter"))
        labels = g["observed"].to_numpy(np.float64)
        if tinfo["binary"] and 0 < labels.sum() < len(labels):
            scores = {m["name"]: g[m["name"]].to_numpy(np.float64) for m in models}
            scores = {k: v for k, v in scores.items() if np.isfinite(v).all()}
            figs.insert(0, img_tag(plots.roc_curves(labels, scores, f"{t} (test)"), f"{t} test ROC curves"))
        sections.append((f"{t}: test predictions", "".join(figs) or "<p class='note'>no test entries</p>"))
    sections += specificity_sections(comparison.get("specificity"))
    title = "cisgram compare: " + ", ".join(r["name"] for r in comparison["runs"])
    write_page(path, title, sections)


def specificity_sections(spec: dict | None) -> list[tuple[str, str]]:
    """The cell-type specificity sections of the page from ``comparison["specificity"]``: each
    head's r with GC, then per pair of targets a figure and a table (head-head r, r of the
    predicted with the observed difference, raw and with GC regressed out, 95 % intervals), on
    every test entry and, for runs that predict a difference directly, on their entries."""
    if not spec:
        return []
    gc = spec["gc"]
    gc_note = (f"GC: {html.escape(gc['source'])}" if gc["source"] else
               f"no GC-regressed numbers: {html.escape(gc['reason'] or '')}")
    note = ("<p class='note'>Test entries. For a pair (A, B): head-head r is the Pearson r of a model's A and B "
            "predictions (compare it with the observed A-B r: near 1 means one shared signal); Δ r is the Pearson r "
            "of (pred A − pred B) with (obs A − obs B); Δ r | GC the same after a least-squares line on GC is taken "
            "out of both differences (partial correlation). Intervals: paired bootstrap of the entries, 2.5th-97.5th "
            f"percentiles. {gc_note}.</p>")
    for r in spec.get("difference_runs", []):
        note += (f"<p class='note'>{html.escape(r['name'])} ({html.escape(r['family'])}, {html.escape(r['path'])}) "
                 f"predicts {html.escape(r['target'])} directly: set aside from the comparison above and scored on its "
                 f"{r['test_entries']:,} test entries against the observed {html.escape(' − '.join(r['pair']))}.</p>")
    out = []
    sets = [("all", spec["all"])] + [(f"rows of {', '.join(d['runs'])}", d) for d in spec.get("direct", [])]
    first = spec["all"]
    if first.get("head_gc"):
        hg = first["head_gc"]
        rows = [[m, *(fmt_num(v.get(t)) for t in first["targets"])] for m, v in hg.items()]
        out.append(("Cell-type specificity: each head's r with GC", note + html_table(["model", *first["targets"]], rows)))
    else:
        out.append(("Cell-type specificity", note))
    for label, res in sets:
        for pair in res["pairs"]:
            a, b = pair["a"], pair["b"]
            rows = [[m, v["kind"], fmt_num(v["head_r"]), fmt_num(v["difference_r"]) + fmt_ci(v["difference_r_ci"]),
                     fmt_num(v.get("difference_r_gc")) + fmt_ci(v.get("difference_r_gc_ci")),
                     fmt_num(v.get("predicted_difference_gc_r")), v.get("note", "")] for m, v in pair["models"].items()]
            head = ["model", "kind", "head-head r", "Δ r [95% CI]", "Δ r | GC [95% CI]", "r(pred Δ, GC)", "note"]
            pnote = (f"<p class='note'>{pair['n']:,} test entries ({html.escape(label)}); observed {html.escape(a)}-"
                     f"{html.escape(b)} r {fmt_num(pair['observed_r'])}; r(obs Δ, GC) "
                     f"{fmt_num(pair['observed_difference_gc_r'])}.</p>")
            fig = img_tag(specificity_pair(pair, f"{a} − {b}: r with observed difference"), f"{a} - {b} specificity")
            out.append((f"Cell-type specificity {a} − {b} ({label})", pnote + fig + html_table(head, rows)))
    return out
