"""Base-resolution training data (cisgram.data.profiles).

Real data: the yeast genome with an insertion bigWig made from the first 200,000 records of the
real fragment file (chrI to part of chrXII), the HMMRATAC peaks on the chromosomes those records
cover; windows are checked against pyBigWig and the genome read independently. Synthetic: a small
FASTA and bigWigs written here, for the augmentation (shift, reverse complement, seeding) and the
errors.
"""

from __future__ import annotations

import gzip
import re
from itertools import islice

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from cisgram.data.profiles import (
    ProfileDataset,
    bias_background,
    drop_outliers,
    profile_windows,
    total_count_stats,
)
from cisgram.errors import InputError
from cisgram.genome import Genome, one_hot
from cisgram.insertions import insertion_track
from cisgram.intervals import read_regions
from cisgram.splits import Split
from cisgram.tracks import write_bigwig

COVERED = ["chrI", "chrII", "chrIII", "chrIV", "chrIX", "chrV", "chrVI", "chrVII", "chrVIII", "chrX", "chrXI"]
IN, OUT, JIT = 2114, 1000, 500  # chrombpnet's geometry
_RC = str.maketrans("ACGTN", "TGCAN")


def _values(bw, chrom, start, end) -> np.ndarray:
    return np.nan_to_num(np.asarray(bw.values(chrom, start, end), dtype=np.float64))


# --------------------------------------------------------------------------------------------
# real yeast data
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def yeast_profiles(yeast, tmp_path_factory):
    """(genome path, bigWig, peaks table, ProfileData) with one GC-matched background window per
    peak and chrII / chrIII held out (test / val)."""
    tmp = tmp_path_factory.mktemp("profiles")
    head = tmp / "head.tsv.gz"
    with gzip.open(yeast / "atac" / "SRR1822137.fragments.tsv.gz", "rt") as src, gzip.open(head, "wt") as dst:
        dst.writelines(islice(src, 200_000))
    gpath = yeast / "genome" / "sacCer3.2bit"
    with Genome(gpath) as g:
        sizes = dict(g.sizes)
    track = insertion_track(head, sizes)
    bw = tmp / "insertions.bw"
    write_bigwig(bw, sizes, ((c, track.positions[c], track.counts[c]) for c in track.positions))
    peaks = read_regions(yeast / "atac" / "hmmratac_accessible_regions.narrowPeak", chroms=COVERED)
    data = profile_windows(gpath, bw, peaks, background=1.0, split="chroms:chrII/chrIII", seed=0)
    return gpath, bw, peaks, data


def test_yeast_windows_equal_genome_and_bigwig(yeast_profiles):
    gpath, bw_path, peaks, data = yeast_profiles
    reg = data.regions
    assert data.codes.shape == (len(reg), IN + 2 * JIT) and data.codes.dtype == np.uint8
    assert data.counts.shape == (len(reg), 1, OUT + 2 * JIT) and data.counts.dtype == np.float32
    assert data.bytes_per_window == 11_114
    is_peak = (reg["kind"] == "peak").to_numpy()
    assert is_peak.sum() > 800 and (~is_peak).sum() > 400
    # each peak window is centred on its summit: start + summit of the same narrowPeak record
    summit = (peaks["start"] + peaks["summit"]).set_axis(peaks["name"])
    assert peaks["name"].is_unique
    np.testing.assert_array_equal(reg["centre"][is_peak], summit.loc[reg["name"][is_peak]].to_numpy())
    np.testing.assert_array_equal(reg["start"], reg["centre"] - IN // 2 - JIT)
    np.testing.assert_array_equal(reg["end"] - reg["start"], IN + 2 * JIT)
    # sequence and counts, read independently (genome text, pyBigWig), on every window
    bw = pyBigWig.open(str(bw_path))
    with Genome(gpath) as g:
        for r, row in enumerate(reg.itertuples()):
            seq = g.fetch(row.chrom, row.start, row.end)
            assert "".join("ACGTN"[c] for c in data.codes[r]) == re.sub("[^ACGT]", "N", seq)
            lo = row.start + (IN - OUT) // 2
            np.testing.assert_array_equal(data.counts[r, 0], _values(bw, row.chrom, lo, lo + OUT + 2 * JIT))
    # the centred output window is the middle of the input window around the summit
    totals = data.total_counts()
    for r in np.flatnonzero(is_peak)[:50]:
        c = int(reg["centre"].iat[r])
        want = _values(bw, reg["chrom"].iat[r], c - OUT // 2, c + OUT // 2).sum()
        assert totals[r] == want
    bw.close()
    assert totals[is_peak].sum() > 0


def test_yeast_background_overlaps_no_peak(yeast_profiles):
    _, _, peaks, data = yeast_profiles
    bg = data.regions[data.regions["kind"] == "background"]
    for chrom, grp in bg.groupby("chrom"):
        p = peaks[peaks["chrom"] == chrom]
        hit = (grp["start"].to_numpy()[:, None] < p["end"].to_numpy()) & (grp["end"].to_numpy()[:, None] > p["start"].to_numpy())
        assert not hit.any(), f"a background window overlaps a peak on {chrom}"
    assert set(bg["name"].str[:3]) == {"bg:"}


def test_yeast_split_holds_out_whole_chromosomes(yeast_profiles, tmp_path):
    gpath, bw, peaks, data = yeast_profiles
    reg = data.regions
    want = np.where(reg["chrom"] == "chrII", "test", np.where(reg["chrom"] == "chrIII", "val", "train"))
    np.testing.assert_array_equal(reg["split"], want)
    for kind in ("peak", "background"):
        assert set(reg.loc[reg["kind"] == kind, "split"]) == {"train", "val", "test"}
    # a dataset's split (split.json, or its dict) holds out the same chromosomes
    data.split.save(tmp_path / "split.json")
    for given in (tmp_path / "split.json", data.split.to_dict()):
        again = profile_windows(gpath, bw, peaks.iloc[::10], split=given)
        held = again.regions.groupby("chrom")["split"].agg(set)
        assert held["chrII"] == {"test"} and held["chrIII"] == {"val"}
        assert set().union(*held.drop(["chrII", "chrIII"])) == {"train"}


def test_yeast_count_totals_and_bias_background(yeast_profiles):
    _, _, _, data = yeast_profiles
    tot, reg = data.total_counts(), data.regions
    stats = total_count_stats(data, "train")
    train_peaks = tot[(reg["kind"] == "peak").to_numpy() & (reg["split"] == "train").to_numpy()]
    np.testing.assert_array_equal(stats.peak_totals, train_peaks)
    assert stats.peak.median == np.median(train_peaks) and stats.peak.n == train_peaks.size
    assert stats.peak.median > stats.background.median
    # chrombpnet's bias background: below 0.5 x the 1 % quantile of train + val peak totals
    ref = reg["split"].isin(["train", "val"]).to_numpy()
    is_bg = (reg["kind"] == "background").to_numpy()
    threshold = 0.5 * np.quantile(tot[ref & ~is_bg], 0.01)
    bias = bias_background(data, outlier_threshold=None)
    assert bias.params["bias_background"]["threshold"] == pytest.approx(threshold)
    assert set(bias.regions["kind"]) == {"background"}
    btot = bias.total_counts()
    assert (btot[bias.regions["split"].isin(["train", "val"]).to_numpy()] < threshold).all()
    n_test_bg = int((is_bg & (reg["split"] == "test").to_numpy()).sum())
    assert (bias.regions["split"] == "test").sum() == n_test_bg  # the test background is left alone
    assert len(bias) == int((ref & is_bg & (tot < threshold)).sum()) + n_test_bg
    # chrombpnet's outlier step keeps only totals strictly inside the quantiles
    strict = bias_background(data)
    p = strict.params["bias_background"]
    inside = strict.total_counts()[strict.regions["split"].isin(["train", "val"]).to_numpy()]
    assert ((inside > p["lower"]) & (inside < p["upper"])).all() and len(strict) < len(bias)
    kept = drop_outliers(data)
    assert len(kept) < len(data) and (kept.regions["split"] == "test").sum() == (reg["split"] == "test").sum()


# --------------------------------------------------------------------------------------------
# synthetic genome and tracks: augmentation, seeding, errors
# --------------------------------------------------------------------------------------------
SIZES = {"chrA": 20_000, "chrB": 8_000, "chrC": 6_000}
S_IN, S_OUT, S_JIT = 200, 100, 30


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A random genome, a + track, a - track stored as negative values, and peaks on every chromosome."""
    tmp = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(0)
    fa = tmp / "toy.fa"
    fa.write_text("".join(f">{c}\n{''.join(rng.choice(list('ACGTN'), n, p=[.2495] * 4 + [.002]))}\n"
                          for c, n in SIZES.items()))
    tracks = []
    for name, sign in (("plus", 1.0), ("minus", -1.0)):
        path = tmp / f"{name}.bw"
        entries = []
        for c, n in SIZES.items():
            pos = np.sort(rng.choice(n, n // 3, replace=False))
            entries.append((c, pos, sign * rng.integers(1, 6, pos.size).astype(np.float64)))
        write_bigwig(path, SIZES, entries)
        tracks.append(path)
    rows = [(c, s, s + 50, f"p{c}{s}", 0, ".", 1.0, -1.0, -1.0, 25) for c, n in SIZES.items() for s in range(300, n - 350, 800)]
    peaks = tmp / "toy.narrowPeak"
    peaks.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return tmp, fa, tracks, peaks


def _toy_data(toy, **kw):
    _, fa, tracks, peaks = toy
    kw = {"input_len": S_IN, "output_len": S_OUT, "max_jitter": S_JIT, "split": "chroms:chrC/chrB",
          "exclude_chroms": (), **kw}
    return profile_windows(fa, kw.pop("bigwig", tracks[0]), peaks, **kw)


def _decode(x) -> str:
    x = np.asarray(x)
    return "".join("ACGT"[k] if x[k, i] else "N" for i, k in enumerate(x.argmax(0)))


def test_jittered_item_is_the_centred_window_shifted(toy):
    data = _toy_data(toy, background=1.0)
    train = ProfileDataset(data, "train", rc=False, seed=5)
    centred = ProfileDataset(data, "train", augment=False)
    assert len(train) == len(centred) and train.rows.tolist() == centred.rows.tolist()
    shifts, genome, bw = [], Genome(toy[1]), pyBigWig.open(str(toy[2][0]))
    for i in range(len(train)):
        w, (x, y), (x0, y0) = train.window(i), train[i], centred[i]
        assert x.shape == (4, S_IN) and y.shape == (1, S_OUT) and x.dtype == y.dtype == x0.dtype
        assert centred.window(i).shift == 0 and not centred.window(i).reverse
        s = w.shift
        if data.regions["kind"].iat[w.row] == "background":
            assert s == 0  # chrombpnet jitters peaks only
        shifts.append(s)
        assert abs(s) <= S_JIT and not w.reverse
        a, b = max(s, 0), max(-s, 0)  # overlap of the shifted and the centred windows
        np.testing.assert_array_equal(x[:, b: S_IN - a].numpy(), x0[:, a: S_IN - b].numpy())
        np.testing.assert_array_equal(y[:, b: S_OUT - a].numpy(), y0[:, a: S_OUT - b].numpy())
        # and both are the genome / bigWig at the coordinates the item reports
        assert _decode(x) == genome.fetch(w.chrom, w.start, w.end)
        np.testing.assert_array_equal(y[0].numpy(), _values(bw, w.chrom, w.out_start, w.out_end))
    bw.close()
    assert len(set(shifts)) > 10
    jb = ProfileDataset(data, "train", rc=False, jitter_background=True, seed=5)
    assert any(jb.window(i).shift for i in range(len(jb)) if data.regions["kind"].iat[jb.rows[i]] == "background")


@pytest.mark.parametrize("stranded", [False, True])
def test_reverse_complement_flips_sequence_and_counts(toy, stranded):
    _, _, tracks, _ = toy
    data = _toy_data(toy, bigwig=tracks if stranded else tracks[0], absolute=stranded)
    assert data.stranded is stranded and data.n_tracks == (2 if stranded else 1)
    assert (data.counts >= 0).all()
    ds = ProfileDataset(data, "train", seed=1)
    flipped = 0
    for i in range(len(ds)):
        w = ds.window(i)
        x, y = ds[i]
        fwd = data.codes[w.row, S_JIT + w.shift: S_JIT + w.shift + S_IN]
        yf = data.counts[w.row, :, S_JIT + w.shift: S_JIT + w.shift + S_OUT]
        text = "".join("ACGTN"[c] for c in fwd)
        if w.reverse:
            flipped += 1
            np.testing.assert_array_equal(x.numpy(), one_hot(text.translate(_RC)[::-1]))
            np.testing.assert_array_equal(y.numpy(), yf[::-1, ::-1] if stranded else yf[:, ::-1])
        else:
            np.testing.assert_array_equal(x.numpy(), one_hot(text))
            np.testing.assert_array_equal(y.numpy(), yf)
    assert 0.25 < flipped / len(ds) < 0.75


def test_same_seed_epoch_and_index_give_the_same_item(toy):
    data = _toy_data(toy, background=2.0)
    a = ProfileDataset(data, "train", seed=7, background_ratio=0.5)
    b = ProfileDataset(data, "train", seed=7, background_ratio=0.5)
    n_peaks = a.peak_rows.size
    assert len(a) == n_peaks + int(0.5 * n_peaks) < n_peaks + a.background_rows.size
    items = [a[i] for i in range(len(a))]
    for i in reversed(range(len(b))):  # any order of fetching
        assert all((u == v).all() for u, v in zip(b[i], items[i], strict=True))
    rows0, windows0 = a.rows.copy(), [a.window(i) for i in range(len(a))]
    a.set_epoch(1)
    assert len(a) == len(rows0) and (a.rows != rows0).any()  # background drawn afresh
    assert [a.window(i) for i in range(n_peaks)] != windows0[:n_peaks]
    a.set_epoch(0)
    assert (a.rows == rows0).all() and [a.window(i) for i in range(len(a))] == windows0
    assert a[-1][0].shape == (4, S_IN)
    with pytest.raises(IndexError):
        a[len(a)]
    # evaluation: centred and forward whatever the epoch; its background sample is fixed
    val = ProfileDataset(data, "val", background_ratio=0.5)
    before = [val.window(i) for i in range(len(val))]
    val.set_epoch(3)
    assert [val.window(i) for i in range(len(val))] == before
    assert all(w.shift == 0 and not w.reverse for w in before)


def test_explicit_background_and_split_object(toy, tmp_path):
    bg = tmp_path / "bg.bed"
    bg.write_text("chrA\t1000\t1040\nchrB\t7900\t7960\n")
    split = Split("chroms", test_chroms=("chrC",), val_chroms=("chrB",))
    data = _toy_data(toy, background=bg, split=split)
    b = data.regions[data.regions["kind"] == "background"]
    assert b["centre"].tolist() == [1020] and b["split"].tolist() == ["train"]  # chrB:7930 runs past the end
    assert b["name"].tolist() == ["chrA:1000-1040"] and data.split == split
    # bigWig spans read one window at a time give the same counts as one span per chromosome
    np.testing.assert_array_equal(_toy_data(toy, background=bg, split=split, chunk_bp=1).counts, data.counts)
    assert data.params["background"] == str(bg) and _toy_data(toy).params["background"] is None


# -- errors ----------------------------------------------------------------------------------------
def test_errors_name_the_file(toy, tmp_path):
    _, fa, tracks, peaks = toy
    small = tmp_path / "chrA_only.bw"
    write_bigwig(small, {"chrA": SIZES["chrA"]}, [("chrA", np.array([5]), np.array([1.0]))])
    with pytest.raises(InputError, match="not in the bigWig") as e:
        _toy_data(toy, bigwig=small)
    assert str(small) in str(e.value) and "chrB" in str(e.value)
    renamed = tmp_path / "renamed.narrowPeak"
    renamed.write_text(peaks.read_text().replace("chrB", "B"))
    with pytest.raises(InputError, match="not in the genome") as e:
        profile_windows(fa, tracks[0], renamed, input_len=S_IN, output_len=S_OUT, max_jitter=S_JIT)
    assert str(renamed) in str(e.value) and "'chr' prefix" in str(e.value)
    with pytest.raises(InputError, match="output_len"):
        _toy_data(toy, output_len=S_IN + 1)
    with pytest.raises(InputError, match="no peak window left") as e:
        _toy_data(toy, input_len=25_000)
    assert str(peaks) in str(e.value)
    with pytest.raises(InputError, match="negative values") as e:
        _toy_data(toy, bigwig=tracks[1])
    assert str(tracks[1]) in str(e.value) and "absolute=True" in str(e.value)
    longer = tmp_path / "longer.bw"
    write_bigwig(longer, {**SIZES, "chrA": SIZES["chrA"] + 1}, [("chrA", np.array([5]), np.array([1.0]))])
    with pytest.raises(InputError, match="20,001 bp in this bigWig") as e:
        _toy_data(toy, bigwig=longer)
    assert str(longer) in str(e.value)
    data = _toy_data(toy)
    with pytest.raises(InputError, match="must be in"):
        ProfileDataset(data, "train", jitter=S_JIT + 1)
    with pytest.raises(InputError, match="only when augmenting"):
        ProfileDataset(data, "val", rc=True)
    with pytest.raises(InputError, match="unknown"):
        ProfileDataset(data, "training")
    assert pd.Series(data.regions["split"]).isin(["train", "val", "test"]).all()
