"""`cisgram calibrate`: a ChromBPNet run's log counts on a dataset's AP target, fitted on
validation only, compared with a baseline by `cisgram compare` (on the planted simulation of
test_train_chrombpnet)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cisgram
from cisgram.cli.app import app
from cisgram.data.dataset import prepare
from cisgram.errors import InputError
from cisgram.workflows.calibrate import calibrate_counts
from cisgram.workflows.compare import compare_runs
from cisgram.workflows.train_baseline import train_baseline


def _dataset(sim, path, split):
    prepare(sim.fasta, [sim.peaks], tracks=[f"sim={sim.bigwig}"], width=200, split=split, out=path)
    return path


@pytest.fixture(scope="module")
def calibrated(chrombpnet_sim, chrombpnet_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibrate")
    ds = _dataset(chrombpnet_sim, tmp / "ds.h5ad", "chroms:chr3/chr4")  # the run's own hold-out
    out = tmp / "cal"
    result = calibrate_counts(chrombpnet_run[0], ds, "sim", out)
    return ds, out, result


def test_the_map_is_least_squares_on_validation_and_predicts_test_ap(calibrated):
    ds, out, result = calibrated
    preds = pd.read_parquet(out / "predictions.parquet")
    val = preds[preds["split"] == "val"]
    slope, intercept = np.polyfit(val["log_count"], val["observed"], 1)  # an independent fit on val rows
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["fitted_on"] == "val" and cal["n_val"] == len(val)
    assert cal["slopes"][0] == pytest.approx(slope, rel=1e-6) and cal["intercept"] == pytest.approx(intercept, rel=1e-6)
    np.testing.assert_allclose(preds["predicted"], intercept + slope * preds["log_count"], rtol=1e-6)
    # the counts of the planted peaks carry their accessibility: r on held-out chr3 and an R² on the AP scale
    m = json.loads((out / "metrics.json").read_text())
    assert m["family"] == "calibrated" and m["test"]["sim"]["pearson"] > 0.8 and m["test"]["sim"]["r2"] > 0.5
    assert 0 < m["test"]["sim"]["most_common_share"] < 0.05  # one value per region
    assert m["n_params"] > 1000 and m["train_seconds"] > 0
    assert json.loads((out / "split.json").read_text())["test_chroms"] == ["chr3"]
    with pytest.raises(InputError, match="calibrated run"):
        cisgram.load(out)


def test_compare_places_it_beside_a_baseline(calibrated, tmp_path):
    ds, out, _ = calibrated
    train_baseline(ds, ["sim"], tmp_path / "gc", kind="gc")
    res = compare_runs([out, tmp_path / "gc"], tmp_path / "cmp", n_boot=50)
    test = res.comparison["metrics"]["test"]["sim"]
    assert {"cal", "gc", "ensemble:mean", "ensemble:stacked"} <= set(test)
    assert test["cal"]["pearson"] > test["gc"]["pearson"]  # the planted motif, not GC, drives the signal
    assert test["cal"]["n"] == test["gc"]["n"]


def test_a_run_that_trained_on_held_out_regions_is_refused(chrombpnet_sim, chrombpnet_run, tmp_path):
    ds = _dataset(chrombpnet_sim, tmp_path / "other.h5ad", "chroms:chr1/chr2")  # the run trained on chr1 and chr2
    with pytest.raises(InputError, match="trained on .* validation/test regions"):
        calibrate_counts(chrombpnet_run[0], ds, "sim", tmp_path / "cal")
    assert not (tmp_path / "cal" / "metrics.json").exists()
    r = CliRunner().invoke(app, ["calibrate", str(chrombpnet_run[0]), "-d", str(ds), "-T", "sim", "--vs", "x",
                                 "-o", str(tmp_path / "c2")])
    assert r.exit_code != 0 and "two with --vs" in str(r.exception)
