"""``report.html`` of ``cisgram tfbind``, drawn from a :class:`~cisgram.results.TFBindResult`."""

from __future__ import annotations

import html

from cisgram.report import plots
from cisgram.report.html import html_table, img_tag, write_page


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
    write_page(path, f"cisgram tfbind: {config['motif_name']}",
               [("Test performance", head + html_table(["negatives", "model", "core motif", "auROC", "auPRC", "bound", "unbound"], rows)),
                ("Test ROC curves", "".join(figs))])
