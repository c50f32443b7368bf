"""Shared fixtures of the workflow tests: the planted ChromBPNet simulation and the tiny run trained
on it once per session (``chrombpnet_sim``, ``chrombpnet_run``), read by
``test_train_chrombpnet.py``, ``test_variants_chrombpnet.py`` and ``test_explain_chrombpnet.py``.

The simulated genome (4 random chromosomes, 360 kb) carries a Tn5-like sequence preference
everywhere: each base's insertion rate is multiplied by ``exp(Σ W[o, base at o])`` over the 7-mer
centred on it (``W`` drawn ~N(0, 0.5)). Peaks every 1 kb hold 1-7 copies of an AP-1 site
(TGACTCA), each raising the rate in a Gaussian bump (sd 12 bp) around it; background holds the
bias alone. Counts are Poisson draws of the rate, written as an insertion bigWig. Tiny networks
(16 filters, 256 bp in, 128 out) train in about 20 s on one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cisgram.report.chrombpnet import chrombpnet_report
from cisgram.tracks import write_bigwig
from cisgram.workflows.train_chrombpnet import train_chrombpnet

SIZES = {"chr1": 120_000, "chr2": 120_000, "chr3": 60_000, "chr4": 60_000}
MOTIF = "TGACTCA"
IN, OUT, JIT = 256, 128, 32
TINY = {"split": "chroms:chr3/chr4", "input_len": IN, "output_len": OUT, "max_jitter": JIT, "background": 3.0,
        "n_filters": 16, "n_layers": 2, "bias_filters": 16, "bias_layers": 1, "background_ratio": 0.5,
        "batch_size": 8, "lr": 1e-2, "seed": 0, "threads": 1}


@dataclass
class Sim:
    fasta: Path
    bigwig: Path
    peaks: Path
    codes: dict  # chrom -> (n,) uint8 base codes
    bias_rate: dict  # chrom -> (n,) the planted Tn5 preference (multiplier of the rate)
    W: np.ndarray  # (7, 4) log preference per offset and base


def simulate(tmp: Path, seed: int = 0) -> Sim:
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.5, (7, 4))
    motif = np.array(["ACGT".index(c) for c in MOTIF])
    codes, bias, rows, counts = {}, {}, [], {}
    for chrom, n in SIZES.items():
        s = rng.integers(0, 4, n).astype(np.uint8)
        acc, x = np.zeros(n), np.arange(n)
        for centre in range(500, n - 500, 1000):
            for off in rng.choice(np.arange(7) * 16 - 48, size=rng.integers(1, 8), replace=False):
                s[centre + off - 3: centre + off + 4] = motif
                lo, hi = centre + off - 60, centre + off + 61
                acc[lo:hi] += 6.0 * np.exp(-0.5 * ((x[lo:hi] - centre - off) / 12.0) ** 2)
            rows.append(f"{chrom}\t{centre - 100}\t{centre + 100}\tp{chrom}_{centre}\t100\t.\t1\t-1\t-1\t100\n")
        logb = np.zeros(n)
        for o in range(-3, 4):
            logb[3:-3] += W[o + 3, s[3 + o: n - 3 + o]]
        codes[chrom], bias[chrom] = s, np.exp(logb)
        counts[chrom] = rng.poisson(2.0 * bias[chrom] * (1 + acc))
    fa = tmp / "sim.fa"
    fa.write_text("".join(f">{c}\n{''.join(np.array(list('ACGT'))[s])}\n" for c, s in codes.items()))
    bw = tmp / "sim_ins.bw"
    write_bigwig(bw, SIZES, ((c, np.flatnonzero(v), v[v > 0].astype(np.float64)) for c, v in counts.items()))
    peaks = tmp / "sim.narrowPeak"
    peaks.write_text("".join(rows))
    return Sim(fa, bw, peaks, codes, bias, W)


@pytest.fixture(scope="session")
def chrombpnet_sim(tmp_path_factory) -> Sim:
    return simulate(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="session")
def chrombpnet_run(chrombpnet_sim, tmp_path_factory):
    """``(run directory, ChromBPNetResult)`` of the tiny run, trained once per session (one thread)."""
    sim = chrombpnet_sim
    out = tmp_path_factory.mktemp("runs") / "chrombpnet"
    result = train_chrombpnet(sim.fasta, sim.bigwig, sim.peaks, out, max_epochs=15, patience=15, **TINY)
    chrombpnet_report(out / "report.html", result)
    return out, result


TFBIND_SMALL = {"filters": [16, 16, 16], "hidden": 16}


@pytest.fixture(scope="session")
def tiny_tfbind_run(tmp_path_factory):
    """A tfbind run on the demo slice's real K562 CTCF peaks, made once per session: ``standard``
    and ``genomic`` negatives (1 per bound instance), kept and blocked cores, seed ensembles of two,
    small DeepSEA-style networks (16 filters, 400 bp windows, 2 epochs, one thread), no context
    baseline. Read by the
    tfbind pattern and variant tests. Returns ``(run directory, TFBindResult)``."""
    import torch

    from cisgram.bundled import demo
    from cisgram.training import TrainConfig
    from cisgram.workflows.tfbind import run_tfbind

    d = demo()
    out = tmp_path_factory.mktemp("runs") / "tfbind"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_tfbind(d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"], out, negatives=("standard", "genomic"),
                            window=400, ratio=1, database=None, core=("kept", "blocked"), arch_params=TFBIND_SMALL, seeds=2,
                            config=TrainConfig(task="classification", max_epochs=2, patience=2, lr=3e-3))
    finally:
        torch.set_num_threads(threads)
    return out, result
