"""Run directories end to end on the bundled demo slice: `cisgram train iq|baseline`, the files
DESIGN asks for, `cisgram.load(run).predict` on regions and sequences, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cisgram
from cisgram.bundled import demo
from cisgram.cli import app

RUN_FILES = {"config.json", "split.json", "metrics.json", "predictions.parquet", "report.html", "model.json"}


@pytest.fixture(scope="module")
def iq_run(demo_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "iq"
    res = CliRunner().invoke(app, ["train", "iq", "-d", str(demo_dataset), "-T", "K562", "-T", "GM12878",
                                   "-m", str(demo().motifs), "--max-motifs", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_iq_run_directory_is_complete(iq_run):
    assert RUN_FILES | {"model.safetensors", "pipeline.json"} <= {p.name for p in iq_run.iterdir()}
    metrics = json.loads((iq_run / "metrics.json").read_text())
    assert metrics["family"] == "iq"
    for split in ("train", "val", "test"):
        assert set(metrics[split]) == {"K562", "GM12878"}
        assert {"pearson", "spearman", "r2", "pearson_r2", "n"} <= set(metrics[split]["K562"])
    # real accessibility is predicted from sequence on held-out blocks, not just fitted
    assert metrics["test"]["K562"]["pearson"] > 0.2
    preds = pd.read_parquet(iq_run / "predictions.parquet")
    assert list(preds.columns) == ["region", "target", "observed", "predicted", "split"]
    report = (iq_run / "report.html").read_text()
    assert "ΔR²" in report and "nearest" in report and report.count("<img") > 10


def test_loaded_run_predicts_what_it_wrote(iq_run, demo_dataset):
    run = cisgram.load(iq_run)
    assert run.family == "iq" and run.targets == ["K562", "GM12878"]
    preds = pd.read_parquet(iq_run / "predictions.parquet")
    k = preds[preds["target"] == "K562"].head(20)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[k["region"]]
    regions = var[["chrom", "start", "end"]].reset_index(drop=True)
    got = run.predict(regions=regions)
    np.testing.assert_allclose(got["K562"].to_numpy(), k["predicted"].to_numpy(), rtol=1e-9)
    # the same from sequences, and edits: the reference base changes nothing, another base moves the prediction
    from cisgram.genome import Genome

    codes = Genome(run.config["genome"]).fetch_codes_batch(regions["chrom"], regions["start"], regions["end"])
    seqs = ["".join("ACGTN"[c] for c in row) for row in codes[:3]]
    np.testing.assert_allclose(run.predict(seqs)["K562"].to_numpy(), k["predicted"].to_numpy()[:3], rtol=1e-9)
    edits = [(0, 250, "ACGTN"[codes[0, 250]])] + [(0, p, b) for p in range(240, 260) for b in "ACGT"]
    scored = run.score_edits(codes, edits)
    assert scored.loc[0, "delta:K562"] == 0
    assert np.abs(scored["delta:K562"]).max() > 0


def test_track_covariate_enters_the_model_and_is_read_again_on_new_regions(iq_run, demo_dataset, tmp_path):
    out = tmp_path / "iq_track"
    bw = demo().accessibility["K562"]
    res = CliRunner().invoke(app, ["train", "iq", "-d", str(demo_dataset), "-T", "K562", "-m", str(demo().motifs),
                                   "--max-motifs", "1", "--no-simplify", "--track", f"K562dnase={bw}", "-o", str(out)])
    assert res.exit_code == 0, res.output
    # the target's own accessibility track as a covariate: far better than sequence alone
    r_track = json.loads((out / "metrics.json").read_text())["test"]["K562"]["pearson"]
    r_seq = json.loads((iq_run / "metrics.json").read_text())["test"]["K562"]["pearson"]
    assert r_track > 0.7 and r_track > r_seq + 0.2, (r_track, r_seq)
    run = cisgram.load(out)
    assert run.model.extra == ["track:K562dnase"] and json.loads((out / "config.json").read_text())["tracks"]
    preds = pd.read_parquet(out / "predictions.parquet").head(15)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[preds["region"]]
    got = run.predict(regions=var[["chrom", "start", "end"]].reset_index(drop=True))
    np.testing.assert_allclose(got["K562"].to_numpy(), preds["predicted"].to_numpy(), rtol=1e-9)
    with pytest.raises(cisgram.errors.InputError, match="track covariates"):
        run.predict(["A" * run.length])
    r = subprocess.run([sys.executable, "-m", "cisgram", "train", "iq", "-d", str(demo_dataset), "-T", "K562",
                        "--track", "nothing.bw", "-o", str(tmp_path / "bad")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "NAME=FILE.bw" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_baseline_run_has_the_same_shape(demo_dataset, tmp_path):
    out = tmp_path / "gc"
    res = CliRunner().invoke(app, ["train", "baseline", "--kind", "gc", "-d", str(demo_dataset), "-T", "K562", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["family"] == "baseline" and set(metrics["test"]) == {"K562"}
    run = cisgram.load(out)
    assert run.family == "baseline" and run.targets == ["K562"]
    preds = pd.read_parquet(out / "predictions.parquet").head(10)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[preds["region"]]
    got = run.predict(regions=var[["chrom", "start", "end"]].reset_index(drop=True))
    np.testing.assert_allclose(got["K562"].to_numpy(), preds["predicted"].to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("args, message", [
    (["-T", "HeLa"], "HeLa"),
    (["-T", "K562", "-T", "K562"], "twice"),
    (["-T", "K562", "--vs", "K562"], "differ"),
])
def test_bad_targets_are_one_line_errors(demo_dataset, tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "cisgram", "train", "iq", "-d", str(demo_dataset), *args,
                        "-o", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3
    assert not (tmp_path / "r").exists()


def test_load_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(cisgram.errors.InputError, match="not a run directory"):
        cisgram.load(tmp_path)


def test_iq_report_renders_in_chromium(iq_run, tmp_path):
    """The IQ run report (metrics, bars, scatters, logos, responses, spatial profiles) opens in
    headless Chromium with every image loaded and no script error."""
    from tests.browser import assert_renders

    assert assert_renders(iq_run / "report.html", tmp_path)["images"] >= 4 * 3
