"""TODO docstring."""

from __future__ import annotations

import html

from cisgram.files import atomic_write
from cisgram.report.html import html_table, img_tag, page


def tfbind_report(path, config: dict, comparison, run_dir) -> None:
    """``report.html`` of ``cisgram tfbind``: test auROC / auPRC per negative strategy and model,
    and the test ROC curves of every model per strategy."""
    import pandas as pd

    from cisgram.report import plots

    rows = [[r.strategy, r.model, f"{r.auroc:.3f}", f"{r.auprc:.3f}", f"{int(r.n_bound):,}", f"{int(r.n_unbound):,}"]
            for r in comparison.itertuples()]
    head = (f"<p class='note'>motif {html.escape(str(config['motif_name']))} ({html.escape(str(config['motif']))}), "
            f"ChIP-seq peaks {html.escape(str(config['chip']))}, {config['window']} bp windows, "
            f"p &lt; {config['threshold']:g}; held-out test split</p>")
    figs = []
    for strategy in comparison["strategy"].unique():
        p = pd.read_parquet(f"{run_dir}/{strategy}/predictions.parquet")
        test = p[p["split"] == "test"]
        scores = {m: test[m].to_numpy() for m in ("cnn", "core-score", "context-motifs") if m in test}
        figs.append(img_tag(plots.roc_curves(test["label"].to_numpy(), scores, f"{strategy} negatives"), strategy))
    sections = [("Test performance", head + html_table(["negatives", "model", "auROC", "auPRC", "bound", "unbound"], rows)),
                ("Test ROC curves", "".join(figs))]
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram tfbind: {config['motif_name']}", sections))
