"""``report.html`` of a CNN run, drawn from a :class:`~cisgram.results.CNNResult`."""

from __future__ import annotations

from cisgram.report import plots
from cisgram.report.html import img_tag, write_page
from cisgram.report.sections import metric_bars, metrics_section, test_scatters


def cnn_report(path, result) -> None:
    """Write the report of a CNN run: metrics (and on peaks only, where background windows were
    scored too), per-target bars, the training curve, test scatter plots or ROC / PR curves, and
    attribution logos of the highest-predicted test regions."""
    metrics, preds, history = result.metrics, result.predictions, result.history
    sections = [("Metrics", metrics_section(metrics) + metric_bars(metrics))]
    for name, sub in metrics.get("subsets", {}).items():
        sections.append((f"Metrics on {name} only", metrics_section(sub)))
    if history.get("epochs"):
        note = (f"<p class='note'>kept epoch {history['best_epoch']} (validation loss "
                f"{history['best_val_loss']:.4f}); {history['seconds']:.0f} s of training</p>")
        curve = plots.training_curve(history["epochs"], result.arch, best=history["best_epoch"])
        sections.append(("Training", note + img_tag(curve, "training curve")))
    if result.task == "classification":
        test = preds[preds["split"] == "test"]
        figs = [img_tag(plots.roc_pr(g["observed"].to_numpy(), g["predicted"].to_numpy(), t), f"{t} ROC and PR")
                for t, g in test.groupby("target", sort=False) if 0 < g["observed"].sum() < len(g)]
        sections.append(("Test ROC and precision-recall", "".join(figs)))
    else:
        sections.append(("Test predictions", test_scatters(preds)))
    if result.logos:
        sections.append(("Attributions of the highest-predicted test regions (input × gradient, first target)",
                         "".join(img_tag(plots.contribution_logo(c, t), f"attribution {t}") for t, c in result.logos)))
    write_page(path, f"cisgram cnn: {result.arch} ({result.task})", sections)
