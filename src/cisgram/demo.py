"""The demo chain on the bundled real slice (see :mod:`cisgram.datasets`).

Today it prepares the demo inputs: it reads and checks the three cell lines' peaks, builds a
union of fixed-width regions, measures each cell line's accessibility over them, adds the TSS
distance, draws a block hold-out and loads the demo motifs, then writes ``regions.bed``,
``split.json`` and ``summary.json``. Later stages (scanning, models, comparison, report) extend it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.annotation import read_tss
from cisgram.datasets import demo as demo_paths
from cisgram.files import atomic_write
from cisgram.genome import Genome
from cisgram.intervals import read_regions, resize, tss_distance, union_regions, write_regions
from cisgram.motifs.pwm import load_motifs
from cisgram.splits import make_split
from cisgram.tracks import bigwig_coverage


def run_demo(out_dir: str | os.PathLike, *, width: int = 500, progress: Callable[[str], None] | None = None) -> dict:
    """Prepare the demo inputs in ``out_dir`` and return a summary dict (also ``summary.json``)."""
    say = progress or (lambda msg: None)
    d = demo_paths()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    genome = Genome(d.genome)
    peaks = {c: read_regions(p, genome=genome) for c, p in d.peaks.items()}
    say(f"read {sum(map(len, peaks.values())):,} peaks of {len(peaks)} cell lines")
    regions = union_regions([resize(p, width, sizes=genome.sizes) for p in peaks.values()], width, sizes=genome.sizes)
    tss = read_tss(d.genes_tss)
    regions["tss_distance"] = tss_distance(regions, tss)
    split = make_split(regions, genome.sizes, "blocks:1Mb", seed=0)
    regions["split"] = split.assign(regions)
    coverage = {c: bigwig_coverage(p, regions, stat="sum") for c, p in d.accessibility.items()}
    say(f"{len(regions):,} union regions; accessibility measured in {len(coverage)} cell lines")
    motifs = load_motifs(str(d.motifs))
    gc = genome.fetch_codes_batch(regions["chrom"], regions["start"], regions["end"])
    regions["gc"] = np.isin(gc, (1, 2)).mean(axis=1)

    write_regions(regions, out / "regions.bed", kind="bed6")
    split.save(out / "split.json")
    table = pd.DataFrame(coverage, index=regions["name"])
    with atomic_write(out / "coverage.tsv") as fh:
        table.to_csv(fh, sep="\t", float_format="%.6g")
    counts = pd.Series(regions["split"]).value_counts()
    summary = {
        "n_regions": len(regions),
        "width": width,
        "n_near_tss": int((regions["tss_distance"] <= 1000).sum()),
        "n_motifs": len(motifs),
        "split": "1 Mb blocks",
        "split_counts": {k: int(counts.get(k, 0)) for k in ("train", "val", "test")},
        "conditions": [
            {
                "name": c,
                "peaks": len(peaks[c]),
                "nonzero": int((coverage[c] > 0).sum()),
                "mean_coverage": float(coverage[c].mean()),
            }
            for c in coverage
        ],
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    genome.close()
    return summary
