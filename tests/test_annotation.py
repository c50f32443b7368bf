"""TSS points from BED and GTF, strand aware."""

from __future__ import annotations

import pytest

from cisgram.annotation import read_tss
from cisgram.bundled import demo
from cisgram.errors import InputError

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
