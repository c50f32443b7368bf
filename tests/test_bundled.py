"""The bundled demo slice: present, small, documented, and identical to the shared data inside the slice."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest

from cisgram.bundled import demo


def test_every_demo_path_exists_and_is_small():
    d = demo()
    paths = [d.genome, d.chrom_sizes, d.genes_tss, d.transcripts_tss, d.motifs, d.sources]
    for group in (d.accessibility, d.peaks, d.initiation_plus, d.initiation_minus, d.ctcf_chip):
        paths += list(group.values())
    for p in paths:
        assert p.is_file(), p
    total = sum(p.stat().st_size for p in d.root.rglob("*") if p.is_file())
    assert total < 10e6
    text = d.sources.read_text()
    for word in ("GPL-3.0", "CC BY 4.0", "GENCODE", "ENCODE", "chr22:19,000,000-29,000,000"):
        assert word in text


@pytest.mark.parametrize("track", ["accessibility/K562.bw", "accessibility/MCF7.bw", "transcription_initiation/GM12878.mn.bw"])
def test_demo_tracks_equal_shared_tracks_inside_slice(chr22, track):
    d = demo()
    chrom, s, e = d.region
    ours = pyBigWig.open(str(d.root / track))
    ref = pyBigWig.open(str(chr22 / track))
    assert ours.chroms() == {chrom: ref.chroms(chrom)}
    a = np.nan_to_num(ours.values(chrom, s, e, numpy=True))
    b = np.nan_to_num(ref.values(chrom, s, e, numpy=True))
    np.testing.assert_array_equal(a, b)
    assert np.abs(b).sum() > 0
