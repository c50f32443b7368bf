"""Tests for cisgram.motifs.pwm: Motif, MotifSet, MEME reading/writing, JASPAR via pyjaspar."""

from __future__ import annotations

import gzip
import math
import sqlite3

import numpy as np
import pytest

from cisgram.errors import InputError
from cisgram.motifs.pwm import Motif, MotifSet, load_motifs, read_jaspar, read_meme, write_meme
from tests.probes import TRUNCATED, corrupt, crlf, gzipped, truncated

VERTEBRATES = "JASPAR2024_CORE_vertebrates_nonredundant.meme"
FUNGI = "JASPAR2024_CORE_fungi_nonredundant.meme"
VIERSTRA = "vierstra_archetypes_v2.1beta.meme"

# 9 lines: the first MOTIF of a test file written as HEADER + body is on line 10
HEADER = ("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
          "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
GOOD = ("MOTIF M1 one\n"
        "letter-probability matrix: alength= 4 w= 2 nsites= 10 E= 0\n"
        "0.1 0.2 0.3 0.4\n"
        "0.25 0.25 0.25 0.25\n\n")


def write(tmp_path, text, name="motifs.meme"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- Motif


def test_log_odds_by_hand():
    m = Motif("m", "", np.array([[0.5, 0.25, 0.25, 0.0]]))
    np.testing.assert_allclose(m.log_odds()[0, :3], [1.0, 0.0, 0.0])
    assert m.log_odds()[0, 3] == -np.inf  # zero probability, no pseudocount: documented -inf
    lo = m.log_odds(pseudocount=0.01)  # IceQream's rule: (p + 0.01) / 1.04
    expected = [math.log2((p + 0.01) / 1.04 / 0.25) for p in (0.5, 0.25, 0.25, 0.0)]
    np.testing.assert_allclose(lo[0], expected)
    assert lo.shape == (1, 4) and lo.dtype == np.float64
    bg = (0.3, 0.2, 0.2, 0.3)
    np.testing.assert_allclose(m.log_odds(bg, pseudocount=0.01, base=math.e)[0],
                               [math.log((p + 0.01) / 1.04 / b) for p, b in zip(m.probs[0], bg, strict=True)])


def test_log_odds_rejects_bad_arguments():
    m = Motif("m", "", np.full((2, 4), 0.25))
    with pytest.raises(InputError, match="pseudocount"):
        m.log_odds(pseudocount=-1)
    with pytest.raises(InputError, match="background"):
        m.log_odds(background=(0.5, 0.5))
    with pytest.raises(InputError, match="base"):
        m.log_odds(base=1)


def test_information_content_and_consensus():
    m = Motif("m", "", np.array([[1.0, 0, 0, 0], [0.25] * 4, [0, 0, 0.5, 0.5]]))
    np.testing.assert_allclose(m.information_content(), [2.0, 0.0, 1.0])
    assert m.consensus == "AAG"  # a tie goes to the first letter
    assert m.width == 3
    bg = (0.4, 0.1, 0.1, 0.4)
    assert m.information_content(bg)[0] == pytest.approx(math.log2(1 / 0.4))


def test_reverse_complement():
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.0, 0.0, 0.1, 0.9]])
    m = Motif("m", "x", probs, nsites=5)
    rc = m.reverse_complement()
    np.testing.assert_array_equal(rc.probs[0], [0.9, 0.1, 0.0, 0.0])  # last row, A<->T, C<->G
    np.testing.assert_array_equal(rc.probs[1], [0.1, 0.2, 0.6, 0.1])
    np.testing.assert_array_equal(rc.probs, probs[::-1, [3, 2, 1, 0]])
    np.testing.assert_array_equal(rc.reverse_complement().probs, probs)
    assert (rc.name, rc.alt_name, rc.nsites) == ("m", "x", 5)
    assert m.consensus == "ACT" and rc.consensus == "AGT"


def test_motif_is_read_only_and_validated():
    probs = np.full((2, 4), 0.25)
    m = Motif("m", "", probs)
    probs[0, 0] = 0.9  # the motif holds its own copy
    assert m.probs[0, 0] == 0.25
    with pytest.raises(ValueError):
        m.probs[0, 0] = 1.0
    with pytest.raises(InputError, match=r"shaped \(L, 4\)"):
        Motif("m", "", np.full((2, 5), 0.2))
    with pytest.raises(InputError, match="row 2 sums to 0.8"):
        Motif("m", "", np.array([[0.25] * 4, [0.2] * 4]))
    with pytest.raises(InputError, match="non-negative"):
        Motif("m", "", np.array([[1.5, -0.5, 0, 0]]))
    with pytest.raises(InputError, match="without spaces"):
        Motif("two words", "", probs)


# ---------------------------------------------------------------- MotifSet


def make_set():
    return MotifSet([Motif("a", "A1", np.full((3, 4), 0.25)), Motif("b", "", np.full((5, 4), 0.25)),
                     Motif("c", "C1", np.full((2, 4), 0.25))], source="x.meme")


def test_motifset_access():
    ms = make_set()
    assert len(ms) == 3 and ms.names == ("a", "b", "c") and ms.max_width == 5
    assert ms[1].name == "b" and ms[-1].name == "c" and ms["c"].alt_name == "C1"
    assert ms[np.int64(0)].name == "a"
    assert [m.name for m in ms] == ["a", "b", "c"]
    assert "b" in ms and "z" not in ms
    with pytest.raises(KeyError):
        ms["z"]
    np.testing.assert_array_equal(ms.background, [0.25] * 4)
    assert MotifSet([]).max_width == 0


def test_motifset_subset():
    ms = make_set()
    sub = ms.subset(["c", "a"])
    assert sub.names == ("c", "a") and sub.source == "x.meme"
    with pytest.raises(InputError, match="x.meme: 2 motif name.*zz, yy"):
        ms.subset(["a", "zz", "yy"])


def test_motifset_rejects_duplicate_names():
    m = Motif("a", "", np.full((1, 4), 0.25))
    with pytest.raises(InputError, match=r"x.meme: motif name 'a' is given twice: records 1 and 3"):
        MotifSet([m, Motif("b", "", m.probs), m], source="x.meme")


# ---------------------------------------------------------------- MEME files: real data


@pytest.mark.parametrize("name, count", [(VERTEBRATES, 879), (FUNGI, 178), (VIERSTRA, 637)])
def test_real_meme_files_parse(motif_dir, name, count):
    ms = read_meme(motif_dir / name)
    assert len(ms) == count == len(set(ms.names))
    for m in ms:
        assert m.probs.shape == (m.width, 4)
        np.testing.assert_allclose(m.probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(ms.background, [0.25] * 4)


def test_jaspar_meme_known_motif(motif_dir):
    ms = load_motifs(str(motif_dir / VERTEBRATES))
    m = ms["MA0002.3"]
    assert (m.alt_name, m.width, m.nsites) == ("Runx1", 9, 2000)
    np.testing.assert_allclose(m.probs[0], [0.0615, 0.536, 0.0745, 0.328], atol=1e-6)
    np.testing.assert_allclose(m.probs[-1], [0.25, 0.079, 0.1445, 0.5265], atol=1e-6)
    assert m.source == str(motif_dir / VERTEBRATES)
    assert ms["MA0139.2"].alt_name == "CTCF"


def test_vierstra_archetype_style(motif_dir):
    ms = read_meme(motif_dir / VIERSTRA)
    m = ms[0]
    assert (m.name, m.alt_name, m.width, m.nsites) == ("AC0001:GATA_PROP:GATA", "", 13, 20)
    np.testing.assert_allclose(m.probs[0], [0.676859, 0.103120, 0.104093, 0.115927], atol=1e-5)
    assert m.consensus == "ATAATGACATTAT"


def test_real_file_round_trip(motif_dir, tmp_path):
    ms = read_meme(motif_dir / VERTEBRATES)
    back = read_meme(write_meme(ms, tmp_path / "out.meme"))
    assert back.names == ms.names
    assert [m.alt_name for m in back] == [m.alt_name for m in ms]
    assert [m.nsites for m in back] == [m.nsites for m in ms]
    for a, b in zip(ms, back, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


# ---------------------------------------------------------------- MEME files: small ones


def test_round_trip_small(tmp_path):
    ms = MotifSet([Motif("MA1.1", "ONE", np.array([[0.1, 0.2, 0.3, 0.4], [0.123456789, 0.2, 0.3, 0.376543211]]),
                         nsites=7),
                   Motif("AC0001:X:Y", "", np.array([[1.0, 0.0, 0.0, 0.0]]))],
                  background=(0.3, 0.2, 0.2, 0.3))
    path = write_meme(ms, tmp_path / "sub" / "out.meme")
    back = read_meme(path)
    assert back.names == ms.names and [m.alt_name for m in back] == ["ONE", ""]
    assert [m.nsites for m in back] == [7, None]
    for a, b in zip(ms, back, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    np.testing.assert_allclose(back.background, [0.3, 0.2, 0.2, 0.3])
    assert not list((tmp_path / "sub").glob("*.tmp"))  # atomic: no temporary left behind
    with pytest.raises(InputError, match="no motifs to write"):
        write_meme([], tmp_path / "empty.meme")


def test_gzipped_meme_and_renormalised_rows(tmp_path):
    text = HEADER + "MOTIF M1\nletter-probability matrix: alength= 4 w= 1\n0.26 0.25 0.25 0.25\n"
    path = tmp_path / "m.meme.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    m = read_meme(path)["M1"]  # the row sums to 1.01, within tolerance: renormalised
    np.testing.assert_allclose(m.probs[0], np.array([0.26, 0.25, 0.25, 0.25]) / 1.01)
    assert m.nsites is None and m.alt_name == ""


def test_background_and_url_lines(tmp_path):
    text = (HEADER.replace("A 0.25 C 0.25 G 0.25 T 0.25", "A 0.3 C 0.2 G 0.2 T 0.3")
            + GOOD.replace("MOTIF M1 one\n", "MOTIF M1 one\nURL http://example.org/M1\n"))
    ms = read_meme(write(tmp_path, text))
    np.testing.assert_allclose(ms.background, [0.3, 0.2, 0.2, 0.3])
    assert ms.names == ("M1",) and ms[0].nsites == 10


BAD_MEME = [
    ("row sums", GOOD.replace("0.1 0.2 0.3 0.4", "0.1 0.2 0.3 0.5"), 12, "motif M1: matrix row sums to 1.1"),
    ("w mismatch", GOOD.replace("w= 2", "w= 3"), 11, "motif M1: w= 3 but 2 matrix rows follow"),
    ("three numbers", GOOD.replace("0.1 0.2 0.3 0.4", "0.1 0.2 0.7"), 12, "motif M1: a matrix row needs 4 numbers"),
    ("not a number", GOOD.replace("0.1 0.2 0.3 0.4", "0.1 abc 0.3 0.4"), 12, "motif M1: .*not a number"),
    ("nan", GOOD.replace("0.1 0.2 0.3 0.4", "0.1 nan 0.3 0.4"), 12, "motif M1: .*not a number"),
    ("negative", GOOD.replace("0.1 0.2 0.3 0.4", "-0.1 0.4 0.3 0.4"), 12, "motif M1: .*negative"),
    ("alength", GOOD.replace("alength= 4", "alength= 20"), 11, "motif M1: alength= 20"),
    ("duplicate", GOOD + GOOD.replace("one", "again"), 15,
     "motif name 'M1' is given twice: records 1 \\(line 10\\) and 2 \\(line 15\\)"),
    ("no matrix", "MOTIF M0\n\n" + GOOD, 10, "motif M0 has no letter-probability matrix"),
    ("blank inside", GOOD.replace("0.1 0.2 0.3 0.4\n", "0.1 0.2 0.3 0.4\n\n"), 13,
     "motif M1: a blank line inside its matrix"),
    ("no name", "MOTIF\n" + GOOD, 10, "MOTIF line without a motif name"),
]


@pytest.mark.parametrize("body, line, problem", [c[1:] for c in BAD_MEME], ids=[c[0] for c in BAD_MEME])
def test_bad_meme_names_file_line_and_motif(tmp_path, body, line, problem):
    path = write(tmp_path, HEADER + body)
    with pytest.raises(InputError, match=f"line {line}: {problem}") as err:
        read_meme(path)
    assert str(path) in str(err.value) and err.value.line == line


@pytest.mark.parametrize("text, problem", [
    ("", "MEME motif file is empty"),
    ("\n  \n\n", "MEME motif file is empty"),
    (">chr1\nACGTACGT\n", "line 1: not a MEME motif file: it starts with '>chr1'"),
    ("chr1\t100\t200\tpeak1\n", "line 1: not a MEME motif file"),
    (HEADER, "no motifs found"),
    (HEADER.replace("ALPHABET= ACGT", "ALPHABET= ACDEFGHIKLMNPQRSTVWY") + GOOD, "line 3: alphabet .* is not DNA"),
    (HEADER.replace("A 0.25 C 0.25 G 0.25 T 0.25", "A 0.25 C 0.25 G 0.25") + GOOD,
     "line 8: background letter frequencies must be"),
    (HEADER.replace("A 0.25 C 0.25 G 0.25 T 0.25", "A 0.5 C 0.5 G 0.5 T 0.5") + GOOD,
     "line 8: background frequencies sum to 2"),
])
def test_bad_meme_files(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=problem) as err:
        read_meme(path)
    assert str(err.value).startswith(str(path))


def test_binary_file_is_not_meme(tmp_path):
    path = tmp_path / "x.bw"
    path.write_bytes(b"\x26\xfc\x8f\x88\xff\xfe\x00\x01" * 8)
    with pytest.raises(InputError, match="not a MEME motif file") as err:
        read_meme(path)
    assert str(path) in str(err.value)


def test_load_motifs_unknown_spec(tmp_path):
    missing = tmp_path / "nope.meme"
    with pytest.raises(InputError, match="nope.meme: motif source not found") as err:
        load_motifs(missing)
    assert "jaspar:" in str(err.value)
    with pytest.raises(InputError, match="nope.meme: MEME motif file not found"):
        read_meme(missing)


# ---------------------------------------------------------------- JASPAR through pyjaspar


def latest_version(release, base_id):
    from pyjaspar import jaspardb

    jdb = jaspardb(release=release)
    return max(v for (v,) in jdb.conn.execute("SELECT VERSION FROM MATRIX WHERE BASE_ID = ?", (base_id,)))


def test_pyjaspar_vertebrates_match_the_meme_file(motif_dir):
    from_db = load_motifs("jaspar:2024/CORE/vertebrates")
    from_file = read_meme(motif_dir / VERTEBRATES)
    assert len(from_db) == 879 and sorted(from_db.names) == sorted(from_file.names)
    ctcf = from_db["MA0139.2"]
    assert ctcf.alt_name == "CTCF" and ctcf.source == "jaspar:2024" and ctcf.nsites == from_file["MA0139.2"].nsites
    np.testing.assert_allclose(ctcf.probs, from_file["MA0139.2"].probs, atol=1e-3)
    for m in from_file:  # every matrix, and JASPAR's nsites (first position's total)
        np.testing.assert_allclose(from_db[m.name].probs, m.probs, atol=1e-3)
        assert from_db[m.name].nsites == m.nsites


def test_jaspar_collections_and_taxa():
    assert len(read_jaspar("jaspar:2024/CORE/fungi")) == 178
    both = read_jaspar("jaspar:2024/core/Vertebrates,fungi")
    assert len(both) == 879 + 178
    everything = read_jaspar("jaspar:2024/CORE")
    assert len(everything) > len(both) and set(both.names) <= set(everything.names)


def test_jaspar_ids_and_latest_version():
    m = load_motifs("jaspar:MA0139")[0]
    assert m.name == f"MA0139.{latest_version('JASPAR2024', 'MA0139')}" == "MA0139.2"
    assert m.source == "jaspar:2024" and m.alt_name == "CTCF"
    np.testing.assert_allclose(m.probs.sum(axis=1), 1.0)
    assert load_motifs("jaspar:MA0002")[0].name == "MA0002.3"
    assert load_motifs("jaspar:2022/MA0002")[0].name == f"MA0002.{latest_version('JASPAR2022', 'MA0002')}"
    old = load_motifs("jaspar:2022/MA0139.1")
    assert old.names == ("MA0139.1",) and old[0].source == "jaspar:2022"
    pair = load_motifs("jaspar:MA0139.2,ma0079")
    assert pair.names[0] == "MA0139.2" and pair.names[1].startswith("MA0079.")


@pytest.mark.parametrize("address, problem, hint", [
    ("jaspar:1999/CORE/vertebrates", "JASPAR release JASPAR1999 is not available", "2024"),
    ("jaspar:2024/NOPE/vertebrates", "JASPAR2024 has no collection 'NOPE'", "CORE"),
    ("jaspar:2024/CORE/mammals", "JASPAR2024 has no taxon 'mammals'", "vertebrates"),
    ("jaspar:MA9999", "JASPAR matrix MA9999 not found in JASPAR2024", "jaspar.elixir.no"),
    ("jaspar:MA0139.9", "JASPAR matrix MA0139.9 not found in JASPAR2024", "MA0139.1, MA0139.2"),
    ("jaspar:2024", "cannot read this JASPAR address", "jaspar:2024/CORE/vertebrates"),
    ("jaspar:MA0139,MA0139.2", "motif name 'MA0139.2' is given twice", "unique"),
])
def test_jaspar_bad_addresses(address, problem, hint, capsys):
    with pytest.raises(InputError) as err:
        load_motifs(address)
    message = str(err.value)
    assert message.startswith(f"{address}: {problem}")
    assert hint in err.value.hint
    assert capsys.readouterr().out == ""  # pyjaspar's prints are silenced


def test_pyjaspar_database_is_sqlite():
    # the taxon and collection checks query pyjaspar's SQLite connection directly
    from pyjaspar import jaspardb

    assert isinstance(jaspardb(release="JASPAR2024").conn, sqlite3.Connection)


# ---------------------------------------------------------------- real-world shapes (issue 24)


def test_truncated_or_corrupt_gzip_meme_is_one_error_naming_the_file(tmp_path, cisgram_main):
    """The bundled JASPAR file, gzipped and cut short: `cisgram info` printed "Aborted." (exit 1)."""
    from cisgram.bundled import demo

    d = demo()
    whole = gzipped(d.motifs, tmp_path / "jaspar.meme.gz")
    assert len(read_meme(whole)) == 100
    for damage in (truncated, corrupt):
        bad = damage(whole, tmp_path / f"{damage.__name__}.meme.gz")
        with pytest.raises(InputError, match=TRUNCATED):
            read_meme(bad)
        code, out, err = cisgram_main("info", "--genome", d.genome, "--motifs", bad)
        assert code == 2 and err.startswith(f"error: {bad}: {TRUNCATED}") and len(err.strip().splitlines()) == 1
        assert "Aborted" not in out + err


def test_windows_line_endings_meme(tmp_path):
    from cisgram.bundled import demo

    plain = read_meme(demo().motifs)
    for path in (crlf(demo().motifs, tmp_path / "w.meme"), gzipped(tmp_path / "w.meme", tmp_path / "w.meme.gz")):
        windows = read_meme(path)
        assert windows.names == plain.names and np.array_equal(windows.background, plain.background)
        assert all(np.array_equal(a.probs, b.probs) and a.alt_name == b.alt_name for a, b in zip(windows, plain, strict=True))
