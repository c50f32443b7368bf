"""``report.html`` of ``cisgram tfbind``, drawn from a :class:`~cisgram.results.TFBindResult`,
and the section "What each regime learns" (:func:`patterns_section`).

The pattern section departs from the house rule that a renderer draws only what a workflow
returned: ``cisgram tfbind-patterns`` adds patterns to runs finished long before, so the section
is drawn from the files it wrote (``patterns.tsv`` and each network's ``patterns/patterns.npz``,
see :mod:`cisgram.workflows.tfbind_patterns`); it reads them and computes nothing.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.report import plots
from cisgram.report.html import html_table, img_tag, raw_html_table, write_page
from cisgram.report.plots_tfbind import pattern_logo

CLASS_ORDER = ("the TF", "accessibility/pioneer", "partner", "unnamed")
CLASS_COLOURS = {"the TF": "#1b7837", "accessibility/pioneer": "#2166ac", "partner": "#b2182b", "unnamed": "#777"}


def tfbind_report(path, result) -> None:
    """Write the report of a tfbind run: test auROC / auPRC per negative strategy and model (with
    whether the model saw the core motif or N over it: ``cnn-blocked``), and the test ROC curves
    of every model per strategy."""
    config, comparison = result.config, result.comparison
    rows = [[r.strategy, r.model, getattr(r, "core", "kept"), f"{r.auroc:.3f}", f"{r.auprc:.3f}", f"{int(r.n_bound):,}", f"{int(r.n_unbound):,}"]
            for r in comparison.itertuples()]
    head = (f"<p class='note'>motif {html.escape(str(config['motif_name']))} ({html.escape(str(config['motif']))}), "
            f"ChIP-seq peaks {html.escape(str(config.get('chip_given', config['chip'])))}, {config['window']} bp "
            f"windows, p &lt; {config['threshold']:g}; held-out test split</p>")
    figs = []
    for strategy, test in result.test_scores.items():
        scores = {m: test[m].to_numpy() for m in test.columns if m != "label"}
        figs.append(img_tag(plots.roc_curves(test["label"].to_numpy(), scores, f"{strategy} negatives"), strategy))
    sections = [("Test performance", head + html_table(["negatives", "model", "core motif", "auROC", "auPRC", "bound",
                                                        "unbound"], rows)),
                ("Test ROC curves", "".join(figs))]
    patterns = patterns_section(result.path) if (Path(result.path) / "patterns.tsv").is_file() else None
    write_page(path, f"cisgram tfbind: {config['motif_name']}", sections + ([patterns] if patterns else []))


def _summary(rows: pd.DataFrame) -> str:
    """``5 patterns: 2 the TF, 1 accessibility/pioneer (GATA), ...`` for one network's rows."""
    found = rows[rows["class"] != "none"]
    if found.empty:
        return html.escape(str(rows["note"].iloc[0]))
    parts = []
    for cls in CLASS_ORDER:
        k = found[found["class"] == cls]
        if len(k):
            fams = sorted({str(f) for f in k["family"] if isinstance(f, str) and f})
            parts.append(f"{len(k)} {cls}" + (f" ({', '.join(fams)})" if fams else ""))
    return html.escape(f"{rows['note'].iloc[0]}; {len(found)} pattern(s): " + ", ".join(parts))


def _cell(row, arrays) -> str:
    """One pattern's cell: its contribution logo, name, seqlets, best match and class."""
    name = str(row["pattern"])
    logo = ""
    if arrays is not None and f"{name}_contrib" in arrays:
        logo = img_tag(pattern_logo(arrays[f"{name}_contrib"], f"{name} ({int(row['n_seqlets'])} seqlets)"),
                       f"{name} contribution logo") + "<br>"
    match = (f"{html.escape(str(row['match_name']))} ({html.escape(str(row['match_id']))}), q {row['q_value']:.1e}"
             if isinstance(row["match_id"], str) and row["match_id"] else "no match")
    if row["class"] == "unnamed" and match != "no match":
        match = f"TOMTOM: {match}; {row.get('n_informative', '?')} column(s) &ge; 1 bit"
    colour = CLASS_COLOURS.get(row["class"], "#222")
    return (f"{logo}<span class='note'>{html.escape(name)} {html.escape(str(row['consensus']))}</span><br>"
            f"{match}<br><b style='color:{colour}'>{html.escape(str(row['class']))}</b>")


def _arrays(run: Path, regime: str, core: str):
    path = run / regime / ("blocked" if core == "blocked" else "") / "patterns" / "patterns.npz"
    return dict(np.load(path)) if path.is_file() else None


def patterns_section(run_dir) -> tuple[str, str] | None:
    """The section "What each regime learns" of a tfbind run that has ``patterns.tsv``
    (``cisgram tfbind-patterns``): one column per regime x core, one row per pattern (rank by
    seqlets within each sign) with its contribution logo, consensus, best TOMTOM match and
    class, above a summary line per column. ``None`` when the run has no ``patterns.tsv``."""
    run = Path(run_dir)
    if not (run / "patterns.tsv").is_file():
        return None
    table = pd.read_csv(run / "patterns.tsv", sep="\t", keep_default_na=False, na_values=[""],
                        dtype={"pattern": str, "match_id": str, "match_name": str, "family": str, "note": str})
    table["pattern"] = table["pattern"].fillna("")
    columns = list(dict.fromkeys(zip(table["regime"], table["core"], strict=True)))
    cells, summaries = [], []
    for regime, core in columns:
        rows = table[(table["regime"] == regime) & (table["core"] == core)]
        summaries.append(f"<li><b>{html.escape(regime)}, core {html.escape(core)}</b>: {_summary(rows)}</li>")
        arrays = _arrays(run, regime, core)
        cells.append([_cell(r, arrays) for r in rows[rows["pattern"] != ""].to_dict("records")]
                     or ["<span class='note'>no pattern</span>"])
    depth = max(len(c) for c in cells)
    grid = [[c[i] if i < len(c) else "" for c in cells] for i in range(depth)]
    head = [f"{regime} ({core})" for regime, core in columns]
    intro = ("<p class='note'>TF-MoDISco patterns of DeepLIFT contributions on the bound windows of each "
             "network (oriented on the motif's strand; the blocked network's with N over the core), each named by "
             "its best TOMTOM match and classed: the TF (its own motif or family), accessibility/pioneer (a "
             "family known to open chromatin), partner (another named motif) or unnamed (no match at q &le; "
             "0.05, or fewer than 4 columns of at least 1 bit: TOMTOM names long, nearly uniform patterns "
             "spuriously).</p>")
    body = intro + "<ul>" + "".join(summaries) + "</ul>"
    body += raw_html_table(head, grid, left=tuple(range(len(head))))
    return "What each regime learns", body
