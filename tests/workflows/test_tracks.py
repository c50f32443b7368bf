"""``cisgram tracks insertions``: the workflow (fragment file in, bigWig out), the command's summary
lines, its one-line errors with exit status 2, and no output left by an interrupted write.

All on a hand-made two-chromosome FASTA and fragment file (no shared data needed); the real yeast
file is checked against a brute-force count in tests/test_insertions.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from cisgram.cli.app import app
from cisgram.tracks import open_bigwig
from cisgram.workflows import tracks as wf

ROWS = [
    ("chrA", 10, 20, "x-1", 1),
    ("chrA", 10, 30, "y-1", 4),
    ("chrB", 0, 50, "w-1", 1),
    ("chrA", 2, 8, "x-1", 1),
]


@pytest.fixture
def files(tmp_path):
    genome = tmp_path / "genome.fa"
    genome.write_text(">chrA\n" + "ACGT" * 25 + "\n>chrB\n" + "A" * 50 + "\n>chrC\n" + "C" * 20 + "\n")
    frags = tmp_path / "frags.tsv"
    frags.write_text("# hand-made\n" + "".join("\t".join(map(str, r)) + "\n" for r in ROWS))
    return genome, frags


def intervals(path) -> tuple[dict, dict]:
    bw = open_bigwig(path)
    try:
        return {c: list(bw.intervals(c) or ()) for c in bw.chroms()}, bw.chroms()
    finally:
        bw.close()


def test_workflow_barcode_group(files, tmp_path):
    genome, frags = files
    out = tmp_path / "out" / "x.bw"
    r = wf.insertion_bigwig(f"{frags}:x-1,w-1", genome, out)
    assert r.path == out and r.fragments == frags and r.barcodes == ("x-1", "w-1") and r.shift == (0, 0)
    assert (r.n_fragments, r.n_insertions, r.n_dropped, r.n_unmatched, r.n_positions) == (3, 6, 0, 1, 6)
    got, header = intervals(out)
    assert header == {"chrA": 100, "chrB": 50, "chrC": 20}  # every genome chromosome, in order
    assert got == {"chrA": [(2, 3, 1.0), (7, 8, 1.0), (10, 11, 1.0), (19, 20, 1.0)],
                   "chrB": [(0, 1, 1.0), (49, 50, 1.0)], "chrC": []}


def test_cli_summary_and_shift(files, tmp_path):
    genome, frags = files
    out = tmp_path / "all.bw"
    r = CliRunner().invoke(app, ["tracks", "insertions", str(frags), "-g", str(genome), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "4 fragments, shift +0 / +0: 8 insertions at 7 bases; wrote" in r.output and "dropped" not in r.output
    r = CliRunner().invoke(app, ["tracks", "insertions", str(frags), "-g", str(genome), "-o", str(out),
                                 "--shift-plus", "-3", "--shift-minus", "-5"])
    assert r.exit_code == 0, r.output
    # chrA 2-8 -> -1 (dropped), 2; chrA 10-20 -> 7, 14; 10-30 -> 7, 24; chrB 0-50 -> -3 (dropped), 44
    assert "shift -3 / -5: 6 insertions" in r.output
    assert "dropped 2 insertion(s) shifted off a chromosome end (first at line 4)" in r.output
    got, _ = intervals(out)
    assert got["chrA"] == [(2, 3, 1.0), (7, 8, 2.0), (14, 15, 1.0), (24, 25, 1.0)] and got["chrB"] == [(44, 45, 1.0)]
    help_text = CliRunner().invoke(app, ["tracks", "insertions", "--help"]).output
    assert "--tn5-shift" in help_text and "--no-shift" in help_text


@pytest.mark.parametrize(
    ("rows", "spec", "extra", "problem"),
    [
        (ROWS, ":x-1,zz-9", [], "never occur in the file (fragments without the barcode): zz-9"),
        ([*ROWS, ("chr7", 1, 5, "x-1", 1)], "", [], "line 6: fragment on chromosome 'chr7', which is not in the genome"),
        ([*ROWS[:2], ("chrA", 1, "x", "x-1", 1)], "", [], "line 4: end 'x' is not a non-negative integer"),
        (ROWS, "", ["--tn5-shift", "--shift-plus", "3"], "give either --tn5-shift or --shift-plus"),
    ],
)
def test_cli_errors_are_one_line_exit_2(files, tmp_path, rows, spec, extra, problem):
    genome, _ = files
    frags = tmp_path / "bad.tsv"
    frags.write_text("# header\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    out = tmp_path / "bad.bw"
    r = subprocess.run([sys.executable, "-m", "cisgram", "tracks", "insertions", f"{frags}{spec}", "-g", str(genome),
                        "-o", str(out), *extra], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    err = r.stderr.replace("\n", " ")
    assert "Traceback" not in r.stderr and problem in err, r.stderr
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) <= 2
    if not extra:
        assert str(frags) in err
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_interrupted_write_leaves_no_output(files, tmp_path, monkeypatch):
    genome, frags = files
    real = wf.write_bigwig

    def failing(path, sizes, entries):
        def first_then_fail():
            yield next(iter(entries))
            raise OSError("No space left on device")

        return real(path, sizes, first_then_fail())

    monkeypatch.setattr(wf, "write_bigwig", failing)
    out = tmp_path / "ins.bw"
    with pytest.raises(OSError, match="No space left"):
        wf.insertion_bigwig(frags, genome, out)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    out.write_bytes(b"an earlier track")
    with pytest.raises(OSError, match="No space left"):
        wf.insertion_bigwig(frags, genome, out)
    assert out.read_bytes() == b"an earlier track" and not list(tmp_path.glob(".*.tmp"))
    monkeypatch.undo()
    r = wf.insertion_bigwig(frags, genome, out)
    assert r.n_insertions == 8 and np.isclose(sum(v for c in intervals(out)[0].values() for *_, v in c), 8)
