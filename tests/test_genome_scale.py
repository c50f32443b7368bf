"""The genome-sized synthetic workload of benchmarks/genome_scale.py: deterministic per seed, and
its files agree with its assembly (peaks inside the chromosomes, the VCF's REF is the genome's)."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cisgram.genome import Genome

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "hg38_chr22"
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (SHARED / "peaks").is_dir(), reason="needs ../shared/data (real chr22)")]


@pytest.fixture(scope="module")
def genome_scale():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import genome_scale
    finally:
        sys.path.pop(0)
    return genome_scale


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_assembly_is_deterministic_per_seed(genome_scale, tmp_path):
    scale = 1 / 4000
    a = genome_scale.build(tmp_path / "a", scale, seed=1)
    b = genome_scale.build(tmp_path / "b", scale, seed=1)
    c = genome_scale.build(tmp_path / "c", scale, seed=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["genome.fa"] != _digest(tmp_path / "c")["genome.fa"]
    assert list(a["sizes"]) == list(genome_scale.HG38)  # hg38's 24 chromosomes, in order
    assert a["sizes"]["chr1"] == round(248956422 * scale) and a["n_snvs"] > 0 and c["n_snvs"] > 0
    assert b["n_peaks_K562"] == a["n_peaks_K562"] > 0 and a["n_tss"] > 0


def test_the_files_agree_with_the_assembly(genome_scale, tmp_path):
    f = genome_scale.build(tmp_path, 1 / 2000, seed=0)
    g = Genome(f["genome"])
    assert g.sizes == f["sizes"]
    for key in ("peaks_K562", "peaks_MCF7", "tss", "ctcf"):
        df = pd.read_csv(f[key], sep="\t", header=None)
        ends = df[0].map(f["sizes"]).to_numpy()
        assert (df[1].to_numpy() >= 0).all() and (df[2].to_numpy() <= ends).all() and (df[2] > df[1]).all()
    names = pd.read_csv(f["tss"], sep="\t", header=None)[3]
    assert names.is_unique  # a gene copied into two blocks gets two names
    vcf = pd.read_csv(f["vcf"], sep="\t", comment="#", header=None)
    refs = np.array([g.fetch(c, p - 1, p) for c, p in zip(vcf[0], vcf[1], strict=True)])
    assert (refs == vcf[3].to_numpy()).all() and (vcf[3] != vcf[4]).all()
    # the sequence is chr22's, mutated at about 0.1 %: a placed block matches its source closely
    src = Genome(SHARED / "genome" / "chr22.fa.gz")
    seq = g.fetch_codes("chr1", 0, f["sizes"]["chr1"])
    best = max(np.mean(seq == src.fetch_codes("chr22", b * 1_000_000, b * 1_000_000 + len(seq)))
               for b in range(50))
    assert best > 0.99
