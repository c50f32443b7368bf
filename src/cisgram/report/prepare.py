"""TODO docstring."""

from __future__ import annotations

import os

import numpy as np

from cisgram.files import atomic_write
from cisgram.report.html import html_table, img_tag, page, pyplot


def _stage_scatter(adata) -> str:
    """Per condition, its values against the mean over conditions at every normalisation stage."""
    plt = pyplot()
    import json

    threshold = json.loads(adata.uns["cisgram"])["access"]["constitutive_threshold"]
    stages = [("counts", "raw coverage, log10(x + 1)"), ("norm_regional", "regional + sum normalised, log2(x + 1e-5)"),
              ("norm_const", "constitutive normalised, log2(x + 1e-5)"), ("access", "access probability")]
    conds = list(adata.obs_names)
    const = adata.var["constitutive"].to_numpy(dtype=bool)
    fig, axes = plt.subplots(len(conds), len(stages), figsize=(3.2 * len(stages), 3.0 * len(conds)), squeeze=False)
    for j, (layer, label) in enumerate(stages):
        m = np.asarray(adata.layers[layer], dtype=np.float64)
        if layer == "counts":
            m = np.log10(m + 1)
        elif layer.startswith("norm_"):
            m = np.log2(m + 1e-5)
        mean = m.mean(axis=0)
        for i, c in enumerate(conds):
            ax = axes[i, j]
            ax.scatter(mean[~const], m[i, ~const], s=3, alpha=0.4, color="#888", label="other", rasterized=True)
            ax.scatter(mean[const], m[i, const], s=3, alpha=0.6, color="#c33", label="constitutive", rasterized=True)
            lo, hi = float(min(mean.min(), m[i].min())), float(max(mean.max(), m[i].max()))
            ax.plot([lo, hi], [lo, hi], lw=0.8, color="k")
            if layer == "norm_regional":
                ax.axhline(threshold, color="#c33", lw=0.8, ls="--")
            ax.set_title(f"{c}: {label}", fontsize=8)
            ax.set_xlabel("mean over conditions", fontsize=7)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, markerscale=3)
    fig.tight_layout()
    return img_tag(fig, "each condition against the mean, per normalisation stage")


def _ap_hist(adata) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, c in enumerate(adata.obs_names):
        ax.hist(np.asarray(adata.layers["access"][i]), bins=50, histtype="step", label=c)
    ax.set_xlabel("access probability")
    ax.set_ylabel("regions")
    ax.legend(fontsize=8)
    return img_tag(fig, "access probability distributions")


def _region_hists(adata) -> str:
    plt = pyplot()
    var = adata.var
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].hist(var["end"] - var["start"], bins=40, color="#468")
    axes[0].set_xlabel("region width (bp)")
    d = var["tss_distance"].to_numpy(dtype=float)
    d = d[np.isfinite(d)]
    if d.size:
        axes[1].hist(np.log10(d + 1), bins=50, color="#468")
        axes[1].axvline(np.log10(5001), color="#c33", lw=1, label="5 kb (distal filter)")
        axes[1].legend(fontsize=8)
    axes[1].set_xlabel("log10(distance to nearest TSS + 1)")
    for ax in axes:
        ax.set_ylabel("regions")
    return img_tag(fig, "region widths and TSS distances")


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
    text = page(
        "cisgram prepare: dataset diagnostics",
        [
            ("Summary", summary + "<p class='note'>All normalisation parameters are fitted on training regions and reused for validation and test.</p>"),
            ("Per condition", per_cond),
            ("Normalisation stages (each condition against the mean; red = constitutive)", _stage_scatter(adata)),
            ("Access probability distributions", _ap_hist(adata)),
            ("Regions", _region_hists(adata)),
        ],
    )
    with atomic_write(path) as fh:
        fh.write(text)
