"""One-hot fetching of random windows: cisgram's Genome.fetch_onehot_batch beside the usual
per-region approaches (pysam fetch + one-hot; pyfaidx when installed), in one run.

    python benchmarks/fetch.py [--quick] [--n 10000] [--width 1000]

Prints one JSON object as its last line; ``*_ratio`` = peer seconds / cisgram seconds.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md

import numpy as np
import pysam

from _common import SHARED, emit, measure
from cisgram.genome import Genome, one_hot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="fewer windows and repeats (under a minute)")
    a = ap.parse_args()
    n = 2000 if a.quick else a.n
    fasta = SHARED / "hg38_chr22" / "genome" / "chr22.fa.gz"
    size = 50_818_468
    rng = np.random.default_rng(0)
    starts = rng.integers(10_600_000, size - a.width, n)  # past chr22's leading N run
    chroms = ["chr22"] * n

    def cold():  # a new Genome each time: includes reading and decoding chr22 once
        Genome(fasta).fetch_onehot_batch(chroms, starts, starts + a.width)

    warm_genome = Genome(fasta)
    warm_genome.chromosome_codes("chr22")

    def warm():
        warm_genome.fetch_onehot_batch(chroms, starts, starts + a.width)

    fa = pysam.FastaFile(str(fasta))

    def pysam_loop():
        np.stack([one_hot(fa.fetch("chr22", int(s), int(s) + a.width)) for s in starts])

    res = {
        "benchmark": "fetch",
        "inputs": {"fasta": str(fasta), "n_windows": n, "width": a.width},
        "versions": {"cisgram": md.version("cisgram"), "pysam": pysam.__version__},
    }
    reps = 3
    res["cisgram_cold"] = measure(cold, repeats=reps)
    res["cisgram_warm"] = measure(warm, repeats=reps)
    res["pysam_loop"] = measure(pysam_loop, repeats=reps)
    try:
        import pyfaidx

        fx = pyfaidx.Fasta(str(fasta), as_raw=True, sequence_always_upper=True)

        def pyfaidx_loop():
            np.stack([one_hot(fx["chr22"][int(s) : int(s) + a.width]) for s in starts])

        res["versions"]["pyfaidx"] = pyfaidx.__version__
        res["pyfaidx_loop"] = measure(pyfaidx_loop, repeats=reps)
        res["pyfaidx_vs_cold_ratio"] = res["pyfaidx_loop"]["median_s"] / res["cisgram_cold"]["median_s"]
    except ImportError:
        pass
    res["cold_s_per_1000"] = res["cisgram_cold"]["median_s"] / n * 1000
    res["warm_s_per_1000"] = res["cisgram_warm"]["median_s"] / n * 1000
    res["pysam_vs_cold_ratio"] = res["pysam_loop"]["median_s"] / res["cisgram_cold"]["median_s"]
    res["pysam_vs_warm_ratio"] = res["pysam_loop"]["median_s"] / res["cisgram_warm"]["median_s"]
    emit(res)


if __name__ == "__main__":
    main()
