"""TSS points from BED and GTF, strand aware."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cisgram.annotation import read_tss
from cisgram.bundled import demo
from cisgram.errors import InputError
from tests.probes import TRUNCATED, corrupt, crlf, gzipped, truncated

GTF = """##description: tiny
chr1\tHAVANA\tgene\t101\t200\t.\t+\t.\tgene_id "G1"; gene_name "PLUS"; gene_type "protein_coding";
chr1\tHAVANA\ttranscript\t121\t200\t.\t+\t.\tgene_id "G1"; transcript_id "T1"; gene_name "PLUS";
chr1\tHAVANA\tgene\t301\t400\t.\t-\t.\tgene_id "G2"; gene_name "MINUS"; gene_type "lncRNA";
chr1\tHAVANA\ttranscript\t301\t380\t.\t-\t.\tgene_id "G2"; transcript_id "T2"; gene_name "MINUS";
chr1\tHAVANA\texon\t301\t320\t.\t-\t.\tgene_id "G2"; transcript_id "T2";
"""


def test_gtf_gene_and_transcript_level(tmp_path):
    p = tmp_path / "a.gtf"
    p.write_text(GTF)
    genes = read_tss(p)
    # GTF is 1-based closed: + TSS at start-1, - TSS at end-1 (0-based)
    assert genes[["name", "start", "end", "strand", "gene_type"]].values.tolist() == [
        ["PLUS", 100, 101, "+", "protein_coding"],
        ["MINUS", 399, 400, "-", "lncRNA"],
    ]
    tx = read_tss(p, level="transcript")
    assert tx["start"].tolist() == [120, 379] and tx["name"].tolist() == ["T1|G1", "T2|G2"]


def test_bed_tss_strand_aware(tmp_path):
    p = tmp_path / "genes.bed"
    p.write_text("chr1\t100\t200\tA\t0\t+\nchr1\t300\t400\tB\t0\t-\n")
    t = read_tss(p)
    assert t["start"].tolist() == [100, 399] and (t["end"] - t["start"] == 1).all()


def test_real_tss_beds(chr22):
    t = read_tss(chr22 / "annotation" / "transcripts_tss.bed")
    assert len(t) == 4910 and t["gene_id"].str.startswith("ENSG").all()
    g = read_tss(demo().genes_tss)
    assert len(g) == 537 and "gene_type" in g


def test_bad_annotation(tmp_path):
    p = tmp_path / "x.bed"
    p.write_text("chr1\t1\t2\n")
    with pytest.raises(InputError, match="needs 6 columns"):
        read_tss(p)
    g = tmp_path / "x.gtf"
    g.write_text("chr1\tsrc\tgene\t1\n")
    with pytest.raises(InputError) as e:
        read_tss(g)
    assert f"{g}, line 1" in str(e.value) and "9 tab-separated columns" in str(e.value)
    g.write_text("chr1\tsrc\texon\t1\t5\t.\t+\t.\tgene_id \"x\";\n")
    with pytest.raises(InputError, match="no 'gene' features"):
        read_tss(g)


# ---------------------------------------------------------------- real-world shapes (issue 24)


def _gene_gtf(path) -> Path:
    """A GENCODE-style gene GTF made from the bundled real gene TSSs (1-based closed, 1 kb genes)."""
    rows = []
    for line in demo().genes_tss.read_text().splitlines():
        chrom, start, end, name, _score, strand, kind = line.split("\t")[:7]
        lo, hi = (int(start) + 1, int(start) + 1000) if strand == "+" else (int(end) - 999, int(end))
        rows.append(f'{chrom}\tHAVANA\tgene\t{lo}\t{hi}\t.\t{strand}\t.\tgene_id "{name}"; gene_name "{name}"; '
                    f'gene_type "{kind}";\n')
    path.write_text("##description: genes of the demo slice\n" + "".join(rows))
    return path


def test_truncated_or_corrupt_gzip_tss_files_are_one_error_naming_the_file(tmp_path):
    beds = gzipped(demo().genes_tss, tmp_path / "genes_tss.bed.gz")
    gtf = gzipped(_gene_gtf(tmp_path / "genes.gtf"), tmp_path / "genes.gtf.gz")
    assert len(read_tss(beds)) == len(read_tss(gtf)) == len(read_tss(demo().genes_tss))
    for whole, name in ((beds, "t.bed.gz"), (gtf, "t.gtf.gz")):
        for damage in (truncated, corrupt):
            bad = damage(whole, tmp_path / f"{damage.__name__}.{name}")
            with pytest.raises(InputError) as e:
                read_tss(bad)
            assert str(e.value).startswith(f"{bad}: {TRUNCATED}") and "\n" not in str(e.value)


def test_truncated_tss_stops_prepare_with_nothing_written(tmp_path, cisgram_main):
    d = demo()
    bad = truncated(gzipped(_gene_gtf(tmp_path / "genes.gtf"), tmp_path / "genes.gtf.gz"), tmp_path / "cut.gtf.gz")
    out = tmp_path / "ds" / "dataset.h5ad"
    code, _, err = cisgram_main("prepare", "--genome", d.genome, "--peaks", d.peaks["K562"], "--tracks",
                                f"K562={d.accessibility['K562']}", "--tss", bad, "--split", "blocks:1Mb", "--out", out)
    assert code == 2 and err.strip().splitlines()[-1].startswith(f"error: {bad}: {TRUNCATED}"), err
    assert "Aborted" not in err and not out.exists() and not (out.parent / "split.json").exists()


def test_windows_line_endings_gtf_and_bed(tmp_path):
    gtf = _gene_gtf(tmp_path / "genes.gtf")
    for plain, name in ((gtf, "w.gtf"), (demo().genes_tss, "w.bed")):
        pd.testing.assert_frame_equal(read_tss(crlf(plain, tmp_path / name)), read_tss(plain))
