"""Tests for cisgram.insertions (per-base Tn5 insertions) and cisgram.tracks.write_bigwig.

Real data: the first 200,000 yeast ATAC fragments, written as a bigWig and read back with pyBigWig,
against a brute-force dict of position -> count, with and without the +4 / -5 shift and for one
pseudo-barcode; the track summed over regions equals fragment_counts. Hand-made files: barcode
groups, shifts off a chromosome end, every bad input, and an interrupted write.
"""

from __future__ import annotations

import gzip
from collections import Counter
from itertools import islice

import numpy as np
import pandas as pd
import pytest

from cisgram.errors import InputError
from cisgram.fragments import fragment_counts
from cisgram.insertions import TN5_SHIFT, _Tally, insertion_track
from cisgram.tracks import bigwig_coverage, open_bigwig, write_bigwig

BC_A = "AAAAAAAAAAAAAAAA"


def brute_force(path, shift=(0, 0), barcodes=None, sizes=None) -> Counter:
    """{(chrom, position): insertions} by a plain loop over the records."""
    counts: Counter = Counter()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if barcodes is not None and f[3] not in barcodes:
                continue
            for pos in (int(f[1]) + shift[0], int(f[2]) - 1 + shift[1]):
                if 0 <= pos < (sizes[f[0]] if sizes else np.inf):
                    counts[f[0], pos] += 1
    return counts


def read_back(path) -> Counter:
    """Every base with data in a bigWig, as {(chrom, position): value}."""
    bw = open_bigwig(path)
    try:
        out: Counter = Counter()
        for chrom in bw.chroms():
            for s, e, v in bw.intervals(chrom) or ():
                assert e == s + 1 and v > 0 and v == int(v)
                out[chrom, s] = int(v)
        return out
    finally:
        bw.close()


# --------------------------------------------------------------------------------------------
# real yeast fragments
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yeast_head(yeast, tmp_path_factory):
    """The first 200,000 records of the yeast fragment file (chrI to part of chrXII, chrM included), gzip."""
    path = tmp_path_factory.mktemp("frags") / "head.tsv.gz"
    with gzip.open(yeast / "atac" / "SRR1822137.fragments.tsv.gz", "rt") as src, gzip.open(path, "wt") as dst:
        dst.writelines(islice(src, 200_000))
    return path


@pytest.fixture(scope="module")
def yeast_sizes(yeast):
    from cisgram.genome import Genome

    with Genome(yeast / "genome" / "sacCer3.2bit") as g:
        return dict(g.sizes)


@pytest.mark.parametrize(("shift", "barcodes"), [((0, 0), None), (TN5_SHIFT, None), (TN5_SHIFT, [BC_A])])
def test_yeast_bigwig_equals_brute_force(yeast_head, yeast_sizes, tmp_path, monkeypatch, shift, barcodes):
    monkeypatch.setattr(_Tally, "merge_min", 5_000)  # merge many times on the way
    track = insertion_track(yeast_head, yeast_sizes, barcodes, shift=shift, chunksize=30_000)
    out = tmp_path / "ins.bw"
    write_bigwig(out, yeast_sizes, ((c, track.positions[c], track.counts[c]) for c in track.positions))
    expected = brute_force(yeast_head, shift, barcodes, yeast_sizes)
    assert read_back(out) == expected  # every base: both sides hold exactly the bases with insertions
    assert track.n_insertions == sum(expected.values()) == 2 * track.n_fragments - track.n_dropped
    assert track.n_fragments + track.n_unmatched == 200_000
    assert (track.n_unmatched > 0) == (barcodes is not None)
    assert list(track.positions) == [c for c in yeast_sizes if c in track.positions]  # genome order


def test_yeast_track_sums_to_fragment_counts(yeast, yeast_head, yeast_sizes, tmp_path):
    """Default shift: the track summed over regions is what `cisgram prepare` counts there."""
    from cisgram.intervals import read_regions

    regions = read_regions(yeast / "atac" / "hmmratac_accessible_regions.narrowPeak")
    regions = regions[regions["chrom"].isin(["chrI", "chrII", "chrIII"])]
    track = insertion_track(yeast_head, yeast_sizes)
    out = tmp_path / "ins.bw"
    write_bigwig(out, yeast_sizes, ((c, track.positions[c], track.counts[c]) for c in track.positions))
    got = bigwig_coverage(out, regions)
    want = fragment_counts(yeast_head, regions).counts[:, 0]
    assert want.sum() > 1000
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------
# hand-made files
# --------------------------------------------------------------------------------------------

SIZES = {"chrA": 100, "chrB": 50}
HAND = [
    ("chrA", 10, 20, "x-1", 1),  # 10, 19
    ("chrA", 10, 30, "y-1", 4),  # 10, 29   (duplicate count ignored)
    ("chrA", 15, 16, "x-1", 1),  # 15, 15   (one-base fragment)
    ("chrB", 0, 50, "w-1", 1),  # 0, 49
    ("chrA", 2, 8, "x-1", 1),  # 2, 7     (unsorted file)
]


def write_fragments(path, rows, header=("# id=hand",)):
    text = "".join(f"{h}\n" for h in header) + "".join("\t".join(map(str, r)) + "\n" for r in rows)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def as_dict(track) -> dict:
    return {(c, int(p)): int(n) for c in track.positions for p, n in zip(track.positions[c], track.counts[c], strict=True)}


@pytest.mark.parametrize("name", ["frags.tsv", "frags.tsv.gz"])
def test_hand_counts_and_barcode_group(tmp_path, name):
    path = write_fragments(tmp_path / name, HAND)
    every = insertion_track(path, SIZES, chunksize=2)
    assert as_dict(every) == {("chrA", 2): 1, ("chrA", 7): 1, ("chrA", 10): 2, ("chrA", 15): 2, ("chrA", 19): 1,
                              ("chrA", 29): 1, ("chrB", 0): 1, ("chrB", 49): 1}
    assert (every.n_fragments, every.n_insertions, every.n_dropped, every.n_unmatched) == (5, 10, 0, 0)
    group = insertion_track(path, SIZES, ["x-1", "w-1"], chunksize=2)
    assert as_dict(group) == {("chrA", 2): 1, ("chrA", 7): 1, ("chrA", 10): 1, ("chrA", 15): 2, ("chrA", 19): 1,
                              ("chrB", 0): 1, ("chrB", 49): 1}
    assert (group.n_fragments, group.n_unmatched) == (4, 1)
    only_y = insertion_track(path, SIZES, ["y-1"])
    assert as_dict(only_y) == {("chrA", 10): 1, ("chrA", 29): 1} and list(only_y.positions) == ["chrA"]


def test_shift_and_drops_at_chromosome_ends(tmp_path):
    rows = [("chrB", 0, 3, "x", 1), ("chrB", 47, 50, "x", 1), ("chrA", 20, 40, "x", 1)]
    path = write_fragments(tmp_path / "f.tsv", rows, header=("# a", "# b"))
    t = insertion_track(path, SIZES, shift=TN5_SHIFT)
    # chrB 0-3: 4 kept, 2-5 = -3 dropped; chrB 47-50: 51 dropped, 49-5 = 44 kept; chrA 20-40: 24, 34
    assert as_dict(t) == {("chrA", 24): 1, ("chrA", 34): 1, ("chrB", 4): 1, ("chrB", 44): 1}
    assert (t.n_fragments, t.n_insertions, t.n_dropped, t.first_dropped, t.shift) == (3, 4, 2, 3, (4, -5))
    assert list(t.positions) == ["chrA", "chrB"]  # genome order, not file order
    assert as_dict(insertion_track(path, SIZES, shift=(1, 1))) == {
        ("chrA", 21): 1, ("chrA", 40): 1, ("chrB", 1): 1, ("chrB", 3): 1, ("chrB", 48): 1}


def test_tally_merges_like_one_count(monkeypatch):
    monkeypatch.setattr(_Tally, "merge_min", 3)
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 50, size=int(rng.integers(1, 30))) for _ in range(40)]
    tally = _Tally()
    for c in chunks:
        tally.add(c)
    pos, cnt = tally.merge()
    u, n = np.unique(np.concatenate(chunks), return_counts=True)
    np.testing.assert_array_equal(pos, u)
    np.testing.assert_array_equal(cnt, n)
    assert pos.dtype == np.int32 and cnt.dtype == np.uint32


@pytest.mark.parametrize(
    ("rows", "header", "args", "problem", "line"),
    [
        (HAND, (), {"barcodes": ["x-1", "AAAC-1"]}, "1 of the 2 barcode(s) given never occur in the file", None),
        ([*HAND[:2], ("chr9", 5, 9, "x-1", 1)], (), {}, "fragment on chromosome 'chr9', which is not in the genome", 3),
        ([("A", 5, 9, "x-1", 1)], ("#h",), {}, "add 'chr'", 2),
        ([*HAND[:2], ("chrA", "ten", 20, "x-1", 1)], ("#h",), {}, "start 'ten' is not a non-negative integer", 4),
        ([*HAND[:2], ("chrA", 30, 20, "x-1", 1)], (), {}, "start < 0 or start >= end", 3),
        ([*HAND[:2], ("chrA", 30)], (), {}, "fewer than 3 tab-separated columns", 3),
        ([("chrA", 1, 2)], (), {"barcodes": ["x-1"]}, "(the barcode is column 4)", 1),
        ([*HAND[:1], ("chrB", 40, 51, "x-1", 1)], (), {}, "ends past the chromosome's end (50 bp", 2),
        ([("chrB", 0, 2, "x-1", 1)], (), {"shift": (-5, -5)}, "no insertion to write", None),
        ([], ("# only a header",), {}, "has no records", None),
    ],
)
def test_bad_inputs_name_file_and_line(tmp_path, rows, header, args, problem, line):
    path = write_fragments(tmp_path / "bad.tsv", rows, header=header)
    with pytest.raises(InputError) as err:
        insertion_track(path, SIZES, **args)
    msg = str(err.value)
    assert str(path) in msg and problem in msg, msg
    if line is not None:
        assert f", line {line}:" in msg, msg
    assert len(msg.splitlines()) <= 2


def test_write_bigwig_interrupted_leaves_no_file(tmp_path):
    out = tmp_path / "ins.bw"

    def entries():
        yield "chrA", np.array([1, 5]), np.array([1.0, 2.0])
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_bigwig(out, SIZES, entries())
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"earlier run")  # an earlier output stays as it was
    with pytest.raises(InputError, match="not in the header's order"):
        write_bigwig(out, SIZES, [("chrB", np.array([1]), np.array([1.0])), ("chrA", np.array([1]), np.array([1.0]))])
    with pytest.raises(InputError, match="strictly increasing"):
        write_bigwig(out, SIZES, [("chrA", np.array([5, 5]), np.array([1.0, 1.0]))])
    with pytest.raises(InputError, match="strictly increasing"):
        write_bigwig(out, SIZES, [("chrB", np.array([49, 50]), np.array([1.0, 1.0]))])
    assert out.read_bytes() == b"earlier run" and [p.name for p in tmp_path.iterdir()] == ["ins.bw"]
    n = write_bigwig(out, SIZES, [("chrA", np.array([0, 99], np.int32), np.array([3, 1], np.uint32))], batch=1)
    bw = open_bigwig(out)
    assert n == 2 and bw.chroms() == SIZES and bw.intervals("chrA") == ((0, 1, 3.0), (99, 100, 1.0))
    bw.close()


def test_fragment_counts_unchanged_by_shared_reader(tmp_path):
    """fragment_counts and insertion_track read the same records the same way (a sanity check)."""
    path = write_fragments(tmp_path / "f.tsv", HAND)
    regions = pd.DataFrame({"chrom": ["chrA", "chrB"], "start": [0, 0], "end": [100, 50]})
    got = fragment_counts(path, regions).counts[:, 0]
    t = insertion_track(path, SIZES)
    assert got.tolist() == [int(t.counts["chrA"].sum()), int(t.counts["chrB"].sum())]
