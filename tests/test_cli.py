"""The command line: help, info on real files, the demo, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cisgram.bundled import demo


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cisgram", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("info", "demo"):
        assert cmd in r.stdout


def test_every_command_prints_its_help():
    """Every command and group renders its --help (a help text is rich markup: a stray [/...] broke
    `prepare --help`)."""
    from typer.testing import CliRunner

    from cisgram.cli.app import app

    commands = [[], ["info"], ["demo"], ["prepare"], ["scan"], ["get-data"], ["tfbind"], ["simulate"], ["compare"],
                ["variants"], ["predict"], ["train"], ["train", "iq"], ["train", "baseline"], ["train", "cnn"],
                ["train", "get"], ["train", "chrombpnet"], ["explain"], ["explain", "benchmark"], ["explain", "get"], ["tracks"],
                ["tracks", "insertions"], ["structure"]]
    for args in commands:
        r = CliRunner().invoke(app, [*args, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, (args, r.output[-500:])


def test_info_on_demo_files():
    d = demo()
    r = run("info", "--genome", str(d.genome), "--regions", str(d.peaks["K562"]), "--motifs", str(d.motifs))
    assert r.returncode == 0, r.stderr
    assert "50,818,468" in r.stdout and "408 regions (narrowPeak)" in r.stdout and "100 motifs" in r.stdout


def test_info_on_yeast_2bit(yeast):
    r = run("info", "-g", str(yeast / "genome" / "sacCer3.2bit"), "-r", str(yeast / "atac" / "hmmratac_accessible_regions.narrowPeak"))
    assert r.returncode == 0, r.stderr
    assert "17 sequence(s), 12,157,105 bp, format 2bit" in r.stdout and "1,605 regions" in r.stdout


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("22\t100\t200\n", "add 'chr'"),
        ("chr22\t50818400\t50818500\n", "past the chromosome end"),
        ("chr22\t200\t100\n", "start must be >= 0 and below end"),
    ],
)
def test_info_errors_are_one_or_two_lines(tmp_path, content, problem):
    bad = tmp_path / "bad.bed"
    bad.write_text(content)
    r = run("info", "--genome", str(demo().genome), "--regions", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and problem in r.stderr and str(bad) in r.stderr.replace("\n", "")
    assert len(r.stderr.strip().splitlines()) <= 3


def test_info_bad_genome(tmp_path):
    p = tmp_path / "genome.fa"
    p.write_text("not a genome\n")
    r = run("info", "--genome", str(p))
    assert r.returncode == 2 and "not a FASTA or 2bit" in r.stderr and "Traceback" not in r.stderr


def test_demo_runs_and_writes_outputs(tmp_path):
    r = run("demo", "--out", str(tmp_path / "demo"), "--stop-after", "prepare")  # the whole chain: tests/test_demo.py
    assert r.returncode == 0, r.stderr
    out = tmp_path / "demo"
    s = json.loads((out / "summary.json").read_text())
    assert s["n_regions"] == 905 and s["n_motifs"] == 100
    assert {c["name"] for c in s["conditions"]} == {"K562", "GM12878", "MCF7"}
    assert [c["peaks"] for c in s["conditions"]] == [408, 423, 477]
    # union regions cover every cell line's peaks: most regions carry signal in each cell line
    assert all(c["nonzero"] > 0.5 * s["n_regions"] for c in s["conditions"])
    assert all(0 < c["mean_access"] < 1 for c in s["conditions"])
    assert sum(s["split_counts"].values()) == s["n_regions"] and min(s["split_counts"].values()) > 0
    for name in ("dataset.h5ad", "split.json", "prepare_report.html"):
        assert (out / name).stat().st_size > 0
    assert "905 union regions" in r.stdout
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_train_cnn_passes_the_dense_head_switch(monkeypatch, tmp_path):
    """`--no-dense-norm` reaches the workflow as the published DeepSEA head; the default is the new one."""
    from typer.testing import CliRunner

    import cisgram.workflows.train_cnn as wf
    from cisgram.cli.app import app

    seen = []
    monkeypatch.setattr(wf, "train_cnn", lambda *a, **k: seen.append(k.get("arch_params")))
    for extra, want in (([], {"dense_norm": True}), (["--no-dense-norm"], {"dense_norm": False}),
                        (["--arch", "dilated"], None)):
        r = CliRunner().invoke(app, ["train", "cnn", "-d", str(tmp_path / "d.h5ad"), "-o", str(tmp_path / "o"), *extra])
        assert r.exit_code == 0, r.output
        assert seen[-1] == want
