"""IQ calibration on held-out blocks: a block whose target is shifted gives a negative R² with a
good Pearson r; the line fitted on validation rows (``calibrate="val"``, or the
``r2_val_calibrated`` of ``metrics.json``) recovers it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cisgram.data.targets import TrainingData
from cisgram.errors import InputError
from cisgram.metrics import r2
from cisgram.models.iq import IQModel
from cisgram.models.iq_fit import IQConfig, fit_iq
from cisgram.motifs.pwm import Motif, MotifSet
from cisgram.workflows.rundir import metrics_table, validation_lines, write_run

ACGT = "ACGT"


def _table(split: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    parts = [pd.DataFrame({"region": [f"{s}{i}" for i in range(len(y))], "target": "t", "observed": y,
                           "predicted": p, "split": s}) for s, (y, p) in split.items()]
    return pd.concat(parts, ignore_index=True)


def test_shifted_block_has_negative_r2_and_the_validation_line_recovers_it():
    # training rows: observed = predicted; validation and test blocks: observed = predicted + 0.3
    preds = _table({"train": ([0.1, 0.5, 0.9], [0.1, 0.5, 0.9]),
                    "val": ([0.3, 0.8, 1.3], [0.0, 0.5, 1.0]),
                    "test": ([0.4, 0.5, 0.6], [0.1, 0.2, 0.3])})
    m = metrics_table(preds, "iq")
    test = m["test"]["t"]
    # by hand: SS_tot = 0.02, SS_res = 3 × 0.3² = 0.27, R² = 1 − 0.27 / 0.02 = −12.5; r = 1
    assert test["r2"] == pytest.approx(-12.5)
    assert test["pearson"] == pytest.approx(1.0)
    assert m["val_calibration"]["t"] == pytest.approx({"intercept": 0.3, "slope": 1.0, "n": 3})
    assert test["r2_val_calibrated"] == pytest.approx(1.0)
    assert m["train"]["t"]["r2"] == pytest.approx(1.0)  # the shift is the held-out blocks' own
    assert m["train"]["t"]["r2_val_calibrated"] == pytest.approx(1 - 3 * 0.09 / 0.32)


def test_validation_line_is_least_squares_and_scales_too():
    # val: observed = 0.2 + 0.5 × predicted + noise summing to zero against 1 and p
    p = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    e = np.array([0.01, -0.02, 0.0, 0.02, -0.01])
    line = validation_lines(_table({"val": (list(0.2 + 0.5 * p + e), list(p))}))["t"]
    assert line["intercept"] == pytest.approx(0.2) and line["slope"] == pytest.approx(0.5)
    # classification runs keep DESIGN's shape without the line
    lab = _table({"val": ([0, 1, 1], [0.2, 0.7, 0.9]), "test": ([0, 1, 0], [0.1, 0.8, 0.3])})
    m = metrics_table(lab, "cnn", task="classification")
    assert "val_calibration" not in m and "r2_val_calibrated" not in m["test"]["t"]


def _simulate(n: int, shift: float, seed: int = 0):
    """One planted activator: y = σ(link) + noise; rows from 400 on (the held-out blocks) get
    ``shift`` added, as a block whose target sits higher than the training blocks'."""
    rng = np.random.default_rng(seed)
    length = 200
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    cons = "TGACTCAT"
    k = rng.poisson(0.8, n)
    for r in range(n):
        for _ in range(k[r]):
            p = rng.integers(0, length - 8)
            codes[r, p:p + 8] = [ACGT.index(c) for c in cons]
    y = 1 / (1 + np.exp(-(1.5 * np.minimum(k, 3) - 2.0))) * 0.6 + rng.normal(0, 0.05, n)
    y[400:] += shift
    probs = np.full((8, 4), 0.04)
    probs[np.arange(8), [ACGT.index(c) for c in cons]] = 0.88
    db = MotifSet([Motif("act", "", probs), Motif("decoy", "", np.roll(probs, 1, axis=1))])
    return codes, np.clip(y, 0, 1), db


@pytest.fixture(scope="module")
def shifted():
    codes, y, db = _simulate(600, 0.25)
    idx = np.arange(len(y))
    train, val, test = idx < 400, (idx >= 400) & (idx < 500), idx >= 500
    fits = {c: fit_iq(codes, y[:, None], train, db, targets=["t"], val=val,
                      config=IQConfig(max_motifs=2, distill_steps=5, filter=False, covariates=False, calibrate=c))
            for c in ("train", "val")}
    return codes, y, train, val, test, fits


def test_validation_calibration_recovers_the_r2_of_a_shifted_block(shifted, tmp_path):
    codes, y, train, val, test, fits = shifted
    p = {c: f.model.predict(codes)[:, 0] for c, f in fits.items()}
    np.testing.assert_allclose(fits["train"].model.coef, fits["val"].model.coef)  # only the line differs
    r = np.corrcoef(p["train"][test], y[test])[0, 1]
    assert r > 0.6  # the ranking is good ...
    assert r2(y[test], p["train"][test]) < 0  # ... but the training line misses the block's level
    assert r2(y[test], p["val"][test]) > r ** 2 - 0.05  # the validation line reaches nearly r²
    assert np.corrcoef(p["val"][test], y[test])[0, 1] == pytest.approx(r)  # an affine map keeps r
    # the line stored in the model is the least-squares line from σ(link) to y on validation rows
    m = fits["val"].model
    s = 1 / (1 + np.exp(-m.link(m.design(m.energies(codes[val]), m.cov_values(codes[val])))[:, 0]))
    b, a = np.polyfit(s, y[val], 1)
    assert m.calibration[0].tolist() == pytest.approx([0.0, 1.0, a, a + b])
    assert m.info["config"]["calibrate"] == "val"
    m.save(tmp_path)
    np.testing.assert_allclose(IQModel.load(tmp_path).predict(codes[test])[:, 0], p["val"][test])


def test_metrics_json_reports_the_calibration_part(shifted, tmp_path):
    codes, y, train, val, test, fits = shifted
    split = np.where(train, "train", np.where(val, "val", "test"))
    data = TrainingData(pd.DataFrame({"region": [f"r{i}" for i in range(len(y))]}), codes, y[:, None], split, ["t"],
                        [{}], "", {})
    model = fits["train"].model
    write_run(tmp_path / "run", "iq", {}, data, model.predict(codes), model.save)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for s in ("train", "val", "test"):
        assert {"pearson", "r2", "r2_val_calibrated"} <= set(m[s]["t"])
    assert m["test"]["t"]["r2"] < 0 < m["test"]["t"]["r2_val_calibrated"]
    assert m["val"]["t"]["r2_val_calibrated"] == pytest.approx(m["val"]["t"]["pearson"] ** 2)  # in-sample on val
    assert set(m["val_calibration"]["t"]) == {"intercept", "slope", "n"}


def test_validation_calibration_needs_validation_rows():
    codes, y, db = _simulate(120, 0.0)
    train = np.arange(120) < 100
    with pytest.raises(InputError, match="calibrate must be one of"):
        fit_iq(codes, y[:, None], train, db, targets=["t"], config=IQConfig(calibrate="test"))
    with pytest.raises(InputError, match="at least 30 validation regions"):
        fit_iq(codes, y[:, None], train, db, targets=["t"], config=IQConfig(calibrate="val"))
    with pytest.raises(InputError, match="has 20"):
        fit_iq(codes, y[:, None], train, db, targets=["t"], val=~train, config=IQConfig(calibrate="val"))


def test_train_iq_refuses_an_unknown_calibration_before_training(cisgram_main, demo_dataset):
    code, out, err = cisgram_main("train", "iq", "-d", demo_dataset, "-T", "K562", "-o", demo_dataset.parent / "cal",
                                  "--calibrate", "test")
    assert code == 2 and "calibrate must be one of train, val" in out + err
    assert not (demo_dataset.parent / "cal" / "metrics.json").exists()
