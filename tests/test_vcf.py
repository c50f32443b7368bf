"""`cisgram.vcf.read_vcf` on the shapes real VCFs have (issue 24): a genome-wide call set against a
one-chromosome genome (contigs it lacks are problems, the rest is read), multi-allelic records
(split), symbolic and ``*`` alleles (problems), bgzip without an index, Windows line endings, a
truncated or corrupt ``.gz``, and a file none of whose chromosomes is in the genome (refused,
naming both sides). Built on real positions of the bundled chr22 slice."""

from __future__ import annotations

import pandas as pd
import pysam
import pytest

from cisgram.bundled import demo
from cisgram.errors import InputError
from cisgram.genome import Genome
from cisgram.vcf import read_vcf
from tests.probes import TRUNCATED, corrupt, crlf, genome_wide_vcf, truncated


@pytest.fixture(scope="module")
def genome():
    return Genome(demo().genome)


@pytest.fixture(scope="module")
def call_set(tmp_path_factory):
    d = demo()
    return genome_wide_vcf(tmp_path_factory.mktemp("vcf") / "calls.vcf", d.genome, d.peaks["K562"])


def test_genome_wide_call_set_reads_every_record_on_the_genome(call_set, genome):
    path, expect = call_set
    table, problems = read_vcf(path, genome)
    assert table["line"].value_counts().sort_index().to_dict() == expect["scored"]
    assert set(table["chrom"]) == {"chr22"}
    assert table.set_index("id").loc[["del", "ins"], "kind"].tolist() == ["deletion", "insertion"]
    multi = table[table["id"] == "multi"]
    assert len(multi) == 2 and multi["alt"].nunique() == 2 and (multi["kind"] == "snv").all()  # split, one row each
    star = table[table["id"] == "star"]  # ALT "C,*": the C is scored, the * is a problem
    assert len(star) == 1 and star["alt"].item() in ("C", "G")
    why = {p.line: p.reason for p in problems}
    assert sorted(why) == sorted(expect["problems"])
    for line, fragment in expect["problems"].items():
        assert fragment in why[line], (line, why[line])
    assert "chr22_demo.fa.gz" in why[min(why)]  # the contig's problem names the genome


def test_bgzip_without_index_and_windows_line_endings_read_the_same(call_set, genome, tmp_path):
    path, _ = call_set
    plain, problems = read_vcf(path, genome)
    bgz = tmp_path / "calls.vcf.gz"
    pysam.tabix_compress(str(path), str(bgz))
    assert not list(tmp_path.glob("*.tbi")) and not list(tmp_path.glob("*.csi"))
    windows = crlf(path, tmp_path / "windows.vcf")
    for other in (bgz, windows):
        table, found = read_vcf(other, genome)
        pd.testing.assert_frame_equal(table, plain)
        assert found == problems


@pytest.mark.parametrize("damage", [truncated, corrupt])
def test_truncated_or_corrupt_vcf_gz_is_one_error_naming_the_file(call_set, genome, tmp_path, damage):
    path, _ = call_set
    big = tmp_path / "big.vcf"  # several BGZF blocks, so that the cut falls inside the records
    lines = path.read_text().splitlines()
    head = [x for x in lines if x.startswith("#")]
    big.write_text("\n".join(head + [x for x in lines if not x.startswith("#")] * 800) + "\n")
    bgz = tmp_path / "big.vcf.gz"
    pysam.tabix_compress(str(big), str(bgz))
    bad = damage(bgz, tmp_path / "bad.vcf.gz")
    with pytest.raises(InputError) as e:
        read_vcf(bad, genome)
    assert str(e.value).startswith(f"{bad}: {TRUNCATED} (") and "\n" not in str(e.value)


def test_refused_only_when_no_record_is_on_the_genome(call_set, genome, tmp_path):
    """An Ensembl-named call set (22, MT, KI270742.1) against a UCSC-named genome: every record
    would be a problem, so the file is refused, naming both sides and the fix."""
    path, _ = call_set
    ensembl = {"chr22": "22", "chrM": "MT", "chrUn_KI270742v1": "KI270742.1", "chr1_KI270706v1_random": "KI270706.1",
               "chrX": "X", "chrEBV": "EBV"}
    d = demo()
    renamed, _ = genome_wide_vcf(tmp_path / "ensembl.vcf", d.genome, d.peaks["K562"], rename=ensembl)
    with pytest.raises(InputError) as e:
        read_vcf(renamed, genome)
    message = str(e.value)
    assert message.startswith(f"{renamed}: no record is on a chromosome of the genome chr22_demo.fa.gz: the VCF has MT, 22")
    assert "the genome has chr22" in message and "22 -> chr22" in e.value.hint
