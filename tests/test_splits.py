"""Hold-outs: whole chromosomes and contiguous blocks; stored as data; no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cisgram.errors import InputError
from cisgram.genome import Genome
from cisgram.intervals import read_regions, resize, sort_regions
from cisgram.splits import Split, block_split, chrom_split, make_split


def _tiles(chrom="c", n=5000, step=1000, width=1500):
    starts = np.arange(n) * step
    return pd.DataFrame({"chrom": chrom, "start": starts, "end": starts + width})


def test_block_split_never_separates_overlapping_or_adjacent_regions():
    rng = np.random.default_rng(0)
    starts = np.sort(rng.integers(0, 20_000_000, 20_000))
    regions = pd.DataFrame({"chrom": "c", "start": starts, "end": starts + rng.integers(100, 2000, starts.size)})
    split = block_split(regions, {"c": 20_000_000}, seed=3)
    lab = split.assign(regions)
    s = sort_regions(regions.assign(lab=lab))
    st, en, lb = s["start"].to_numpy(), s["end"].to_numpy(), s["lab"].to_numpy()
    run_end = np.maximum.accumulate(en)
    touching = st[1:] <= run_end[:-1]  # overlaps or touches something before it
    assert touching.sum() > 1000  # the test has teeth: many regions touch
    assert (lb[1:][touching] == lb[:-1][touching]).all()
    assert set(lab) == {"train", "val", "test"}
    assert (split.blocks["end"] - split.blocks["start"] >= 1_000_000).all()


def test_block_split_fractions_and_seed():
    regions = _tiles(n=20_000, step=1000, width=500)
    a = block_split(regions, {"c": 20_000_000}, seed=1).assign(regions)
    b = block_split(regions, {"c": 20_000_000}, seed=1).assign(regions)
    c = block_split(regions, {"c": 20_000_000}, seed=2).assign(regions)
    assert (a == b).all() and not (a == c).all()
    frac = pd.Series(a).value_counts(normalize=True)
    assert 0.08 <= frac["test"] <= 0.2 and 0.08 <= frac["val"] <= 0.2


def test_split_roundtrip_and_new_regions(tmp_path):
    regions = _tiles()
    s = block_split(regions, {"c": 5_000_000}, block_size=1_000_000, seed=0)
    s.save(tmp_path / "split.json")
    t = Split.load(tmp_path / "split.json")
    assert (t.assign(regions) == s.assign(regions)).all()
    # new regions fall into the stored blocks
    new = pd.DataFrame({"chrom": ["c"] * 3, "start": [10, 2_500_000, 4_999_000], "end": [20, 2_500_100, 4_999_500]})
    lab = t.assign(new)
    for i, pos in enumerate(new["start"]):
        blk = t.blocks[(t.blocks["start"] <= pos) & (pos < t.blocks["end"])]
        assert lab[i] == blk["split"].iat[0]


def test_chrom_split_yeast(yeast):
    g = Genome(yeast / "genome" / "sacCer3.2bit")
    peaks = read_regions(yeast / "atac" / "hmmratac_accessible_regions.narrowPeak", genome=g)
    s = make_split(peaks, g.sizes, "auto", seed=0)
    assert s.kind == "chroms" and s.test_chroms and s.val_chroms
    lab = s.assign(peaks)
    for _chrom, grp in pd.Series(lab).groupby(peaks["chrom"].to_numpy()):
        assert grp.nunique() == 1  # whole chromosomes
    named = make_split(peaks, g.sizes, "chroms:chrIV,chrXV/chrII")
    assert named.test_chroms == ("chrIV", "chrXV") and named.val_chroms == ("chrII",)
    assert set(peaks["chrom"][named.assign(peaks) == "test"]) == {"chrIV", "chrXV"}


def test_chr22_auto_is_blocks(chr22):
    g = Genome(chr22 / "genome" / "chr22.fa.gz")
    peaks = resize(read_regions(chr22 / "peaks" / "K562.narrowPeak"), 500, sizes=g.sizes)
    s = make_split(peaks, g.sizes, "auto")
    assert s.kind == "blocks"
    lab = s.assign(peaks)
    assert {"train", "val", "test"} <= set(lab)


def test_bad_split_specs():
    regions = _tiles()
    with pytest.raises(InputError, match="cannot hold out whole chromosomes"):
        chrom_split(regions)
    with pytest.raises(InputError, match="hold no regions"):
        make_split(regions, {"c": 5_000_000}, "chroms:chrZ")
    with pytest.raises(InputError, match="at least 1,000,000"):
        make_split(regions, {"c": 5_000_000}, "blocks:100kb")
    with pytest.raises(InputError, match="unknown split"):
        make_split(regions, {"c": 5_000_000}, "random")
    with pytest.raises(InputError, match="does not cover"):
        block_split(regions, {"c": 5_000_000}).assign(pd.DataFrame({"chrom": ["z"], "start": [0], "end": [5]}))


def test_tiled_regions_are_cut_with_gaps_not_leaks():
    # book-ended tiles chain into one cluster; a nested long region straddles boundaries too
    tiles = _tiles(n=10_000, step=1000, width=1000)
    longs = pd.DataFrame({"chrom": "c", "start": [2_995_000, 6_990_000], "end": [3_007_000, 7_004_000]})
    regions = pd.concat([tiles, longs], ignore_index=True)
    split = block_split(regions, {"c": 10_000_000}, seed=5)
    lab = split.assign(regions)
    assert {"train", "val", "test"} <= set(lab) and (lab == "gap").sum() < 50
    kept = lab != "gap"
    st, en = regions["start"].to_numpy(), regions["end"].to_numpy()
    for i in np.flatnonzero(kept):  # brute force: nothing kept touches a kept region of another split
        other = kept & ((st <= en[i]) & (en >= st[i])) & (lab != lab[i])
        assert not other.any(), (i, lab[i], np.flatnonzero(other))
