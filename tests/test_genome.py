"""Genome readers: FASTA (plain, bgzip), 2bit, one-hot, batch fetch, and their errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pysam
import pytest

from cisgram.bundled import demo
from cisgram.errors import InputError
from cisgram.genome import Genome, encode, one_hot, read_chrom_sizes, reverse_complement_onehot
from tests.probes import TRUNCATED, corrupt, truncated


@pytest.fixture
def small_fasta(tmp_path):
    p = tmp_path / "g.fa"
    p.write_text(">chrA\nACGTNacgtn\nGGCC\n>chrB\nTTTTAAAA\n")
    return p


def test_plain_fasta_sizes_fetch_and_softmask(small_fasta):
    g = Genome(small_fasta)
    assert g.sizes == {"chrA": 14, "chrB": 8}
    assert g.fetch("chrA", 4, 12) == "NACGTNGG"  # lower case read as upper case
    x = g.fetch_onehot("chrA", 0, 10)
    assert x.shape == (4, 10) and x.dtype == np.float32
    # A C G T N a c g t n
    expected = np.zeros((4, 10), np.float32)
    for j, _b in enumerate("ACGT"):
        expected[j, [j, 5 + j]] = 1
    np.testing.assert_array_equal(x, expected)


def test_one_hot_and_reverse_complement():
    x = one_hot("ACGTN")
    np.testing.assert_array_equal(x.argmax(0)[:4], [0, 1, 2, 3])
    assert x[:, 4].sum() == 0
    rc = reverse_complement_onehot(x)
    np.testing.assert_array_equal(rc, one_hot("NACGT"))  # ACGT is its own reverse complement
    np.testing.assert_array_equal(reverse_complement_onehot(one_hot("AACG")), one_hot("CGTT"))
    np.testing.assert_array_equal(encode("acgtRYN"), [0, 1, 2, 3, 4, 4, 4])


def test_bgzip_fasta_matches_plain_and_batch(tmp_path, small_fasta):
    bgz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(small_fasta), str(bgz))
    a, b = Genome(small_fasta), Genome(bgz)
    assert a.sizes == b.sizes
    for chrom, s, e in [("chrA", 0, 14), ("chrA", 3, 9), ("chrB", 2, 8)]:
        assert a.fetch(chrom, s, e) == b.fetch(chrom, s, e)
    batch = b.fetch_onehot_batch(["chrA", "chrB", "chrA"], [0, 2, 8], [4, 6, 12])
    assert batch.shape == (3, 4, 4)
    np.testing.assert_array_equal(batch[1], one_hot("TTAA"))
    np.testing.assert_array_equal(batch[2], one_hot("tnGG"))


def test_batch_padding_past_ends(small_fasta):
    g = Genome(small_fasta)
    x = g.fetch_codes_batch(["chrB", "chrB"], [-2, 5], [4, 11], pad=True)
    np.testing.assert_array_equal(x[0], [4, 4, 3, 3, 3, 3])
    np.testing.assert_array_equal(x[1], [0, 0, 0, 4, 4, 4])
    with pytest.raises(InputError, match="past the chromosome end"):
        g.fetch_codes_batch(["chrB"], [5], [11])


def test_chr22_bgzip_real(chr22):
    g = Genome(chr22 / "genome" / "chr22.fa.gz")
    assert g.sizes == {"chr22": 50_818_468}
    assert set(g.fetch("chr22", 0, 1000)) == {"N"}  # chr22 starts with a long N run
    rng = np.random.default_rng(1)
    starts = rng.integers(11_000_000, 50_000_000, 300)
    batch = g.fetch_onehot_batch(["chr22"] * 300, starts, starts + 1000)
    fa = pysam.FastaFile(str(chr22 / "genome" / "chr22.fa.gz"))  # independent reader
    for i in range(0, 300, 7):
        np.testing.assert_array_equal(batch[i], one_hot(fa.fetch("chr22", int(starts[i]), int(starts[i]) + 1000)))
    assert read_chrom_sizes(chr22 / "genome" / "chr22.chrom.sizes") == g.sizes


def test_yeast_2bit_equals_fasta(yeast):
    tb = Genome(yeast / "genome" / "sacCer3.2bit")
    fa = Genome(yeast / "genome" / "sacCer3.fa.gz")
    assert tb.format == "2bit" and fa.format == "fasta"
    assert tb.sizes == fa.sizes and len(tb.sizes) == 17 and sum(tb.sizes.values()) == 12_157_105
    for chrom in ["chrI", "chrXII", "chrM"]:
        n = tb.sizes[chrom]
        assert tb.fetch(chrom, 0, n) == fa.fetch(chrom, 0, n)
    starts = np.arange(0, 200_000, 20_000)
    np.testing.assert_array_equal(
        tb.fetch_onehot_batch(["chrIV"] * 10, starts, starts + 500),
        fa.fetch_onehot_batch(["chrIV"] * 10, starts, starts + 500),
    )


def test_demo_genome_matches_chr22_inside_slice(chr22):
    d = demo()
    g = Genome(d.genome)
    ref = Genome(chr22 / "genome" / "chr22.fa.gz")
    assert g.sizes == ref.sizes
    chrom, s, e = d.region
    assert g.fetch(chrom, s, s + 5000) == ref.fetch(chrom, s, s + 5000)
    assert g.fetch(chrom, e - 5000, e) == ref.fetch(chrom, e - 5000, e)
    assert set(g.fetch(chrom, e, e + 1000)) == {"N"}


def test_demo_genome_reads_without_shared():
    g = Genome(demo().genome)
    seq = g.fetch("chr22", 20_000_000, 20_001_000)
    assert len(seq) == 1000 and set(seq) <= set("ACGTN") and seq.count("N") < 1000


def test_genome_pickles_for_workers(small_fasta):
    import pickle

    g = pickle.loads(pickle.dumps(Genome(small_fasta)))
    assert g.fetch("chrB", 0, 4) == "TTTT"


# -- bad input ----------------------------------------------------------------------------------
def test_not_a_genome(tmp_path):
    p = tmp_path / "peaks.bed"
    p.write_text("chr1\t10\t20\n")
    with pytest.raises(InputError) as e:
        Genome(p)
    assert str(p) in str(e.value) and "not a FASTA or 2bit" in str(e.value)


def test_missing_and_empty_genome(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Genome(tmp_path / "nope.fa")
    (tmp_path / "empty.fa").write_text("")
    with pytest.raises(InputError, match="empty"):
        Genome(tmp_path / "empty.fa")


def test_plain_gzip_fasta_says_use_bgzip(tmp_path, small_fasta):
    p = tmp_path / "g.fa.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(small_fasta.read_bytes())
    with pytest.raises(InputError) as e:
        Genome(p)
    assert str(p) in str(e.value) and "bgzip" in str(e.value)


def test_unindexed_fasta_in_readonly_dir_is_indexed_elsewhere(tmp_path, small_fasta, monkeypatch):
    bgz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(small_fasta), str(bgz))
    # the directory reads as read-only (tests may run as root, which ignores permissions)
    monkeypatch.setattr("cisgram.genome.os.access", lambda path, mode: False)
    g = Genome(bgz)
    assert g.fetch("chrB", 0, 4) == "TTTT"
    assert not (tmp_path / "g.fa.gz.fai").exists() and not (tmp_path / "g.fa.gz.gzi").exists()
    g.close()


def test_unindexed_bgzip_fasta_gets_an_index(tmp_path, small_fasta):
    bgz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(small_fasta), str(bgz))
    assert Genome(bgz).fetch("chrA", 0, 4) == "ACGT"
    assert (tmp_path / "g.fa.gz.fai").exists() and (tmp_path / "g.fa.gz.gzi").exists()


def test_chromosome_naming_mismatch_suggests_prefix(small_fasta):
    g = Genome(small_fasta)
    with pytest.raises(InputError) as e:
        g.check_intervals(["A"], [0], [5], path="regions.bed")
    msg = str(e.value)
    assert "regions.bed" in msg and "A" in msg and "chrA" in msg and "add 'chr'" in msg


def test_interval_past_end_and_inverted(small_fasta):
    g = Genome(small_fasta)
    with pytest.raises(InputError) as e:
        g.check_intervals(["chrA", "chrB"], [0, 5], [5, 9], path="r.bed", lines=[3, 4])
    assert "r.bed, line 4" in str(e.value) and "past the chromosome end" in str(e.value)
    with pytest.raises(InputError, match="start >= end"):
        g.check_intervals(["chrA"], [5], [5], path="r.bed")
    with pytest.raises(InputError, match="outside"):
        g.fetch("chrA", 10, 20)


def test_corrupt_2bit(tmp_path):
    p = tmp_path / "bad.2bit"
    p.write_bytes((0x1A412743).to_bytes(4, "little") + b"\x00" * 12 + b"garbage")
    with pytest.raises(InputError) as e:
        Genome(p)
    assert str(p) in str(e.value)


def _with_index(src, dst):
    """``dst`` beside copies of ``src``'s .fai and .gzi (an index made before the damage)."""
    for ext in (".fai", ".gzi"):
        (dst.parent / (dst.name + ext)).write_bytes(Path(str(src) + ext).read_bytes())
    return dst


def test_truncated_bgzip_genome_is_refused_at_opening(tmp_path, cisgram_main):
    """Half of the bundled bgzip FASTA: without an index htslib failed to index it ("cannot open
    or index", plus its own stderr lines); with the index made before the cut it opened and
    failed at the first fetch with pysam's ValueError. Both now stop at opening: the BGZF
    end-of-file block is missing and the file does not decompress whole."""
    src = demo().genome
    bare = truncated(src, tmp_path / "bare.fa.gz")
    (tmp_path / "indexed").mkdir()
    indexed = _with_index(src, truncated(src, tmp_path / "indexed" / "g.fa.gz"))
    for path in (bare, indexed):
        with pytest.raises(InputError) as e:
            Genome(path)
        assert str(e.value).startswith(f"{path}: {TRUNCATED} (") and "\n" not in str(e.value)
    code, out, err = cisgram_main("info", "--genome", indexed)
    assert code == 2 and err.strip() == f"error: {e.value}" and not out


def test_corrupt_bgzip_genome_is_named_at_indexing_or_fetching(tmp_path, capfd):
    """64 damaged bytes in the middle: the end-of-file block is intact, so an indexed copy opens;
    the chromosome read fails inside htslib and the file is then checked and named."""
    src = demo().genome
    with pytest.raises(InputError, match=TRUNCATED):
        Genome(corrupt(src, tmp_path / "bare.fa.gz"))
    (tmp_path / "indexed").mkdir()
    g = Genome(_with_index(src, corrupt(src, tmp_path / "indexed" / "g.fa.gz")))
    assert g.sizes == {"chr22": 50_818_468}
    with pytest.raises(InputError) as e:
        g.chromosome_codes("chr22")
    assert str(e.value).startswith(f"{g.path}: {TRUNCATED}")
    assert "[E::" not in capfd.readouterr().err


def test_stale_index_of_a_sound_plain_fasta_says_so(tmp_path, small_fasta):
    p = tmp_path / "g.fa"
    p.write_text(small_fasta.read_text())
    Genome(p).close()  # builds g.fa.fai
    p.write_text(">chrA\nAC\n")  # the file changes, its index does not
    with pytest.raises(InputError) as e:
        Genome(p).fetch("chrB", 0, 4)
    assert str(p) in str(e.value) and "cannot read chrB:0-4" in str(e.value) and ".fai" in e.value.hint


def test_bgzip_genome_without_end_of_file_block_is_read(tmp_path, small_fasta, caplog):
    """Old bgzip versions wrote no end-of-file block: such a file decompresses whole and is read."""
    bgz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(small_fasta), str(bgz))
    data = bgz.read_bytes()
    bgz.write_bytes(data[:-28])
    with caplog.at_level("WARNING"):
        assert Genome(bgz).fetch("chrB", 0, 4) == "TTTT"
    assert "no BGZF end-of-file block" in caplog.text


def test_truncated_2bit_is_refused_instead_of_crashing(yeast, tmp_path):
    """py2bit reads past the end of a truncated 2bit and the process died (segmentation fault,
    status 139); run in a child process so that a regression cannot take the test run down."""
    import subprocess
    import sys

    src = yeast / "genome" / "sacCer3.2bit"
    for cut, why in ((10, "shorter than the 16-byte header"), (200, "blocks run past the end"),
                     (1_500_000, "needs bytes up to")):
        bad = tmp_path / f"cut{cut}.2bit"
        bad.write_bytes(src.read_bytes()[:cut])
        r = subprocess.run([sys.executable, "-m", "cisgram", "info", "-g", str(bad)], capture_output=True, text=True,
                           timeout=120)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        assert r.returncode == 2 and last.startswith(f"error: {bad}: truncated or corrupt 2bit file"), r
        assert why in last and r.stderr.count("error:") == 1 and "Traceback" not in r.stderr, r.stderr


def test_as_codes_reads_every_sequence_form_and_says_what_it_refuses():
    import torch

    from cisgram.genome import as_codes, codes_to_onehot, encode

    seqs = ["ACGTNACGTA", "TTTTGGGGCC"]
    codes = np.stack([encode(s) for s in seqs])
    onehot = codes_to_onehot(codes)
    for X in (seqs, codes, codes.astype(np.int64), onehot, onehot.astype(np.float32), torch.from_numpy(onehot)):
        np.testing.assert_array_equal(as_codes(X), codes)
    np.testing.assert_array_equal(as_codes(seqs, length=6, recentre=True), codes[:, 2:8])
    cases = [
        (lambda: as_codes(seqs, length=8), "reads 8 bp sequences, got 10 bp"),
        (lambda: as_codes(codes[:, :4], length=8, recentre=True), "reads 8 bp sequences, got 4 bp"),
        (lambda: as_codes(onehot * 0.25), "0 and 1 only"),
        (lambda: as_codes(onehot + onehot[:, ::-1]), "at most one 1"),
        (lambda: as_codes(onehot.transpose(0, 2, 1)), "transpose"),
        (lambda: as_codes(codes.astype(np.float32)), "X\\[None\\]"),
        (lambda: as_codes(codes + 3), "0..4"),
        (lambda: as_codes(["ACGT", "ACG"]), "different lengths"),
        (lambda: as_codes("ACGT"), "not one string"),
        (lambda: as_codes(np.zeros((2, 3, 4, 5))), "float64 array of shape \\(2, 3, 4, 5\\)"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()
