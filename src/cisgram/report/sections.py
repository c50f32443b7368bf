"""Sections shared by the run reports: the metrics table, per-target metric bars and the test
scatter plots, from a run's ``metrics.json`` dict and predictions table."""

from __future__ import annotations

import numpy as np

from cisgram.report.html import html_table, img_tag


def metrics_section(metrics: dict) -> str:
    """Every split and target of a ``metrics.json`` dict as one table."""
    rows = []
    areas = any("auroc" in m for s in ("train", "val", "test") for m in metrics.get(s, {}).values())
    for split in ("train", "val", "test"):
        for target, m in metrics.get(split, {}).items():
            row = [split, target, f"{m['pearson']:.3f}", f"{m['spearman']:.3f}", f"{m['pearson_r2']:.3f}",
                   f"{m['r2']:.3f}", f"{m['n']:,}"]
            rows.append([*row, f"{m['auroc']:.3f}", f"{m['auprc']:.3f}"] if areas else row)
    head = ["split", "target", "Pearson r", "Spearman", "R² (r²)", "R² (1 − SSres/SStot)", "n"]
    return html_table([*head, "auROC", "auPRC"] if areas else head, rows)


def test_scatters(preds) -> str:
    """Observed against predicted on the test rows, one scatter per target."""
    from cisgram.report import plots

    test = preds[preds["split"] == "test"]
    return "".join(img_tag(plots.scatter(g["observed"].to_numpy(), g["predicted"].to_numpy(), f"{t} (test)"), f"{t} test")
                   for t, g in test.groupby("target", sort=False) if len(g) >= 2)


def metric_bars(metrics: dict) -> str:
    """Test Pearson r (and auROC where scored) per target as bars."""
    from cisgram.report import plots

    test = metrics.get("test", {})
    names = [t for t, m in test.items() if np.isfinite(m.get("pearson", np.nan))]
    if not names:
        return ""
    out = img_tag(plots.bars(names, np.array([test[t]["pearson"] for t in names]), "test Pearson r per target"),
               "test Pearson per target")
    auc = [t for t in names if np.isfinite(test[t].get("auroc", np.nan))]
    if auc:
        out += img_tag(plots.bars(auc, np.array([test[t]["auroc"] for t in auc]), "test auROC per target"),
                    "test auROC per target")
    return out
