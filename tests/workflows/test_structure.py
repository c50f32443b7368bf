"""``cisgram structure``: the workflow's files, the report's figures and the command's lines and
refusals, on the real AlphaFold models in ../shared/data/structures."""

from __future__ import annotations

import json
import re
import sys

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from cisgram.cli.structure import structure
from cisgram.errors import InputError
from cisgram.report.structure import structure_report
from cisgram.workflows.structure import structure_check

TP53 = "structures/AF-P04637-F1-model_v4.pdb"
MULTIMER = "structures/5b8c_multimer_model_4.pdb"
MULTIMER_PAE = "structures/5b8c_multimer_model_4.scores.json.gz"


def cli() -> typer.Typer:
    """An app holding only the command, as cisgram.cli.app registers it (``app.command()(structure)``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(structure)
    return app


def test_workflow_and_report_on_the_multimer(shared, tmp_path):
    out = tmp_path / "run"
    result = structure_check(shared / MULTIMER, out, pae=shared / MULTIMER_PAE)
    assert sorted(p.name for p in out.iterdir()) == ["chain_pairs.tsv", "config.json", "segments.tsv"]
    pairs = pd.read_csv(out / "chain_pairs.tsv", sep="\t")
    assert pairs[["chain_a", "chain_b"]].values.tolist() == [["A", "B"], ["A", "C"], ["B", "C"]]
    assert pairs["pdockq"].between(0, 1, inclusive="neither").all()
    assert pairs["min_pae"].tolist() == pytest.approx(result.pairs["min_pae"].tolist(), abs=1e-4)
    assert pairs.loc[0, "min_pae"] == pytest.approx(0.98)  # the A-B block's minimum, B aligned, A scored
    segs = pd.read_csv(out / "segments.tsv", sep="\t")
    assert segs.groupby("chain")["length"].sum().to_dict() == {"A": 139, "B": 120, "C": 111}
    conf = json.loads((out / "config.json").read_text())
    assert conf["chains"] == {"A": 139, "B": 120, "C": 111} and conf["iptm"] == 0.84 and conf["threshold"] == 70.0
    assert result.pae.shape == (370, 370) and result.chain_starts == [0, 139, 259]

    structure_report(out / "report.html", result)
    page = (out / "report.html").read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert images == ["pLDDT along chain A", "pLDDT along chain B", "pLDDT along chain C",
                      "predicted aligned error matrix"]
    assert "src=\"http" not in page and "pDockQ" in page and "A–B" in page


def test_one_chain_writes_no_pair_table(shared, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "chain_pairs.tsv").write_text("left over from an earlier model\n")
    result = structure_check(shared / TP53, out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "segments.tsv"]
    assert result.pairs is None and result.pae is None
    folded = result.segments[result.segments["kind"] == "folded"]
    assert folded[["start", "end"]].values.tolist() == [[96, 292], [324, 355]]
    structure_report(out / "report.html", result)
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 1


def test_command_prints_segments_and_pairs(shared, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli(), ["--model", str(shared / MULTIMER), "--pae", str(shared / MULTIMER_PAE),
                                   "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("4 segment(s) on 3 chain(s), folded: A:1-119, B:1-120, C:1-111")
    assert "A-B pDockQ 0.274 (38 contacts, min PAE 0.98 Å)" in lines[1]
    assert "B-C pDockQ 0.535 (58 contacts, min PAE 0.91 Å)" in lines[1]
    assert (out / "report.html").is_file()


def test_command_refuses_bad_input(shared, tmp_path):
    runner = CliRunner()
    wrong_pae = runner.invoke(cli(), ["--model", str(shared / TP53), "--pae", str(shared / MULTIMER_PAE),
                                      "--out", str(tmp_path / "a")])
    missing = runner.invoke(cli(), ["--model", str(tmp_path / "absent.pdb"), "--out", str(tmp_path / "b")])
    for r, text in ((wrong_pae, "370 x 370"), (missing, "absent.pdb")):
        assert r.exit_code != 0 and isinstance(r.exception, InputError), r.output
        assert text in str(r.exception) and "Traceback" not in r.output
    assert not (tmp_path / "a" / "report.html").exists()


def test_main_turns_the_refusal_into_exit_2(shared, tmp_path, monkeypatch, capsys):
    """Through cisgram's own main(): one short message on stderr, no traceback, status 2."""
    from cisgram.cli import app as cli_app

    monkeypatch.setattr(cli_app, "app", cli())
    monkeypatch.setattr(sys, "argv", ["cisgram", "--model", str(shared / TP53), "--pae", str(shared / MULTIMER_PAE),
                                      "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit) as e:
        cli_app.main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "370 x 370" in err and "393 residues" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3


def test_command_passes_the_segmentation_rule(shared, tmp_path):
    r = CliRunner().invoke(cli(), ["--model", str(shared / TP53), "--out", str(tmp_path), "--min-length", "1"])
    assert r.exit_code == 0, r.output
    assert "folded: A:24-25, A:96-182, A:187-292, A:324-355" in r.output  # the raw threshold runs
    assert json.loads((tmp_path / "config.json").read_text())["min_length"] == 1
