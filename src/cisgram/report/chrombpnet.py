"""``report.html`` of a ChromBPNet run, drawn from a :class:`~cisgram.results.ChromBPNetResult`,
and the command's summary lines (:func:`summary_lines`)."""

from __future__ import annotations

import html

from cisgram.report import plots, plots_profile
from cisgram.report.html import fmt_num, html_table, img_tag, write_page
from cisgram.report.sections import metrics_section

_PROFILE_ROWS = (("full", "full model"), ("bias_free", "bias-free model"), ("bias", "bias model"),
                 ("shuffled", "shuffled profile (floor)"), ("average", "average training profile"))


def _profile_table(scores: dict) -> str:
    """Median JSD and profile Pearson of the models and the two baselines."""
    rows = [[label, fmt_num(scores[k]["jsd"]), fmt_num(scores[k]["pearson"]), f"{scores[k]['n']:,}"]
            for k, label in _PROFILE_ROWS if k in scores]
    return html_table(["prediction", "median JSD", "median profile Pearson", "n"], rows)


def _count_row(name: str, m: dict) -> list:
    return [name, fmt_num(m["pearson"]), fmt_num(m["spearman"]), f"{m['n']:,}"]


def _bias_section(bias: dict) -> str:
    sel = bias.get("selection", {})
    note = (f"<p class='note'>source: {html.escape(str(bias.get('source')))}; trained on {bias.get('n_train', 0):,} "
            f"background windows with total count below {fmt_num(sel.get('threshold'), 1)}; count offset to this "
            f"sample {fmt_num(bias.get('count_offset'))} (log units)"
            + (f"; count-loss weight {fmt_num(bias['count_weight'], 2)}" if "count_weight" in bias else "") + "</p>")
    parts = [note]
    for kind, label in (("background", "test background"), ("peak", "test peaks")):
        if kind in bias:
            parts.append(f"<p>{label}: counts</p>" + html_table(["", "Pearson r", "Spearman", "n"],
                                                               [_count_row("bias model", bias[kind]["count"])]))
            parts.append(f"<p>{label}: profiles</p>" + _profile_table(bias[kind]["profile"]))
    return "".join(parts)


def chrombpnet_report(path, result) -> None:
    """Write the report of a ChromBPNet run: count metrics on peaks (and the subsets), profile
    metrics beside the baselines, observed against predicted counts, the bias model's own metrics,
    training curves and a few test peaks' observed and predicted profiles."""
    m, preds = result.metrics, result.predictions
    sections = [("Count metrics on peaks (log counts; full model)", metrics_section(m))]
    for name, sub in m.get("subsets", {}).items():
        sections.append((f"Count metrics: {name}", metrics_section(sub)))
    for target, scores in m.get("profile", {}).get("test", {}).items():
        sections.append((f"Profile metrics on test peaks: {target} (Jensen-Shannon distance, base 2; lower is "
                         "better)", _profile_table(scores)))
    test = preds[preds["split"] == "test"]
    if len(test) >= 2:
        figs = img_tag(plots_profile.count_scatter(test["observed"].to_numpy(), test["predicted"].to_numpy(),
                                                   test["kind"].to_numpy(), "test, full model"), "test counts")
        figs += img_tag(plots_profile.count_scatter(test["observed"].to_numpy(),
                                                    test["predicted_bias_free"].to_numpy(), test["kind"].to_numpy(),
                                                    "test, bias-free model"), "test counts, bias-free")
        sections.append(("Observed against predicted counts (test)", figs))
    if m.get("bias"):
        sections.append(("Bias model (Tn5 preference, frozen)", _bias_section(m["bias"])))
    else:
        sections.append(("Bias model", "<p class='note'>none: the accessibility model was trained alone "
                                       "(no_bias); its prediction includes whatever enzyme preference the track "
                                       "holds.</p>"))
    curves = "".join(img_tag(plots.training_curve(h["epochs"], name, best=h["best_epoch"]), f"{name} training")
                     for name, h in result.history.items() if h.get("epochs"))
    if curves:
        sections.append(("Training", curves))
    if result.examples:
        figs = "".join(img_tag(plots_profile.profile_tracks(e.observed, {"full": e.predicted, "bias-free": e.bias_free,
                                                                         "bias": e.bias}, e.out_start,
                                                            f"{e.chrom}:{e.out_start:,}-{e.out_end:,}"), e.name)
                       for e in result.examples)
        sections.append(("Test peaks with the most reads: observed and predicted profiles", figs))
    write_page(path, f"cisgram chrombpnet: {result.target}", sections)


def summary_lines(result) -> list[str]:
    """One or two lines for the terminal: test count r on peaks, median profile JSD beside the
    baselines, and the bias model on test background."""
    m, t = result.metrics, result.target
    c = m["test"].get(t)
    line = f"{t}: test peaks count r {fmt_num(c['pearson'])} (n {c['n']:,})" if c else f"{t}: no test peaks"
    prof = m.get("profile", {}).get("test", {}).get(t)
    if prof:
        line += (f"; median profile JSD {fmt_num(prof['full']['jsd'])}, bias-free {fmt_num(prof['bias_free']['jsd'])} "
                 f"(shuffled {fmt_num(prof['shuffled']['jsd'])}, average {fmt_num(prof['average']['jsd'])})")
    lines = [line]
    b = m.get("bias")
    if b and "background" in b:
        bg = b["background"]
        lines.append(f"bias model ({b['source']}) on test background: count r {fmt_num(bg['count']['pearson'])}, "
                     f"median profile JSD {fmt_num(bg['profile']['bias']['jsd'])} (shuffled "
                     f"{fmt_num(bg['profile']['shuffled']['jsd'])}, average {fmt_num(bg['profile']['average']['jsd'])})")
    return lines
