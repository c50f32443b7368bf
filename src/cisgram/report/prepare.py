"""``prepare_report.html``: the diagnostics page of a dataset from ``cisgram prepare`` (the AnnData
the command returns)."""

from __future__ import annotations

import os

import numpy as np

from cisgram.report import plots_dataset
from cisgram.report.html import html_table, img_tag, write_page

STAGES = [("counts", "raw coverage, log10(x + 1)"), ("norm_regional", "regional + sum normalised, log2(x + 1e-5)"),
          ("norm_const", "constitutive normalised, log2(x + 1e-5)"), ("access", "access probability")]


def _stage_values(adata) -> list[tuple[str, np.ndarray]]:
    """Each normalisation stage's ``(C, R)`` values on the scale it is drawn on."""
    out = []
    for layer, label in STAGES:
        m = np.asarray(adata.layers[layer], dtype=np.float64)
        out.append((label, np.log10(m + 1) if layer == "counts" else np.log2(m + 1e-5) if layer.startswith("norm_")
                    else m))
    return out


def prepare_report(adata, path: str | os.PathLike) -> None:
    """Write the diagnostics page of a prepared dataset: per-condition scatter plots against the
    mean before and after each normalisation step, AP distributions, constitutive counts, region
    widths and TSS distances."""
    import json

    info = json.loads(adata.uns["cisgram"])
    var = adata.var
    split = var["split"].astype(str)
    rows = []
    counts = np.asarray(adata.layers["counts"], dtype=np.float64)
    ap = np.asarray(adata.layers["access"], dtype=np.float64)
    const = var["constitutive"].to_numpy(dtype=bool)
    for i, c in enumerate(adata.obs_names):
        rows.append([c, f"{counts[i].sum():,.0f}", f"{np.median(counts[i, const]):,.1f}", f"{np.median(ap[i, const]):.3f}",
                     f"{np.mean(ap[i] >= 0.999):.1%}"])
    acc = info["access"]
    summary = html_table(
        ["what", "value"],
        [["regions", f"{adata.n_vars:,}"], ["conditions", ", ".join(adata.obs_names)],
         ["train / val / test", " / ".join(f"{(split == s).sum():,}" for s in ("train", "val", "test"))],
         ["constitutive regions", f"{const.sum():,} ({const.mean():.1%})"],
         ["AP = 1 threshold (prob1_thresh)", f"{acc['prob1_thresh']:.4g}"],
         ["regional correction", "on" if acc.get("background_floor") is not None else "off (no tracks)"]],
    )
    per_cond = html_table(["condition", "total coverage", "median constitutive coverage", "median constitutive AP", "AP = 1"], rows)
    write_page(
        path, "cisgram prepare: dataset diagnostics",
        [
            ("Summary", summary + "<p class='note'>All normalisation parameters are fitted on training regions and reused for validation and test.</p>"),
            ("Per condition", per_cond),
            ("Normalisation stages (each condition against the mean; red = constitutive)", img_tag(
                plots_dataset.normalisation_stages(_stage_values(adata), list(adata.obs_names), const,
                                           threshold=acc["constitutive_threshold"], threshold_stage=1),
                "each condition against the mean, per normalisation stage")),
            ("Access probability distributions", img_tag(plots_dataset.access_histograms(ap, list(adata.obs_names)),
                                                          "access probability distributions")),
            ("Regions", img_tag(plots_dataset.region_histograms((var["end"] - var["start"]).to_numpy(),
                                                        var["tss_distance"].to_numpy(dtype=float)),
                                "region widths and TSS distances")),
        ],
    )
