"""GC-matched background windows and on-the-fly one-hot windows, on the real demo slice and chr22."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp
from torch.utils.data import DataLoader

from cisgram.bundled import demo
from cisgram.data.windows import SequenceWindows, background_windows, gc_content
from cisgram.errors import InputError
from cisgram.genome import Genome, encode
from cisgram.intervals import read_regions, resize
from cisgram.splits import Split, make_split

CELLS = ("K562", "GM12878", "MCF7")
WIDTH = 500


# -- helpers: independent checks ------------------------------------------------------------------
def _regions_and_split(genome: Genome, peak_files: dict, spec: str):
    regions = resize(read_regions(peak_files["K562"]), WIDTH, sizes=genome.sizes)
    split = make_split(regions, genome.sizes, spec, seed=0)
    regions["split"] = split.assign(regions)
    exclude = pd.concat([read_regions(peak_files[c])[["chrom", "start", "end"]] for c in CELLS], ignore_index=True)
    return regions, split, exclude


def _text_gc(seq: str) -> tuple[float, float]:
    """GC among non-N bases and N fraction, counted on the sequence string."""
    n = seq.count("N")
    gc = seq.count("G") + seq.count("C")
    return (gc / (len(seq) - n) if n < len(seq) else np.nan), n / len(seq)


def _check_background(genome, regions, exclude, split, bg, *, max_n):
    assert list(bg.columns) == ["chrom", "start", "end", "name", "split", "gc"]
    assert len(bg) > 0
    assert ((bg["end"] - bg["start"]) == WIDTH).all()
    assert set(bg["chrom"]) <= set(regions["chrom"])
    sizes = bg["chrom"].map(genome.sizes)
    assert (bg["start"] >= 0).all() and (bg["end"] <= sizes).all()
    assert (bg["name"] == "bg:" + bg["chrom"] + ":" + bg["start"].astype(str) + "-" + bg["end"].astype(str)).all()
    # overlaps: every window against every forbidden interval on its chromosome (brute force)
    forbidden = pd.concat([regions[["chrom", "start", "end"]], exclude[["chrom", "start", "end"]]])
    for chrom, grp in bg.groupby("chrom"):
        f = forbidden[forbidden["chrom"] == chrom]
        fs, fe = f["start"].to_numpy(), f["end"].to_numpy()
        s, e = grp["start"].to_numpy(), grp["end"].to_numpy()
        for lo in range(0, s.size, 2000):
            hit = (s[lo : lo + 2000, None] < fe) & (e[lo : lo + 2000, None] > fs)
            assert not hit.any(), "a background window overlaps a region or exclude interval"
        order = np.argsort(s)
        assert np.all(s[order][1:] >= e[order][:-1]), "background windows overlap each other"
    assert (split.assign(bg) == bg["split"].to_numpy()).all()
    assert set(bg["split"]) <= {"train", "val", "test"}
    codes = genome.fetch_codes_batch(bg["chrom"], bg["start"], bg["end"])
    assert (codes == 4).mean(axis=1).max() <= max_n
    for row in bg.sample(min(len(bg), 60), random_state=0).itertuples():
        gc, _ = _text_gc(genome.fetch(row.chrom, row.start, row.end))
        assert row.gc == pytest.approx(gc)


def _region_gc(genome, regions):
    return np.array([_text_gc(genome.fetch(c, s, e))[0] for c, s, e in regions[["chrom", "start", "end"]].itertuples(index=False)])


def _bin_counts(gc, split, bins):
    b = np.clip(np.floor(np.asarray(gc) * bins).astype(int), 0, bins - 1)
    return pd.Series(1, index=pd.MultiIndex.from_arrays([np.asarray(split), b])).groupby(level=[0, 1]).sum()


# -- gc_content ----------------------------------------------------------------------------------
def test_gc_content_counts_only_known_bases():
    codes = np.stack([encode("ACGT"), encode("NNNN"), encode("GGNA"), encode("CCCC")])
    got = gc_content(codes)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, [0.5, np.nan, 2 / 3, 1.0])


# -- background windows on the bundled demo slice ------------------------------------------------
@pytest.fixture(scope="module")
def demo_genome():
    return Genome(demo().genome)


@pytest.fixture(scope="module")
def demo_set(demo_genome):
    return _regions_and_split(demo_genome, demo().peaks, "blocks:1Mb")


def test_demo_background_is_matched_and_avoids_peaks(demo_genome, demo_set):
    regions, split, exclude = demo_set
    bg = background_windows(demo_genome, regions, split, exclude=exclude, seed=3)
    _check_background(demo_genome, regions, exclude, split, bg, max_n=0.01)
    # outside the slice the demo genome is all N: every window must come from the slice
    _, lo, hi = demo().region
    assert (bg["start"] >= lo).all() and (bg["end"] <= hi).all()
    # exactly one background window per region in every split and GC bin
    want = _bin_counts(_region_gc(demo_genome, regions), regions["split"], 20)
    got = _bin_counts(bg["gc"], bg["split"], 20)
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def test_demo_background_ratio_shortfall_is_warned_once(demo_genome, demo_set, caplog):
    regions, split, exclude = demo_set
    with caplog.at_level(logging.WARNING, logger="cisgram.data.windows"):
        bg = background_windows(demo_genome, regions, split, exclude=exclude, ratio=40, seed=0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "short" in warnings[0].getMessage()
    want = _bin_counts(_region_gc(demo_genome, regions), regions["split"], 20) * 40
    got = _bin_counts(bg["gc"], bg["split"], 20).reindex(want.index, fill_value=0)
    assert (got <= want).all() and got.sum() < want.sum()
    assert len(bg) > 10 * len(regions)  # the slice still holds many
    _check_background(demo_genome, regions, exclude, split, bg, max_n=0.01)


def test_background_respects_max_n(tmp_path):
    rng = np.random.default_rng(0)
    clean = rng.choice(list("ACGT"), 100_000)
    dotted = rng.choice(list("ACGTN"), 100_000, p=[0.24, 0.24, 0.24, 0.24, 0.04])  # ~4% N
    fa = tmp_path / "dotted.fa"
    fa.write_text(">chrA\n" + "".join(clean) + "".join(dotted) + "\n")
    g = Genome(fa)
    starts = np.arange(20) * 4_000 + 1_000
    regions = pd.DataFrame({"chrom": "chrA", "start": starts, "end": starts + WIDTH, "split": "train"})
    split = Split("chroms")  # one chromosome, all of it train
    strict = background_windows(g, regions, split, ratio=3, max_n=0.01, bins=5)
    assert len(strict) == 60 and (strict["end"] <= 100_000).all()
    loose = background_windows(g, regions, split, ratio=3, max_n=0.1, bins=5, seed=1)
    assert (loose["start"] >= 100_000).any()
    _check_background(g, regions, regions.iloc[:0], split, loose, max_n=0.1)


def test_background_bad_input(demo_genome, demo_set):
    regions, split, _ = demo_set
    uneven = regions.copy()
    uneven.loc[0, "end"] += 1
    with pytest.raises(InputError, match="one positive width"):
        background_windows(demo_genome, uneven, split)
    with pytest.raises(InputError, match="split"):
        background_windows(demo_genome, regions.drop(columns="split"), split)
    wrong = regions.assign(split="holdout")
    with pytest.raises(InputError, match="unknown split label"):
        background_windows(demo_genome, wrong, split)
    everything = pd.DataFrame({"chrom": ["chr22"], "start": [0], "end": [demo_genome.sizes["chr22"]]})
    with pytest.raises(InputError, match="no background window"):
        background_windows(demo_genome, regions, split, exclude=everything)


# -- background windows on the whole of chr22 -------------------------------------------------------
@pytest.fixture(scope="module")
def chr22_set(chr22):
    genome = Genome(chr22 / "genome" / "chr22.fa.gz")
    files = {c: chr22 / "peaks" / f"{c}.narrowPeak" for c in CELLS}
    regions, split, exclude = _regions_and_split(genome, files, "auto")
    return genome, regions, split, exclude


@pytest.mark.shared
def test_chr22_background_matches_gc_per_split(chr22_set):
    genome, regions, split, exclude = chr22_set
    assert split.kind == "blocks" and {"train", "val", "test"} <= set(regions["split"])
    bg = background_windows(genome, regions, split, exclude=exclude, seed=0)
    _check_background(genome, regions, exclude, split, bg, max_n=0.01)
    rgc = _region_gc(genome, regions)
    for s in ("train", "val", "test"):
        a, b = rgc[regions["split"].to_numpy() == s], bg.loc[bg["split"] == s, "gc"].to_numpy()
        assert len(b) == len(a)
        assert ks_2samp(a, b).statistic < 0.1, s
        assert abs(a.mean() - b.mean()) < 0.01, s
    # same seed: the same table; another seed: other windows with the same GC profile
    pd.testing.assert_frame_equal(background_windows(genome, regions, split, exclude=exclude, seed=0), bg)
    other = background_windows(genome, regions, split, exclude=exclude, seed=1)
    assert len(set(other["name"]) & set(bg["name"])) < 0.1 * len(bg)
    pd.testing.assert_series_equal(
        _bin_counts(other["gc"], other["split"], 20).sort_index(), _bin_counts(bg["gc"], bg["split"], 20).sort_index()
    )


# -- SequenceWindows ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_regions(demo_set):
    regions = demo_set[0]
    return regions.iloc[::8].reset_index(drop=True)  # ~50 peaks


def _rc(x):
    return x[::-1, ::-1]


def test_windows_equal_genome_fetches(demo_genome, demo_regions):
    targets = np.arange(len(demo_regions) * 3, dtype=np.float64).reshape(-1, 3)
    ds = SequenceWindows.from_regions(demo_genome, demo_regions, 1000, targets)
    assert len(ds) == len(demo_regions)
    for i, r in demo_regions.iterrows():
        x, y = ds[i]
        mid = (r["start"] + r["end"]) // 2
        assert x.dtype == torch.float32 and x.shape == (4, 1000)
        np.testing.assert_array_equal(x.numpy(), demo_genome.fetch_onehot(r["chrom"], mid - 500, mid + 500))
        assert y.dtype == torch.float32 and y.shape == (3,)
        np.testing.assert_array_equal(y.numpy(), targets[i])
    assert ds.window(0).start == (demo_regions["start"][0] + demo_regions["end"][0]) // 2 - 500
    x, y = SequenceWindows(demo_genome, ["chr22"], [5], 100)[0]
    assert y.shape == (0,)
    np.testing.assert_array_equal(x.numpy(), np.zeros((4, 100), np.float32))  # all N out there


def test_windows_are_clipped_inside_the_chromosome(tmp_path):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    fa = tmp_path / "tiny.fa"
    fa.write_text(">chrA\n" + seq + "\n>chrB\n" + seq[:300] + "\n")
    g = Genome(fa)
    ds = SequenceWindows(g, ["chrA", "chrA", "chrA"], [10, 2990, 1500], 200, jitter=30, seed=4)
    for epoch in range(3):
        ds.set_epoch(epoch)
        x0, x1 = ds[0][0].numpy(), ds[1][0].numpy()
        np.testing.assert_array_equal(x0, g.fetch_onehot("chrA", 0, 200))
        np.testing.assert_array_equal(x1, g.fetch_onehot("chrA", 2800, 3000))
    with pytest.raises(InputError, match=r"shorter than the window length.*chrB") as e:
        SequenceWindows(g, ["chrA", "chrB"], [1500, 150], 500)
    assert "tiny.fa" in str(e.value)
    with pytest.raises(InputError, match="chrZ") as e:
        SequenceWindows(fa, ["chrA", "chrZ"], [1500, 10], 100)
    assert "tiny.fa" in str(e.value)
    with pytest.raises(InputError, match="outside their chromosome"):
        SequenceWindows(g, ["chrA"], [5000], 100)
    with pytest.raises(InputError, match="do not match"):
        SequenceWindows(g, ["chrA", "chrA"], [100, 200], 100, targets=np.zeros((3, 2)))


def test_jitter_shifts_within_bounds(demo_genome, demo_regions):
    jitter, length = 25, 400
    ds = SequenceWindows.from_regions(demo_genome, demo_regions, length, jitter=jitter, seed=1)
    shifts = set()
    for i, r in demo_regions.iterrows():
        x = ds[i][0].numpy()
        base = (r["start"] + r["end"]) // 2 - length // 2
        ref = demo_genome.fetch_onehot(r["chrom"], base - jitter, base + jitter + length)
        hits = [d for d in range(-jitter, jitter + 1) if np.array_equal(x, ref[:, d + jitter : d + jitter + length])]
        assert hits, f"item {i} matches no shift within +-{jitter}"
        assert ds.window(i).start - base in hits
        shifts.add(hits[0])
    assert len(shifts) > 10  # the shifts really vary


def test_reverse_complement_flips_both_axes(demo_genome, demo_regions):
    ds = SequenceWindows.from_regions(demo_genome, demo_regions, 300, rc=True, seed=2)
    flipped = 0
    for i, r in demo_regions.iterrows():
        x = ds[i][0].numpy()
        mid = (r["start"] + r["end"]) // 2
        fwd = demo_genome.fetch_onehot(r["chrom"], mid - 150, mid + 150)
        if ds.window(i).reverse:
            np.testing.assert_array_equal(x, _rc(fwd))
            flipped += 1
        else:
            np.testing.assert_array_equal(x, fwd)
        assert np.allclose(x.sum(0), fwd.sum(0)[::-1])  # N positions reversed too
    assert 0 < flipped < len(demo_regions)


def _all_items(ds, workers):
    loader = DataLoader(ds, batch_size=7, shuffle=False, num_workers=workers)
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_items_are_the_same_with_any_number_of_workers(demo_genome, demo_regions):
    targets = np.random.default_rng(0).normal(size=(len(demo_regions), 2))
    ds = SequenceWindows.from_regions(demo_genome.path, demo_regions, 256, targets, jitter=40, rc=True, seed=7)
    ds.set_epoch(3)
    x0, y0 = _all_items(ds, 0)
    x2, y2 = _all_items(ds, 2)
    assert x0.shape == (len(demo_regions), 4, 256) and y0.shape == (len(demo_regions), 2)
    assert torch.equal(x0, x2) and torch.equal(y0, y2)
    # order of fetching does not matter, and pickling (what spawned workers get) reopens the genome
    back = pickle.loads(pickle.dumps(ds))
    assert back.genome is not ds.genome and back.epoch == 3
    for i in reversed(range(len(ds))):
        assert torch.equal(back[i][0], x0[i])
    ds.set_epoch(4)
    x4, y4 = _all_items(ds, 0)
    assert torch.equal(y4, y0) and not torch.equal(x4, x0)
    changed = [not torch.equal(a, b) for a, b in zip(x4, x0, strict=True)]
    assert sum(changed) > len(ds) // 2


def test_strand_orients_items_before_augmentation(demo_genome, demo_regions):
    n = len(demo_regions)
    strand = np.where(np.arange(n) % 3 == 0, "-", "+")
    mid = ((demo_regions["start"] + demo_regions["end"]) // 2).to_numpy()
    fwd = [demo_genome.fetch_onehot("chr22", c - 100, c + 100) for c in mid]
    # no augmentation: minus items are the reverse complement, plus items the genome window
    ds = SequenceWindows.from_regions(demo_genome, demo_regions, 200, strand=strand)
    as_int = SequenceWindows.from_regions(demo_genome, demo_regions, 200, strand=np.where(strand == "-", -1, 1))
    for i in range(n):
        want = _rc(fwd[i]) if strand[i] == "-" else fwd[i]
        np.testing.assert_array_equal(ds[i][0].numpy(), want)
        np.testing.assert_array_equal(as_int[i][0].numpy(), want)
        assert ds.window(i).reverse == (strand[i] == "-")
    # with rc=True the flip is drawn as without a strand (same seed), and applied on top of it
    plain = SequenceWindows.from_regions(demo_genome, demo_regions, 200, rc=True, seed=5)
    aug = SequenceWindows.from_regions(demo_genome, demo_regions, 200, rc=True, seed=5, strand=strand)
    back = 0
    for i in range(n):
        flip = plain.window(i).reverse
        assert aug.window(i).reverse == (flip != (strand[i] == "-"))
        want = _rc(fwd[i]) if aug.window(i).reverse else fwd[i]
        np.testing.assert_array_equal(aug[i][0].numpy(), want)
        back += flip and strand[i] == "-"  # minus items flipped back to the genome orientation
    assert back > 0
    with pytest.raises(InputError, match="strand must be"):
        SequenceWindows(demo_genome, ["chr22"], [20_000_000], 100, strand=["."])
    with pytest.raises(InputError, match="strands for"):
        SequenceWindows(demo_genome, ["chr22"], [20_000_000], 100, strand=[1, -1])
