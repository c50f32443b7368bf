"""`cisgram prepare` speed: coverage of 200,000 chr22 tiles × 3 bigWig tracks (regions and their
±10 kb windows) beside a naive per-region pyBigWig loop, the whole `prepare()` on those tiles,
and the yeast fragment file split into its two barcode groups beside a naive per-region count.

    python benchmarks/prepare.py [--quick]

Prints one JSON object as its last line; ``*_ratio`` = naive seconds / cisgram seconds.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig

from _common import SHARED, emit, measure
from cisgram.data.dataset import TrackSpec, measure_tracks, prepare, window_regions
from cisgram.genome import Genome
from cisgram.intervals import read_regions, resize, union_regions

CELLS = ("K562", "GM12878", "MCF7")


def naive_bigwig(paths, regions: pd.DataFrame, windows: pd.DataFrame) -> np.ndarray:
    """What one writes first: one pyBigWig stats call per region, per window, per track."""
    out = np.zeros((len(regions), len(paths), 2))
    for j, p in enumerate(paths):
        bw = pyBigWig.open(str(p))
        for k, df in enumerate((regions, windows)):
            for i, (c, s, e) in enumerate(zip(df["chrom"], df["start"], df["end"], strict=True)):
                v = bw.stats(c, int(s), int(e), type="sum", exact=True)[0]
                out[i, j, k] = v or 0.0
        bw.close()
    return out


def naive_fragments(path, regions: pd.DataFrame, groups: dict[str, list[str]]) -> np.ndarray:
    """Load the fragments, then count insertions per region with a mask over its chromosome."""
    f = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2, 3], names=["chrom", "start", "end", "bc"])
    out = np.zeros((len(regions), len(groups)))
    for k, bcs in enumerate(groups.values()):
        sub = f[f["bc"].isin(bcs)]
        by_chrom = {c: (g["start"].to_numpy(), g["end"].to_numpy() - 1) for c, g in sub.groupby("chrom")}
        for i, (c, s, e) in enumerate(zip(regions["chrom"], regions["start"], regions["end"], strict=True)):
            a, b = by_chrom.get(c, (np.zeros(0), np.zeros(0)))
            out[i, k] = np.count_nonzero((a >= s) & (a < e)) + np.count_nonzero((b >= s) & (b < e))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20,000 tiles and one naive repeat (under a minute)")
    a = ap.parse_args()
    chr22 = SHARED / "hg38_chr22"
    genome = Genome(chr22 / "genome" / "chr22.fa.gz")
    n_target = 20_000 if a.quick else 200_000
    width = 200
    starts = 10_600_000 + np.arange(n_target, dtype=np.int64) * width
    tiles = pd.DataFrame({"chrom": "chr22", "start": starts, "end": starts + width})
    tracks = [TrackSpec(c, chr22 / "accessibility" / f"{c}.bw") for c in CELLS]
    windows = window_regions(tiles, genome.sizes, 20_000)
    res = {
        "benchmark": "prepare",
        "inputs": {"regions": len(tiles), "width": width, "tracks": [str(t.path) for t in tracks], "window": 20_000},
        "versions": {"cisgram": md.version("cisgram"), "pyBigWig": md.version("pyBigWig")},
    }
    ours = measure(lambda: measure_tracks(tracks, tiles, windows), repeats=3)
    t = time.perf_counter()
    naive = naive_bigwig([t_.path for t_ in tracks], tiles, windows)
    naive_s = time.perf_counter() - t
    mine = measure_tracks(tracks, tiles, windows)
    assert np.allclose(mine[0], naive[:, :, 0]) and np.allclose(mine[1], naive[:, :, 1]), "coverage differs from the naive loop"
    res["bigwig_coverage"] = {**ours, "regions_per_s": len(tiles) / ours["median_s"]}
    res["naive_bigwig_loop"] = {"median_s": naive_s, "repeats": 1, "regions_per_s": len(tiles) / naive_s}
    res["bigwig_coverage_vs_naive_ratio"] = naive_s / ours["median_s"]

    with tempfile.TemporaryDirectory() as tmp:
        bed = Path(tmp) / "tiles.bed"
        tiles.to_csv(bed, sep="\t", header=False, index=False)
        full = measure(lambda: prepare(genome, [bed], tracks, width=width, split="blocks:1Mb"), repeats=1 if not a.quick else 3, warmup=0)
    res["prepare_total"] = {**full, "regions_per_s": len(tiles) / full["median_s"]}

    y = SHARED / "sacCer3"
    frag = y / "atac" / "SRR1822137.fragments.tsv.gz"
    groups = {"A": ["AAAAAAAAAAAAAAAA"], "B": ["BBBBBBBBBBBBBBBB"]}
    peaks = read_regions(y / "atac" / "hmmratac_accessible_regions.narrowPeak", exclude=["chrM"])
    yeast_genome = Genome(y / "genome" / "sacCer3.2bit")
    specs = [TrackSpec(k, frag, tuple(v)) for k, v in groups.items()]
    yregions = union_regions([resize(peaks, 500, sizes=yeast_genome.sizes)], 500, sizes=yeast_genome.sizes)
    ours_f = measure(lambda: measure_tracks(specs, yregions, None), repeats=3)
    naive_f = measure(lambda: naive_fragments(frag, yregions, groups), repeats=1 if a.quick else 3)
    assert np.array_equal(measure_tracks(specs, yregions, None)[0], naive_fragments(frag, yregions, groups))
    yfull = measure(lambda: prepare(yeast_genome, [y / "atac" / "hmmratac_accessible_regions.narrowPeak"],
                                    [f"{k}={frag}:{v[0]}" for k, v in groups.items()]), repeats=3)
    res["yeast"] = {
        "regions": len(yregions), "fragments_file": str(frag),
        "fragment_counts": ours_f, "naive_fragment_loop": naive_f,
        "fragment_counts_vs_naive_ratio": naive_f["median_s"] / ours_f["median_s"],
        "prepare_total": yfull,
    }
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit(res)


if __name__ == "__main__":
    main()
