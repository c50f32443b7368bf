"""Tests for cisgram.tracks: bigWig coverage and fragment insertion counts.

Real data (skipped when ../shared/data is absent): chunked bigWig sums against pyBigWig's own
per-region exact stats on K562 chr22; yeast ATAC fragment counts against a brute-force count.
Hand-made files: a bigWig and fragment files with hand-computed answers, and every bad input.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from cisgram.errors import InputError
from cisgram.fragments import FragmentCounts, fragment_counts
from cisgram.tracks import bigwig_chroms, bigwig_coverage, bigwig_coverage_naive
from tests.probes import TRUNCATED, corrupt, truncated

BC_A = "A" * 16
BC_B = "B" * 16


def _regions(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["chrom", "start", "end"]).astype({"start": np.int64, "end": np.int64})


def _read_peaks(path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2])
    df.columns = ["chrom", "start", "end"]
    return df.astype({"chrom": str, "start": np.int64, "end": np.int64})


# --------------------------------------------------------------------------------------------
# bigWig on real data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k562(chr22):
    return chr22 / "accessibility" / "K562.bw"


@pytest.fixture(scope="module")
def k562_regions(chr22) -> pd.DataFrame:
    """K562 peaks, plus shifted and nested copies (overlaps), empty stretches and long regions,
    shuffled so the input is unsorted."""
    peaks = _read_peaks(chr22 / "peaks" / "K562.narrowPeak")
    shifted = peaks.assign(start=peaks.start + 50, end=peaks.end + 300)
    nested = peaks.assign(start=peaks.start + 10, end=peaks.start + 20)
    extra = _regions(
        [
            ("chr22", 0, 10_000),  # leading N run: no data
            ("chr22", 1_000_000, 1_500_000),  # no data
            ("chr22", 50_818_000, 50_818_468),  # chromosome end
            ("chr1", 1_000_000, 1_001_000),  # in the header, holds no data
            ("chr22", 20_000_000, 26_000_000),  # long, overlaps many peaks
            ("chr22", 15_000_000, 45_000_000),  # longer than the default chunk
            ("chr22", 30_000_000, 30_000_001),  # one base
        ]
    )
    df = pd.concat([peaks, shifted, nested, extra], ignore_index=True)
    return df.sample(frac=1.0, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="module")
def k562_naive_sum(k562, k562_regions):
    return bigwig_coverage_naive(k562, k562_regions, "sum")


@pytest.mark.shared
@pytest.mark.parametrize("chunk_bp", [4_000_000, 20_000, 3_000])
@pytest.mark.parametrize("stat", ["sum", "mean"])
def test_bigwig_chunked_matches_naive(k562, k562_regions, k562_naive_sum, stat, chunk_bp):
    got = bigwig_coverage(k562, k562_regions, stat, chunk_bp=chunk_bp, max_gap=5_000)
    want = k562_naive_sum.copy()
    if stat == "mean":
        want /= (k562_regions.end - k562_regions.start).to_numpy()
    assert got.dtype == np.float64 and got.shape == (len(k562_regions),)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    # real signal, and real zeros
    assert (got > 0).sum() > 2000
    empty = k562_regions.chrom.eq("chr1") | (k562_regions.end <= 10_000)
    assert (got[empty.to_numpy()] == 0).all() and empty.sum() == 2


@pytest.mark.shared
def test_bigwig_naive_mean_is_over_full_length(k562):
    # pyBigWig's own mean averages over covered bases only; ours is over the region's length
    regions = _regions([("chr22", 10_664_000, 10_665_000)])
    bw = pyBigWig.open(str(k562))
    covered_mean = bw.stats("chr22", 10_664_000, 10_665_000, type="mean", exact=True)[0]
    bw.close()
    ours = bigwig_coverage(k562, regions, "mean")[0]
    assert ours == pytest.approx(bigwig_coverage_naive(k562, regions, "mean")[0])
    assert ours < covered_mean  # 365 of 1000 bases covered, each with value 1
    assert ours == pytest.approx(0.365)


@pytest.mark.shared
def test_bigwig_chroms_real(k562):
    sizes = bigwig_chroms(k562)
    assert sizes["chr22"] == 50_818_468 and len(sizes) == 39


@pytest.mark.shared
def test_bigwig_chr_prefix_mismatch(k562):
    with pytest.raises(InputError) as err:
        bigwig_coverage(k562, _regions([("22", 0, 100), ("22", 500, 600)]))
    msg = str(err.value)
    assert str(k562) in msg and "not in the bigWig header" in msg
    assert "add 'chr'" in msg and "22 -> chr22" in msg and "chr22" in msg


# --------------------------------------------------------------------------------------------
# bigWig written by hand
# --------------------------------------------------------------------------------------------


@pytest.fixture
def hand_bw(tmp_path):
    path = tmp_path / "hand.bw"
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([("chr1", 1000), ("chr2", 500)])
    bw.addEntries(["chr1", "chr1"], [10, 50], ends=[20, 60], values=[1.0, 2.5])
    bw.addEntries("chr1", 100, values=[3.0, 4.0], span=5, step=10)  # [100,105)=3, [110,115)=4
    bw.addEntries(["chr2"], [0], ends=[500], values=[0.5])
    bw.close()
    return path


def test_bigwig_hand_sums(hand_bw):
    regions = _regions(
        [
            ("chr1", 0, 15),  # 5 x 1
            ("chr1", 15, 55),  # 5 x 1 + 5 x 2.5
            ("chr2", 100, 300),  # 200 x 0.5
            ("chr1", 0, 1000),  # 10 + 25 + 15 + 20
            ("chr1", 60, 100),  # nothing
            ("chr1", 102, 112),  # 3 x 3 + 2 x 4
            ("chr1", 999, 1000),
        ]
    )
    want = np.array([5.0, 17.5, 100.0, 70.0, 0.0, 17.0, 0.0])
    lengths = (regions.end - regions.start).to_numpy()
    for chunk_bp in (4_000_000, 7, 1):
        np.testing.assert_allclose(bigwig_coverage(hand_bw, regions, chunk_bp=chunk_bp), want)
        np.testing.assert_allclose(
            bigwig_coverage(hand_bw, regions, "mean", chunk_bp=chunk_bp, max_gap=0), want / lengths
        )
    np.testing.assert_allclose(bigwig_coverage_naive(hand_bw, regions), want)
    np.testing.assert_allclose(bigwig_coverage_naive(hand_bw, regions, "mean"), want / lengths)
    assert bigwig_chroms(hand_bw) == {"chr1": 1000, "chr2": 500}
    assert bigwig_coverage(hand_bw, regions.iloc[:0]).shape == (0,)


def test_bigwig_bad_inputs(hand_bw, tmp_path):
    text = tmp_path / "peaks.bed"
    text.write_text("chr1\t0\t10\n")
    with pytest.raises(InputError, match="not a readable bigWig") as err:
        bigwig_coverage(text, _regions([("chr1", 0, 10)]))
    assert str(text) in str(err.value)
    with pytest.raises(InputError, match="not found"):
        bigwig_chroms(tmp_path / "absent.bw")

    with pytest.raises(InputError) as err:
        bigwig_coverage(hand_bw, _regions([("chr1", 0, 10), ("chrX", 0, 10), ("chr7", 5, 9)]))
    msg = str(err.value)
    assert str(hand_bw) in msg and "chr7, chrX" in msg and "chr1, chr2" in msg

    with pytest.raises(InputError, match="add 'chr'") as err:
        bigwig_coverage(hand_bw, _regions([("1", 0, 10)]))

    nochr = tmp_path / "nochr.bw"
    bw = pyBigWig.open(str(nochr), "w")
    bw.addHeader([("1", 100)])
    bw.addEntries(["1"], [0], ends=[10], values=[1.0])
    bw.close()
    with pytest.raises(InputError, match="remove 'chr'") as err:
        bigwig_coverage(nochr, _regions([("chr1", 0, 10)]))
    assert "chr1 -> 1" in str(err.value)

    with pytest.raises(InputError, match="past their chromosome's length") as err:
        bigwig_coverage(hand_bw, _regions([("chr2", 0, 10), ("chr2", 400, 501)]))
    assert str(hand_bw) in str(err.value) and "chr2:501" in str(err.value)

    with pytest.raises(InputError, match="0 <= start < end"):
        bigwig_coverage(hand_bw, _regions([("chr1", 10, 10)]))
    with pytest.raises(InputError, match="lacks column"):
        bigwig_coverage(hand_bw, pd.DataFrame({"chrom": ["chr1"], "start": [0]}))
    with pytest.raises(InputError, match="non-integer start"):
        bigwig_coverage(hand_bw, pd.DataFrame({"chrom": ["chr1"], "start": ["x"], "end": [5]}))
    with pytest.raises(InputError, match="stat must be"):
        bigwig_coverage(hand_bw, _regions([("chr1", 0, 10)]), "max")


# --------------------------------------------------------------------------------------------
# fragments on real data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yeast_fragments(yeast):
    return yeast / "atac" / "SRR1822137.fragments.tsv.gz"


@pytest.fixture(scope="module")
def yeast_regions(yeast) -> pd.DataFrame:
    return _read_peaks(yeast / "atac" / "hmmratac_accessible_regions.narrowPeak")


@pytest.fixture(scope="module")
def yeast_ab(yeast_fragments, yeast_regions) -> FragmentCounts:
    groups = {"A": [BC_A], "B": [BC_B]}
    return fragment_counts(yeast_fragments, yeast_regions, groups, chunksize=100_000)


@pytest.mark.shared
def test_fragments_match_brute_force(yeast_fragments, yeast_regions, yeast_ab):
    frags = pd.read_csv(yeast_fragments, sep="\t", header=None, names=["c", "s", "e", "bc", "n"])
    assert len(frags) == 414_968
    sample = yeast_regions.sample(50, random_state=1)
    # overlap on purpose: the same regions widened, so neighbours share insertions
    wide = sample.assign(start=(sample.start - 500).clip(lower=0), end=sample.end + 500)
    regions = pd.concat([sample, wide], ignore_index=True)
    got = fragment_counts(yeast_fragments, regions, {"A": [BC_A], "B": [BC_B]}, chunksize=50_000)
    assert got.groups == ["A", "B"]
    for j, bc in enumerate([BC_A, BC_B]):
        f = frags[frags.bc == bc]
        by_chrom = {c: (d.s.to_numpy(), d.e.to_numpy() - 1) for c, d in f.groupby("c")}
        for i, r in enumerate(regions.itertuples()):
            left, right = by_chrom[r.chrom]
            want = int(((left >= r.start) & (left < r.end)).sum())
            want += int(((right >= r.start) & (right < r.end)).sum())
            assert got.counts[i, j] == want, (r, bc)
        assert got.n_fragments[j] == len(f)
    assert got.counts.sum() > 1000
    # the sample's rows in the full run agree too
    np.testing.assert_array_equal(got.counts[:50], yeast_ab.counts[sample.index.to_numpy()])


@pytest.mark.shared
def test_fragments_groups_add_up(yeast_fragments, yeast_regions, yeast_ab):
    both = fragment_counts(yeast_fragments, yeast_regions, {"AB": [BC_A, BC_B]})
    everything = fragment_counts(yeast_fragments, yeast_regions)
    assert everything.groups == ["all"]
    assert yeast_ab.counts.shape == (len(yeast_regions), 2) and yeast_ab.counts.dtype == np.int64
    np.testing.assert_array_equal(yeast_ab.counts.sum(axis=1), both.counts[:, 0])
    np.testing.assert_array_equal(both.counts, everything.counts)
    assert yeast_ab.n_fragments.sum() == both.n_fragments[0] == everything.n_fragments[0] == 414_968
    assert yeast_ab.n_unmatched_barcodes == 0 and yeast_ab.n_unmatched_fragments == 0
    only_a = fragment_counts(yeast_fragments, yeast_regions.iloc[:20], {"A": [BC_A]})
    assert only_a.n_unmatched_barcodes == 1
    assert only_a.n_unmatched_fragments == yeast_ab.n_fragments[1]
    np.testing.assert_array_equal(only_a.counts[:, 0], yeast_ab.counts[:20, 0])


@pytest.mark.shared
def test_fragments_chr_mismatch_real(yeast_fragments):
    with pytest.raises(InputError) as err:
        fragment_counts(yeast_fragments, _regions([("I", 0, 1000), ("II", 0, 1000)]))
    msg = str(err.value)
    assert str(yeast_fragments) in msg and "no fragment lies on any chromosome" in msg
    assert "I -> chrI" in msg and "chrI" in msg


# --------------------------------------------------------------------------------------------
# fragments by hand
# --------------------------------------------------------------------------------------------

HAND_FRAGMENTS = [
    # chrom, start, end, barcode, count   -> insertions at start and end-1
    ("chr1", 10, 20, "x-1", 1),  # 10, 19
    ("chr1", 15, 16, "y-1", 3),  # 15, 15   (one-base fragment: both insertions at 15)
    ("chr1", 100, 150, "x-1", 2),  # 100, 149
    ("chr2", 5, 30, "y-1", 1),  # 5, 29
    ("chr1", 0, 12, "z-1", 1),  # 0, 11   (barcode in no group)
    ("chr3", 1, 2, "x-1", 1),  # 1, 1   (chromosome without regions)
]
HAND_REGIONS = [
    ("chr1", 10, 20),  # x: 10, 19; y: 15, 15; z: 11
    ("chr1", 15, 16),  # y: 15, 15
    ("chr1", 19, 101),  # x: 19, 100
    ("chr1", 0, 1000),  # x: 10, 19, 100, 149; y: 15, 15; z: 0, 11
    ("chr2", 29, 30),  # y: 29
    ("chr2", 0, 5),  # nothing (5 is the first insertion)
    ("chr1", 20, 100),  # nothing
    ("chr9", 0, 100),  # no fragments on chr9
]


def _write_fragments(path, rows, header=("# id=test", "# pipeline=hand"), compress=False):
    text = "".join(f"{h}\n" for h in header)
    text += "".join("\t".join(map(str, r)) + "\n" for r in rows)
    if compress:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("compress", ["plain", "gzip", "bgzip"])
def test_fragments_hand(tmp_path, compress):
    path = _write_fragments(tmp_path / "frags.tsv", HAND_FRAGMENTS, compress=compress == "gzip")
    if compress == "bgzip":
        pysam = pytest.importorskip("pysam")
        pysam.tabix_compress(str(path), str(path) + ".gz")
        path = tmp_path / "frags.tsv.gz"
    regions = _regions(HAND_REGIONS)
    for chunksize in (1, 2, 1000):
        got = fragment_counts(path, regions, {"x": ["x-1"], "y": ["y-1", "w-1"]}, chunksize=chunksize)
        assert got.groups == ["x", "y"]
        want = np.array([[2, 2], [0, 2], [2, 0], [4, 2], [0, 1], [0, 0], [0, 0], [0, 0]])
        np.testing.assert_array_equal(got.counts, want)
        np.testing.assert_array_equal(got.n_fragments, [3, 2])
        assert got.n_unmatched_barcodes == 1 and got.n_unmatched_fragments == 1
        everything = fragment_counts(path, regions, chunksize=chunksize)
        np.testing.assert_array_equal(everything.counts[:, 0], [5, 2, 2, 8, 1, 0, 0, 0])
        assert everything.n_fragments.tolist() == [6]


def test_fragments_three_columns_without_groups(tmp_path):
    path = _write_fragments(tmp_path / "f.bed", [r[:3] for r in HAND_FRAGMENTS], header=())
    got = fragment_counts(path, _regions(HAND_REGIONS[:2]))
    np.testing.assert_array_equal(got.counts[:, 0], [5, 2])


def test_fragments_bad_inputs(tmp_path):
    regions = _regions(HAND_REGIONS)
    good = _write_fragments(tmp_path / "good.tsv", HAND_FRAGMENTS)

    spaces = tmp_path / "spaces.tsv"
    spaces.write_text("chr1 10 20 x-1 1\nchr1 30 40 x-1 1\n")
    with pytest.raises(InputError, match="need at least 3") as err:
        fragment_counts(spaces, regions)
    assert str(spaces) in str(err.value) and "line 1" in str(err.value)

    three = _write_fragments(tmp_path / "three.tsv", [r[:3] for r in HAND_FRAGMENTS])
    with pytest.raises(InputError, match="need at least 4") as err:
        fragment_counts(three, regions, {"x": ["x-1"]})
    assert str(three) in str(err.value) and "line 3" in str(err.value)

    rows = list(HAND_FRAGMENTS)
    rows[3] = ("chr2", "5x", 30, "y-1", 1)
    word = _write_fragments(tmp_path / "word.tsv", rows)
    for chunksize in (2, 1000):
        with pytest.raises(InputError, match="start '5x' is not a non-negative integer") as err:
            fragment_counts(word, regions, chunksize=chunksize)
        assert f"{word}, line 6" in str(err.value)

    rows = list(HAND_FRAGMENTS)
    rows[4] = ("chr1", 12, 12, "z-1", 1)
    flat = _write_fragments(tmp_path / "flat.tsv.gz", rows, compress=True)
    with pytest.raises(InputError, match="start >= end") as err:
        fragment_counts(flat, regions, chunksize=3)
    assert f"{flat}, line 7" in str(err.value) and "chr1:12-12" in str(err.value)

    short = _write_fragments(tmp_path / "short.tsv", [*HAND_FRAGMENTS[:2], ("chr1", 5)], header=())
    with pytest.raises(InputError, match="fewer than 3") as err:
        fragment_counts(short, regions)
    assert f"{short}, line 3" in str(err.value)

    with pytest.raises(InputError) as err:
        fragment_counts(good, regions, {"x": ["x-1"], "typo": ["x1", "AAAC-1"]})
    msg = str(err.value)
    assert str(good) in msg and "'typo'" in msg and "match no fragment" in msg and "x-1" in msg

    with pytest.raises(InputError, match="listed in two groups") as err:
        fragment_counts(good, regions, {"x": ["x-1", "y-1"], "y": ["y-1"]})
    assert "'x' and 'y'" in str(err.value) and "y-1" in str(err.value)
    with pytest.raises(InputError, match="must list its barcodes"):
        fragment_counts(good, regions, {"x": "x-1"})

    with pytest.raises(InputError) as err:
        fragment_counts(good, _regions([("1", 0, 100), ("2", 0, 100)]))
    msg = str(err.value)
    assert str(good) in msg and "no fragment lies on any chromosome" in msg
    assert "1 -> chr1" in msg and "chr1, chr2, chr3" in msg

    header_only = _write_fragments(tmp_path / "header.tsv", [], header=("# nothing",))
    with pytest.raises(InputError, match="no records"):
        fragment_counts(header_only, regions)
    with pytest.raises(InputError, match="not found"):
        fragment_counts(tmp_path / "absent.tsv.gz", regions)


# --------------------------------------------------------------------------------------------
# real-world shapes (issue 24)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [truncated, corrupt])
def test_truncated_or_corrupt_fragments_are_one_error_naming_the_file(yeast_fragments, yeast_regions, tmp_path, damage):
    """pandas decompresses the file itself: gzip's EOFError (a bare "Aborted." through the CLI)
    and BadGzipFile escaped; a corrupt block can also decode to garbage that the parser meets
    first. Both are now the one compressed-file error."""
    bad = damage(yeast_fragments, tmp_path / "frags.tsv.gz")
    with pytest.raises(InputError) as e:
        fragment_counts(bad, yeast_regions, {"A": [BC_A]}, chunksize=50_000)
    assert str(e.value).startswith(f"{bad}: {TRUNCATED} (") and "\n" not in str(e.value)


def test_truncated_fragments_stop_prepare_with_nothing_written(yeast, yeast_fragments, tmp_path, cisgram_main):
    bad = truncated(yeast_fragments, tmp_path / "frags.tsv.gz")
    out = tmp_path / "ds" / "yeast.h5ad"
    code, _, err = cisgram_main("prepare", "--genome", yeast / "genome" / "sacCer3.2bit", "--peaks",
                                yeast / "atac" / "hmmratac_accessible_regions.narrowPeak",
                                "--tracks", f"A={bad}:{BC_A}", "--out", out)
    assert code == 2 and err.strip().splitlines()[-1].startswith(f"error: {bad}: {TRUNCATED}"), err
    assert "Aborted" not in err and not out.exists() and not (out.parent / "split.json").exists()


def test_bigwig_header_listing_contigs_the_genome_lacks_is_accepted(chr22, tmp_path, cisgram_main):
    """The shared K562 bigWig's header lists 39 hg38 contigs (chr1 … GL000009.2, KI270711.1);
    the demo genome holds chr22 alone. Only the contigs the regions use are checked."""
    from cisgram.bundled import demo

    d = demo()
    track = chr22 / "accessibility" / "K562.bw"
    assert len(bigwig_chroms(track)) == 39 and {"chr1", "KI270711.1", "chr22"} <= set(bigwig_chroms(track))
    out = tmp_path / "ds.h5ad"
    code, stdout, err = cisgram_main("prepare", "--genome", d.genome, "--peaks", d.peaks["K562"], "--tracks",
                                     f"K562={track}", "--split", "blocks:1Mb", "--no-report", "--out", out)
    assert code == 0 and out.exists(), err
    assert "406 regions x 1 conditions (K562)" in stdout
