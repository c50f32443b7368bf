"""Region readers and operations: BED / narrowPeak parsing, validation, resize, merge, TSS distance."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from cisgram.bundled import demo
from cisgram.errors import InputError
from cisgram.genome import Genome
from cisgram.intervals import (
    cluster_ids,
    merge,
    read_regions,
    resize,
    sort_regions,
    tss_distance,
    union_regions,
    write_regions,
)
from tests.probes import TRUNCATED, corrupt, crlf, gzipped, truncated


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_real_narrowpeak(chr22):
    df = read_regions(chr22 / "peaks" / "K562.narrowPeak", genome=Genome(chr22 / "genome" / "chr22.fa.gz"))
    assert len(df) == 1125
    assert list(df.columns[:10]) == ["chrom", "start", "end", "name", "score", "strand", "signal", "pvalue", "qvalue", "summit"]
    assert df.iloc[0][["chrom", "start", "end", "summit"]].tolist() == ["chr22", 11066352, 11066515, 63]
    assert df["start"].dtype == np.int64 and (df["summit"] < df["end"] - df["start"]).all()


def test_real_chip_and_tss_beds(chr22, yeast):
    ctcf = read_regions(chr22 / "tf_chip" / "CTCF.ENCSR000AKO.narrowPeak")
    assert len(ctcf) == 1124 and ctcf["summit"].iloc[0] == 347
    genes = read_regions(chr22 / "annotation" / "genes_tss.bed")
    assert len(genes) == 1445 and "col7" in genes and genes["strand"].isin(["+", "-"]).all()
    y = read_regions(yeast / "atac" / "hmmratac_accessible_regions.narrowPeak", genome=Genome(yeast / "genome" / "sacCer3.2bit"))
    assert len(y) == 1605


def test_bed3_with_header_track_and_gzip(tmp_path):
    text = "track name=x\nbrowser position chr1:1-10\n# comment\nchrom\tstart\tend\nchr1\t10\t20\nchr1\t5\t8\n"
    p = tmp_path / "r.bed.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(text)
    df = read_regions(p)
    assert df[["chrom", "start", "end"]].values.tolist() == [["chr1", 10, 20], ["chr1", 5, 8]]
    assert list(df.columns) == ["chrom", "start", "end"]


def test_bed6_plus_keeps_extra_columns(tmp_path):
    p = _write(tmp_path, "r.bed", "chr1\t10\t20\tx\t5\t+\tfoo\tbar\n")
    df = read_regions(p)
    assert df["strand"].iat[0] == "+" and df["col7"].iat[0] == "foo" and df["col8"].iat[0] == "bar"


def test_write_roundtrip(tmp_path, chr22):
    df = read_regions(chr22 / "peaks" / "MCF7.narrowPeak")
    write_regions(df, tmp_path / "out.narrowPeak")
    back = read_regions(tmp_path / "out.narrowPeak")
    pd.testing.assert_frame_equal(df.drop(columns=[]), back, check_like=False, check_exact=False, rtol=1e-5)
    write_regions(df[["chrom", "start", "end"]], tmp_path / "out.bed")
    assert (tmp_path / "out.bed").read_text().splitlines()[0].count("\t") == 2


def test_resize_on_summit_and_centre(tmp_path):
    p = _write(tmp_path, "p.narrowPeak", "c\t100\t200\t.\t0\t.\t1\t1\t1\t30\nc\t100\t201\t.\t0\t.\t1\t1\t1\t-1\n")
    df = read_regions(p)
    r = resize(df, 50)
    assert r[["start", "end", "summit"]].values.tolist() == [[105, 155, 25], [125, 175, 25]]
    c = resize(df, 50, on="center")
    assert c["start"].tolist() == [125, 125]
    edge = resize(df, 300, sizes={"c": 350})
    assert edge["start"].tolist() == [0, 0] and (edge["end"] == 300).all()
    with pytest.raises(InputError, match="starts before the chromosome"):
        resize(df, 300)


def test_merge_overlapping_and_bookended():
    df = pd.DataFrame({"chrom": ["a", "a", "a", "a", "b"], "start": [0, 5, 20, 30, 0], "end": [10, 12, 30, 40, 5]})
    m = merge(df)
    assert m[["chrom", "start", "end", "n"]].values.tolist() == [["a", 0, 12, 2], ["a", 20, 40, 2], ["b", 0, 5, 1]]
    assert len(merge(df, gap=8)) == 2
    # a long region swallowing later ones keeps them in its cluster (running max, not previous end)
    ids = cluster_ids(np.array(["a"] * 3), np.array([0, 2, 50]), np.array([100, 3, 60]))
    assert ids.tolist() == [0, 0, 0]


def test_union_regions_are_disjoint_fixed_width(chr22):
    g = Genome(chr22 / "genome" / "chr22.fa.gz")
    sets = [resize(read_regions(chr22 / "peaks" / f"{c}.narrowPeak"), 500, sizes=g.sizes) for c in ("K562", "GM12878", "MCF7")]
    u = union_regions(sets, 500, sizes=g.sizes)
    assert ((u["end"] - u["start"]) == 500).all()
    s = sort_regions(u)
    assert (s["start"].to_numpy()[1:] >= s["end"].to_numpy()[:-1]).all()  # no overlaps
    assert len(u) < sum(map(len, sets))
    # every input summit lies within 250 bp of some union region
    allc = np.concatenate([(x["start"] + x["summit"]).to_numpy() for x in sets])
    j = np.clip(np.searchsorted(s["start"].to_numpy(), allc, side="right") - 1, 0, len(s) - 1)
    assert np.mean(np.abs(allc - (s["start"].to_numpy()[j] + 250)) <= 500) > 0.99


def test_tss_distance_against_brute_force(chr22):
    regions = read_regions(chr22 / "peaks" / "GM12878.narrowPeak")
    tss = read_regions(chr22 / "annotation" / "genes_tss.bed")
    d = tss_distance(regions, tss)
    p = tss["start"].to_numpy()
    for i in range(0, len(regions), 37):
        s, e = regions["start"].iat[i], regions["end"].iat[i]
        brute = np.min(np.where((p >= s) & (p < e), 0, np.minimum(np.abs(p - s), np.abs(p - (e - 1)))))
        assert d[i] == brute
    far = tss_distance(pd.DataFrame({"chrom": ["chrX"], "start": [0], "end": [10]}), tss)
    assert np.isinf(far[0])


def test_demo_peaks_are_the_shared_peaks_inside_the_slice(chr22):
    d = demo()
    chrom, s, e = d.region
    for cell, path in d.peaks.items():
        full = read_regions(chr22 / "peaks" / f"{cell}.narrowPeak")
        inside = full[(full["start"] >= s) & (full["end"] <= e)].reset_index(drop=True)
        mine = read_regions(path)
        mine.attrs = inside.attrs = {}
        pd.testing.assert_frame_equal(mine, inside)


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "problem", "line"),
    [
        ("chr1\t10\t20\nchr1\t30\n", "bed", "expected 3 columns", 2),
        ("chr1\t10\t20\t.\t0\t.\t1\t1\t1\n", "narrowpeak", "10 columns", 1),
        ("chr1\tten\t20\n", "bed", "'start' must be an integer", 1),
        ("chr1\t10\t20\nchr1\t10\t2x\n", "bed", "'end' must be an integer", 2),
        ("chr1\t10\t20\t.\tabc\t+\n", "bed", "'score' must be a number", 1),
        ("chr1\t10\t20\t.\t0\t*\n", "bed", "strand must be", 1),
        ("chr1\t20\t20\n", "bed", "start must be >= 0 and below end", 1),
        ("chr1\t30\t20\n", "bed", "start must be >= 0 and below end", 1),
        ("chr1\t10\t20\t.\t0\t.\t1\t1\t1\t50\n", "narrowpeak", "summit offset 50 lies outside", 1),
        ("chr1\t10\t20\t.\t0\t.\tx\t1\t1\t5\n", "narrowpeak", "'signal' must be a number", 1),
        ("chr1\t10\n", "bed", "at least 3 columns", 1),
    ],
)
def test_bad_records_name_file_line_and_problem(tmp_path, text, kind, problem, line):
    p = _write(tmp_path, "bad.narrowPeak" if kind == "narrowpeak" else "bad.bed", "# header\n" + text)
    with pytest.raises(InputError) as e:
        read_regions(p)
    msg = str(e.value)
    assert str(p) in msg and problem in msg and f"line {line + 1}" in msg


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_regions(_write(tmp_path, "e.bed", ""))
    with pytest.raises(InputError, match="no regions"):
        read_regions(_write(tmp_path, "h.bed", "track name=x\n#chrom\tstart\tend\n\n"))


def test_chromosome_mismatch_and_past_end_against_genome(tmp_path, chr22):
    g = Genome(chr22 / "genome" / "chr22.fa.gz")
    p = _write(tmp_path, "r.bed", "22\t10\t20\n")
    with pytest.raises(InputError) as e:
        read_regions(p, genome=g)
    assert str(p) in str(e.value) and "'22'" not in str(e.value) and "22" in str(e.value) and "add 'chr'" in str(e.value)
    p = _write(tmp_path, "r2.bed", "chr22\t10\t20\nchr22\t50818400\t50818500\n")
    with pytest.raises(InputError) as e:
        read_regions(p, genome=g)
    assert f"{p}, line 2" in str(e.value) and "past the chromosome end" in str(e.value)
    with pytest.raises(InputError, match="past the chromosome end"):
        read_regions(p, genome={"chr22": 50_818_468})


def test_chromosome_filter_and_empty_after_filtering(tmp_path, yeast):
    path = yeast / "atac" / "hmmratac_accessible_regions.narrowPeak"
    nuclear = read_regions(path, exclude=["chrM"])
    assert len(nuclear) == 1605 - 46 and "chrM" not in set(nuclear["chrom"])
    assert set(read_regions(path, chroms=["chrI", "chrII"])["chrom"]) == {"chrI", "chrII"}
    with pytest.raises(InputError) as e:
        read_regions(path, chroms=["I"])
    assert str(path) in str(e.value) and "no regions left" in str(e.value) and "chrI" in str(e.value)
    # line numbers still point into the file after filtering
    p = _write(tmp_path, "r.bed", "chrM\t1\t5\nchr1\t10\t20\nchr1\t10\t999999\n")
    with pytest.raises(InputError) as e:
        read_regions(p, exclude=["chrM"], genome={"chr1": 1000})
    assert f"{p}, line 3" in str(e.value) and "past the chromosome end" in str(e.value)


def test_binary_file_is_reported(tmp_path):
    p = tmp_path / "x.bed"
    p.write_bytes(b"\xff\xfe\x00\x01" * 10)
    with pytest.raises(InputError) as e:
        read_regions(p)
    assert str(p) in str(e.value)


# ---------------------------------------------------------------- real-world shapes (issue 24)


def test_truncated_or_corrupt_gzip_regions_are_one_error_naming_the_file(tmp_path, cisgram_main):
    """A download cut short used to print the genome table and then a bare "Aborted." (exit 1)."""
    d = demo()
    whole = gzipped(d.peaks["K562"], tmp_path / "K562.narrowPeak.gz")
    assert len(read_regions(whole)) == 408
    for damage in (truncated, corrupt):
        bad = damage(whole, tmp_path / f"{damage.__name__}.narrowPeak.gz")
        with pytest.raises(InputError, match=TRUNCATED):
            read_regions(bad)
        code, out, err = cisgram_main("info", "--genome", d.genome, "--regions", bad)
        assert code == 2, (out, err)
        assert err.strip().splitlines() == [err.strip()] and err.startswith(f"error: {bad}: {TRUNCATED}")
        assert "Aborted" not in out + err and "Traceback" not in err


def test_windows_line_endings_header_track_and_browser_lines(tmp_path, cisgram_main):
    """A narrowPeak saved on Windows, with a browser line, a track line and a column header, reads
    as the plain file does (gzip or not)."""
    d = demo()
    plain = read_regions(d.peaks["K562"])
    head = ("browser position chr22:19000000-20000000\ntrack type=narrowPeak name=K562\n"
            "chrom\tstart\tend\tname\tscore\tstrand\tsignalValue\tpValue\tqValue\tpeak\n")
    windows = crlf(d.peaks["K562"], tmp_path / "windows.narrowPeak", prefix=head)
    assert b"\r\n" in windows.read_bytes()
    for path in (windows, gzipped(windows, tmp_path / "windows.narrowPeak.gz")):
        pd.testing.assert_frame_equal(read_regions(path, genome=Genome(d.genome)), plain, check_like=False)
    code, out, err = cisgram_main("info", "--genome", d.genome, "--regions", windows)
    assert code == 0 and "408 regions (narrowPeak)" in out, err


def test_duplicated_region_names_are_accepted(tmp_path, caplog):
    """Names are labels: ENCODE peaks all carry '.', merged files repeat names. Regions are read
    as they are (every output names a region by its coordinates), without a warning."""
    d = demo()
    lines = d.peaks["K562"].read_text().splitlines()
    same = tmp_path / "same.narrowPeak"
    same.write_text("".join("\t".join([*ln.split("\t")[:3], "peak", *ln.split("\t")[4:]]) + "\n" for ln in lines))
    with caplog.at_level("WARNING"):
        df = read_regions(same, genome=Genome(d.genome))
    assert len(df) == 408 and set(df["name"]) == {"peak"} and not caplog.records
    pd.testing.assert_frame_equal(df.drop(columns="name"), read_regions(d.peaks["K562"]).drop(columns="name"))
