"""The domain an IQ model was fitted on (peaks, or peaks plus GC-matched background with AP 0),
recorded in the run and read back by `cisgram predict`; and the report's per-motif figures
(positional frequency of best sites, the target in energy bins), computed by the workflow."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

import cisgram
from cisgram.bundled import demo
from cisgram.data.dataset import dataset_split, read_dataset
from cisgram.data.targets import domain_label, training_data
from cisgram.errors import InputError
from cisgram.models.iq_fit import IQConfig
from cisgram.motifs.features import Bins
from cisgram.motifs.pwm import Motif
from cisgram.report.iq import iq_report
from cisgram.workflows.predict import fitted_domain, predict_regions
from cisgram.workflows.train_iq import energy_bins, site_positions, train_iq


@pytest.fixture(scope="module")
def bg_run(demo_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "iq_bg"
    cfg = IQConfig(max_motifs=3, distill_steps=20, filter=False)
    return train_iq(demo_dataset, ["K562"], out, motifs=str(demo().motifs), config=cfg, background=1.0)


def test_background_rows_get_access_probability_zero_in_their_own_split(demo_dataset):
    peaks = training_data(demo_dataset, ["K562"])
    both = training_data(demo_dataset, ["K562"], background=1.0)
    kind = both.regions["kind"].to_numpy()
    n_peak = len(peaks.regions)
    assert (kind[:n_peak] == "peak").all() and (kind[n_peak:] == "background").all()
    assert abs((kind == "background").sum() - n_peak) <= 0.02 * n_peak  # one window per peak, GC bins allowing
    np.testing.assert_array_equal(both.Y[:n_peak], peaks.Y)
    assert (both.Y[n_peak:] == 0).all()
    assert both.codes.shape == (len(kind), peaks.codes.shape[1])
    bg = both.regions[kind == "background"]
    assert bg["region"].str.startswith("bg:").all()
    split = dataset_split(read_dataset(demo_dataset))
    np.testing.assert_array_equal(split.assign(bg), both.split[n_peak:])
    for s in ("train", "val", "test"):  # matched within each split
        assert (both.split[n_peak:] == s).sum() == pytest.approx((peaks.split == s).sum(), rel=0.05)
    with pytest.raises(InputError, match="dAP"):
        training_data(demo_dataset, ["K562"], vs="GM12878", background=1.0)


def test_domain_is_recorded_and_read_back(bg_run, demo_dataset, tmp_path, caplog):
    config = json.loads((bg_run.path / "config.json").read_text())
    assert config["domain"] == domain_label(1.0) == "peaks+background (ratio 1, GC-matched)"
    assert config["background"] == 1.0
    assert fitted_domain(cisgram.load(bg_run.path).config) == config["domain"]
    assert fitted_domain({"family": "iq"}) == "peaks"  # an IQ run from before the key existed
    assert fitted_domain({"family": "cnn"}) is None
    bed = tmp_path / "r.bed"
    bed.write_text("chr22\t20000000\t20000500\nchr22\t21000000\t21000500\n")
    with caplog.at_level(logging.WARNING, logger="cisgram.workflows.predict"):
        predict_regions(bg_run.path, bed, tmp_path / "p.parquet")
    assert "outside its domain" not in caplog.text
    peaks_only = tmp_path / "peaks_only"  # the same model, its config saying peaks
    peaks_only.mkdir()
    for f in bg_run.path.iterdir():
        if f.is_file():
            (peaks_only / f.name).write_bytes(f.read_bytes())
    (peaks_only / "config.json").write_text(json.dumps({**config, "domain": "peaks"}))
    with caplog.at_level(logging.WARNING, logger="cisgram.workflows.predict"):
        predict_regions(peaks_only, bed, tmp_path / "p2.parquet")
    assert "this IQ model was fitted on peaks only; predictions on other sequence are outside its domain" in caplog.text
    # the model learnt closed chromatin: background rows are predicted below peaks on held-out blocks
    p = bg_run.predictions
    test = p[p["split"] == "test"]
    is_bg = test["region"].str.startswith("bg:")
    assert test.loc[is_bg, "predicted"].mean() < test.loc[~is_bg, "predicted"].mean()
    # metrics.json scores the peaks apart too: the same numbers as the peaks' rows alone
    peaks = json.loads((bg_run.path / "metrics.json").read_text())["subsets"]["peaks"]
    assert peaks["test"][config["targets"][0]]["n"] == int((~is_bg).sum())


def test_report_shows_domain_site_positions_and_energy_bins(bg_run, tmp_path):
    m = bg_run.motifs[0]
    assert m.site_positions["counts"].sum() == m.site_positions["n_strong"] > 0
    boxes = m.energy_bins["K562"]["stats"]
    assert sum(b["n"] for b in boxes) == int((bg_run.predictions.query("split == 'train'")["target"] == "K562").sum())
    m.seed = "ACGTACGT"  # a cluster record with a seed k-mer is shown; none is shown without one
    path = tmp_path / "report.html"
    iq_report(path, bg_run)
    html = path.read_text()
    assert "peaks+background (ratio 1, GC-matched)" in html
    assert html.count("site positions") == sum(x.site_positions["n_strong"] > 0 for x in bg_run.motifs)
    assert html.count("K562 energy bins") == len(bg_run.motifs)
    assert html.count("seed k-mer") == 1 and "ACGTACGT" in html


def test_positional_frequency_of_a_planted_motif_peaks_at_its_offset():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(300, 500), dtype=np.uint8)
    site = np.array([2, 0, 3, 3, 1, 0, 2, 1, 2, 3], dtype=np.uint8)  # GATTCAGCGT
    probs = np.full((10, 4), 0.01)
    probs[np.arange(10), site] = 0.97
    start = 249 - 4 + 60  # centre (start + 4.5) sits 60 bp right of the region centre (249.5)
    codes[:200, start:start + 10] = site
    out = site_positions(codes, Motif("planted", "planted", probs), Bins.default(500), bin_bp=10)
    assert out["n_strong"] >= 200 and out["counts"].sum() == out["n_strong"]
    peak = int(np.argmax(out["counts"]))
    assert out["edges"][peak] <= 60 < out["edges"][peak + 1]
    assert out["counts"][peak] >= 200


def test_energy_bins_are_boxes_of_the_target_per_unit_bin():
    e = np.array([0.2, 0.5, 0.7, 3.1, 3.9, 10.0, 9.5, np.nan])
    y = np.array([0.0, 0.1, 0.2, 0.5, 0.5, 1.0, 0.8, 0.3])
    out = energy_bins(e, y)
    assert [b["label"] for b in out["stats"]] == ["0", "3", "9"]
    assert [b["n"] for b in out["stats"]] == [3, 2, 2]
    assert out["stats"][0]["med"] == pytest.approx(0.1) and out["stats"][2]["whishi"] == pytest.approx(1.0)


def test_baselines_take_background_too(demo_dataset, tmp_path):
    from cisgram.workflows.train_baseline import train_baseline

    res = train_baseline(demo_dataset, ["K562"], tmp_path / "gc_bg", kind="gc", background=1.0)
    config = json.loads((res.path / "config.json").read_text())
    assert config["domain"] == domain_label(1.0) and fitted_domain(config) == config["domain"]
    p = res.predictions
    is_bg = p["region"].str.startswith("bg:")
    assert is_bg.sum() > 0 and (p.loc[is_bg, "observed"] == 0).all()
    test = p[p["split"] == "test"]
    bg = test["region"].str.startswith("bg:")
    assert test.loc[bg, "predicted"].mean() < test.loc[~bg, "predicted"].mean()  # closed windows predicted lower
    metrics = json.loads((res.path / "metrics.json").read_text())
    peaks = test[~bg]
    r = np.corrcoef(peaks["observed"], peaks["predicted"])[0, 1]
    assert metrics["subsets"]["peaks"]["test"]["K562"]["pearson"] == pytest.approx(r, abs=1e-6)
    assert json.loads((train_baseline(demo_dataset, ["K562"], tmp_path / "gc", kind="gc").path
                       / "config.json").read_text())["domain"] == "peaks"
