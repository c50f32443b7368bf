"""Motif scanning: cisgram beside memelite's FIMO, same sequences and motifs, one run.

Random 1 kb windows of chr22 past position 10,600,000 (seed 0) against the 879 JASPAR 2024 CORE
vertebrate motifs. Both tools count hits at p < 1e-4 on both strands (``count``); cisgram also
runs its full feature pass (``max,count,energy,energy_bins`` in one call of
``cisgram.motifs.features.region_features``), compared with memelite's counting time.

    python benchmarks/scan.py [--quick] [--sizes 2000 20000]

Exactness, on the smallest size: both tools' hit tables at p < 1e-4 (``compare_hits``: hits in
common, score differences, whether the rest lie only at the threshold boundary; windows with an N
and motifs whose threshold is unreachable are taken out of memelite's table, as cisgram never
calls them), and the energies of 20 sequences x 30 motifs against a brute-force Python sum.

Prints one JSON object as its last line; ``count_<n>_ratio`` = memelite seconds / cisgram seconds,
``features_vs_memelite_count_<n>_ratio`` = memelite counting seconds / cisgram full-pass seconds.
Peak memory is the peak resident set of a fresh process that fetches the windows and runs one
call (it includes the interpreter, numba, torch, the decoded chr22 and the input arrays).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import resource
import statistics
import subprocess
import sys
import time

import numba
import numpy as np
import pandas as pd

from _common import SHARED, emit
from cisgram.genome import Genome
from cisgram.motifs.features import IQ_PSEUDOCOUNT, Bins, motif_energy, region_features
from cisgram.motifs.pwm import read_meme
from cisgram.motifs.scan import compare_hits, scan

FULL = ("max", "count", "energy", "energy_bins")


def timed(fn, repeats: int = 3, warmup: int = 1) -> tuple[dict, object]:
    """Median wall seconds over ``repeats`` runs after ``warmup`` runs, and the last result."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "times_s": times}, out


def peak_rss_mb(tool: str, n: int) -> float:
    """Peak resident set (MB) of a fresh process that fetches ``n`` windows and runs ``tool`` once
    (a subprocess: forking a process whose numba threads are running is unsafe)."""
    out = subprocess.run([sys.executable, __file__, "--child", tool, "--sizes", str(n)], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def inputs(genome: Genome, n: int, width: int) -> np.ndarray:
    starts = np.random.default_rng(0).integers(10_600_000, 50_818_468 - width, n)
    return genome.fetch_codes_batch(["chr22"] * n, starts, starts + width)


def exactness(X: np.ndarray, motifs, fimo) -> dict:
    """Hits against memelite's and energies against a brute-force sum (see the module docstring)."""
    res = scan(X, motifs, hits=True)
    onehot = (np.arange(4)[None, :, None] == X[:, None, :]).astype(np.float32)
    theirs = pd.concat([d for d in fimo({m.name: m.probs.T.copy() for m in motifs}, onehot) if len(d)])
    theirs = theirs.rename(columns={"sequence_name": "region", "motif_name": "motif", "p-value": "p_value"})
    theirs = theirs.astype({"region": int, "start": int, "end": int})
    csum = np.concatenate([np.zeros((len(X), 1), int), np.cumsum(X == 4, axis=1)], axis=1)
    with_n = csum[theirs.region, theirs.end] > csum[theirs.region, theirs.start]
    unreachable = set(np.array(res.motif_names)[np.isinf(res.score_thresholds)])
    theirs = theirs[~with_n & ~theirs.motif.isin(unreachable)]
    out = compare_hits(res.hits, theirs, dict(zip(res.motif_names, res.score_thresholds, strict=True)))
    out["motifs_unreachable_at_threshold"] = len(unreachable)

    rng = np.random.default_rng(1)
    rows, cols = rng.choice(len(X), 20, replace=False), rng.choice(len(motifs), 30, replace=False)
    sub = motifs.subset([motifs[int(j)].name for j in cols])
    got = motif_energy(X[rows], sub).energy
    grid = Bins.default(X.shape[1])
    worst = 0.0
    for a, r in enumerate(rows):
        for b, m in enumerate(sub):
            p = (m.probs / m.probs.sum(1, keepdims=True) + IQ_PSEUDOCOUNT) / (1 + 4 * IQ_PSEUDOCOUNT)
            total = 0.0
            for w in range(grid.offset, grid.offset + grid.n * grid.size):
                site = X[r, w : w + m.width]
                if site.size == m.width and (site < 4).all():
                    total += np.prod(p[np.arange(m.width), site]) + np.prod(p[::-1, ::-1][np.arange(m.width), site])
            worst = max(worst, abs(got[a, b] - np.log(total)) / abs(np.log(total)))
    out["energy_max_rel_err_vs_brute_force"] = worst
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20_000])
    ap.add_argument("--quick", action="store_true", help="2,000 sequences only (under a minute)")
    ap.add_argument("--child", choices=["cisgram", "features", "memelite"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = [2000] if a.quick else a.sizes
    from memelite.fimo import fimo

    fasta = SHARED / "hg38_chr22" / "genome" / "chr22.fa.gz"
    motif_file = SHARED / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme"
    motifs = read_meme(motif_file)
    peer_motifs = {m.name: m.probs.T.copy() for m in motifs}
    genome = Genome(fasta)
    width = 1000
    if a.child:  # one call in this process, then its peak resident set (MB) on the last line
        X = inputs(genome, a.sizes[0], width)
        if a.child == "cisgram":
            scan(X, motifs, features=("count",))
        elif a.child == "features":
            region_features(X, motifs, FULL)
        else:
            fimo(peer_motifs, (np.arange(4)[None, :, None] == X[:, None, :]).astype(np.float32),
                 return_counts=True)
        # VmHWM, not ru_maxrss: after exec, ru_maxrss keeps the forking parent's high-water mark
        with open("/proc/self/status") as fh:
            print(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024)
        return
    res = {
        "benchmark": "scan",
        "inputs": {"fasta": str(fasta), "motifs": str(motif_file), "n_motifs": len(motifs), "width": width,
                   "threshold": 1e-4, "sizes": sizes, "features": FULL},
        "versions": {"cisgram": md.version("cisgram"), "memelite": md.version("memelite"),
                     "numba": numba.__version__, "numba_threads": numba.get_num_threads()},
    }
    for n in sizes:
        X = inputs(genome, n, width)
        onehot = (np.arange(4)[None, :, None] == X[:, None, :]).astype(np.float32)

        def ours(X=X):
            return scan(X, motifs, features=("count",))

        def peer(onehot=onehot):
            return fimo(peer_motifs, onehot, return_counts=True)

        def ours_full(X=X):
            return region_features(X, motifs, FULL)

        r = {}
        r["cisgram_count"], got = timed(ours)
        r["memelite_count"], peer_counts = timed(peer)
        r["cisgram_features"], _ = timed(ours_full)
        r["cisgram_count"]["peak_rss_mb"] = peak_rss_mb("cisgram", n)
        r["cisgram_features"]["peak_rss_mb"] = peak_rss_mb("features", n)
        r["memelite_count"]["peak_rss_mb"] = peak_rss_mb("memelite", n)
        r["hits_cisgram"] = int(got.features["count"].sum())
        r["hits_memelite"] = int(peer_counts.sum())  # includes windows with N, which memelite scores as 0
        work = n * width * len(motifs)
        r["cisgram_seq_bp_motif_per_s"] = work / r["cisgram_count"]["median_s"]
        r["memelite_seq_bp_motif_per_s"] = work / r["memelite_count"]["median_s"]
        res[str(n)] = r
        if n == min(sizes):
            res[f"exactness_{n}"] = exactness(X, motifs, fimo)
        res[f"count_{n}_ratio"] = r["memelite_count"]["median_s"] / r["cisgram_count"]["median_s"]
        res[f"features_vs_memelite_count_{n}_ratio"] = (
            r["memelite_count"]["median_s"] / r["cisgram_features"]["median_s"])
    res["machine_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit(res)


if __name__ == "__main__":
    main()
