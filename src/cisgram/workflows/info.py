"""Summaries of a user's inputs, validated against the genome (what ``cisgram info`` prints)."""

from __future__ import annotations

import os

import numpy as np

from cisgram.genome import Genome
from cisgram.intervals import read_regions, widths


def genome_summary(path: str | os.PathLike, *, top: int = 25) -> dict:
    """Open a genome and describe it; ``table`` lists the ``top`` longest sequences."""
    g = Genome(path)
    ordered = sorted(g.sizes.items(), key=lambda kv: -kv[1])
    table = ordered[:top]
    if len(ordered) > top:
        table.append((f"… {len(ordered) - top} more", sum(v for _, v in ordered[top:])))
    return {"genome": g, "format": g.format, "n_chroms": len(g.sizes), "total_bp": sum(g.sizes.values()), "table": table}


def regions_summary(path: str | os.PathLike, genome: Genome) -> dict:
    """Read a region file, check it against ``genome`` and describe it."""
    df = read_regions(path, genome=genome)
    w = widths(df)
    counts = df["chrom"].value_counts(sort=False)
    return {
        "n": len(df),
        "kind": "narrowPeak" if "summit" in df else f"BED{min(len(df.columns), 6) if len(df.columns) <= 6 else '6+'}",
        "n_chroms": int(counts.size),
        "table": [(c, int(n)) for c, n in counts.items()],
        "widths": {"min": int(w.min()), "median": int(np.median(w)), "mean": float(w.mean()), "max": int(w.max())},
    }


def motifs_summary(spec: str) -> dict:
    """Load a motif set (MEME file or ``jaspar:`` address) and describe it."""
    from cisgram.motifs.pwm import load_motifs

    ms = load_motifs(spec)
    w = np.array([m.width for m in ms])
    return {"n": len(ms), "min_width": int(w.min()), "max_width": int(w.max()), "median_width": int(np.median(w))}
