"""The demo chain on the bundled real slice (see :mod:`cisgram.datasets`).

Today it runs the first step of the chain: ``prepare`` on the three cell lines (union peaks,
accessibility from the bigWigs, access probabilities, log CPM, covariates, 1 Mb block hold-out),
writing ``dataset.h5ad``, ``split.json``, ``prepare_report.html`` and ``summary.json``. Later
stages (scanning, models, comparison, report) extend it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cisgram.data.dataset import prepare
from cisgram.datasets import demo as demo_paths
from cisgram.files import atomic_write
from cisgram.motifs.pwm import load_motifs
from cisgram.report import prepare_report


def run_demo(out_dir: str | os.PathLike, *, width: int = 500, progress: Callable[[str], None] | None = None) -> dict:
    """Run the demo chain into ``out_dir`` and return a summary dict (also ``summary.json``)."""
    say = progress or (lambda msg: None)
    d = demo_paths()
    out = Path(out_dir)
    adata = prepare(
        d.genome, list(d.peaks.values()), [f"{c}={p}" for c, p in d.accessibility.items()],
        tss=d.genes_tss, width=width, split="blocks:1Mb", out=out / "dataset.h5ad", progress=say,
    )
    prepare_report(adata, out / "prepare_report.html")
    motifs = load_motifs(str(d.motifs))
    var = adata.var
    counts = np.asarray(adata.layers["counts"])
    ap = np.asarray(adata.layers["access"])
    splits = var["split"].astype(str).value_counts()
    summary = {
        "n_regions": adata.n_vars,
        "width": width,
        "n_near_tss": int((var["tss_distance"] <= 1000).sum()),
        "n_constitutive": int(var["constitutive"].sum()),
        "n_motifs": len(motifs),
        "split": "1 Mb blocks",
        "split_counts": {k: int(splits.get(k, 0)) for k in ("train", "val", "test")},
        "conditions": [
            {
                "name": c,
                "peaks": int(sum(1 for _ in open(d.peaks[c]))),
                "nonzero": int((counts[i] > 0).sum()),
                "mean_coverage": float(counts[i].mean()),
                "mean_access": float(ap[i].mean()),
            }
            for i, c in enumerate(adata.obs_names)
        ],
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    return summary
