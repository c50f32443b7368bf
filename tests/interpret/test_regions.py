"""Region-level scores and sequence-bootstrap intervals of the attribution benchmark
(:mod:`cisgram.interpret.regions`), checked against brute force with scikit-learn; and the
benchmark's DanQ run, whose DeepLIFT row is marked not available instead of failing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cisgram.errors import InputError
from cisgram.interpret.attribution import recovery
from cisgram.interpret.regions import (
    bootstrap_weights,
    interval,
    method_pairs,
    pair_counts,
    paired_difference,
    region_recovery,
    sequence_bootstrap,
    weighted_auroc,
    window_scores,
    window_truth,
    winners,
)


def _planted(n: int = 30, length: int = 203, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random importances ``(n, length)`` and 1-2 planted sites of 10-19 bp per sequence, placed
    anywhere (the last one may fall in the dropped tail)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, length), bool)
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            a = int(rng.integers(0, length - 20))
            truth[i, a: a + int(rng.integers(10, 20))] = True
    scores = rng.gamma(1.0, 1.0, (n, length)) + 2.0 * truth * rng.random((n, length))
    return scores, truth


def _brute_force(scores: np.ndarray, truth: np.ndarray, width: int) -> tuple[float, float]:
    """Pooled and mean per-sequence region auROC by looping over the windows."""
    labels, values, per_seq = [], [], []
    for s, t in zip(scores, truth, strict=True):
        lab, val = [], []
        for a in range(0, len(s) - width + 1, width):  # full windows only
            lab.append(bool(t[a: a + width].any()))
            val.append(float(s[a: a + width].sum()))
        val = np.array(val) / sum(val)
        labels += lab
        values += list(val)
        if 0 < sum(lab) < len(lab):
            per_seq.append(roc_auc_score(lab, val))
    return roc_auc_score(labels, values), float(np.mean(per_seq))


@pytest.mark.parametrize("width", [20, 30, 47, 50])
def test_region_auroc_equals_a_brute_force_loop_over_windows(width):
    scores, truth = _planted()
    got = region_recovery(scores, truth, width)
    pooled, per_seq = _brute_force(scores, truth, width)
    assert got["region_auroc"] == pytest.approx(pooled, abs=1e-12)
    assert got["region_auroc_per_sequence"] == pytest.approx(per_seq, abs=1e-12)
    assert got["n_windows"] == 203 // width


def test_windows_drop_the_shorter_tail():
    scores = np.arange(10, dtype=float)[None]
    truth = np.zeros((1, 10), bool)
    truth[0, 9] = True  # only in the dropped tail
    np.testing.assert_array_equal(window_scores(scores, 4), [[6, 22]])
    np.testing.assert_array_equal(window_truth(truth, 4), [[False, False]])
    truth[0, 4] = True
    np.testing.assert_array_equal(window_truth(truth, 4), [[False, True]])
    with pytest.raises(InputError, match="region width"):
        window_scores(scores, 11)


def test_all_attribution_on_the_planted_sites_scores_one_at_both_resolutions():
    _, truth = _planted(seed=1)
    perfect = truth.astype(float)
    assert recovery(perfect, truth)["auroc"] == 1.0
    assert region_recovery(perfect, truth, 30)["region_auroc"] == 1.0
    boot = sequence_bootstrap({"perfect": perfect}, truth, width=30, n_boot=50)
    assert boot.points["perfect"] == {"base": 1.0, "region": 1.0}
    assert boot.intervals["perfect"]["base"] == (1.0, 1.0) and boot.intervals["perfect"]["region"] == (1.0, 1.0)


def test_weighted_auroc_is_the_pooled_auroc_and_a_bootstrap_draw_is_a_resample():
    scores, truth = _planted(n=12, seed=2)
    scores = np.round(scores, 1)  # ties, counted as 1/2 as scikit-learn does
    counts = pair_counts(scores, truth)
    assert weighted_auroc(counts, np.ones(12))[0] == pytest.approx(roc_auc_score(truth.ravel(), scores.ravel()))
    w = bootstrap_weights(12, 3, seed=5)
    assert w.shape == (3, 12) and (w.sum(1) == 12).all()
    idx = np.repeat(np.arange(12), w[0].astype(int))  # the resample as an explicit list of sequences
    assert weighted_auroc(counts, w)[0] == pytest.approx(roc_auc_score(truth[idx].ravel(), scores[idx].ravel()))


def test_bootstrap_interval_holds_the_point_and_a_method_against_itself_differs_by_zero():
    scores, truth = _planted(n=40, seed=3)
    rng = np.random.default_rng(4)
    maps = {"good": scores, "noisy": scores + 3 * rng.random(scores.shape), "noise": rng.random(scores.shape)}
    boot = sequence_bootstrap(maps, truth, width=25, n_boot=300, seed=0)
    for m in maps:
        assert boot.points[m]["base"] == pytest.approx(recovery(maps[m], truth)["auroc"])
        assert boot.points[m]["region"] == pytest.approx(region_recovery(maps[m], truth, 25)["region_auroc"])
        for r in ("base", "region"):
            lo, hi = boot.intervals[m][r]
            assert lo <= boot.points[m][r] <= hi and boot.draws[m][r].shape == (300,)
    same = paired_difference(boot.draws["good"]["base"], boot.draws["good"]["base"], boot.points["good"]["base"],
                             boot.points["good"]["base"])
    assert same["difference"] == 0 and same["low"] == 0 and same["high"] == 0 and same["share_above_zero"] == 0
    pairs = pd.DataFrame(method_pairs(boot))
    assert len(pairs) == 3 * 2 and set(pairs["resolution"]) == {"base", "region"}
    good_noise = pairs[(pairs["a"] == "good") & (pairs["b"] == "noise")]
    assert (good_noise["low"] > 0).all()  # a clear win at both resolutions
    best = {w["resolution"]: w for w in winners(boot)}
    assert best["base"]["best"] == "good" and best["base"]["runner_up"] == "noisy"
    assert best["base"]["low"] <= best["base"]["difference"] <= best["base"]["high"]
    # same seed, same draws
    again = sequence_bootstrap({"good": scores}, truth, width=25, n_boot=300, seed=0)
    np.testing.assert_array_equal(again.draws["good"]["region"], boot.draws["good"]["region"])
    assert np.isnan(interval(np.array([np.nan]))).all()


# ---------------------------------------------------------------- the benchmark with DanQ


def test_benchmark_on_danq_marks_deeplift_not_available(tmp_path):
    import json

    import torch

    from cisgram.data import simulate as sim
    from cisgram.training import TrainConfig
    from cisgram.workflows.explain import benchmark

    g = sim.GRAMMARS["ctcf"]
    s = sim.simulate(g, sim.grammar_motifs(g), n=300, length=120, seed=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = benchmark(s, tmp_path, methods=["saliency", "deeplift", "gradcam"], n_explain=8, arch="danq",
                        arch_params={"filters": 8, "kernel": 12, "pool": 6, "units": 4, "hidden": 8},
                        config=TrainConfig(task="classification", max_epochs=1, patience=1, seed=0), n_boot=100,
                        region_width=20)
    finally:
        torch.set_num_threads(threads)
    table = pd.read_csv(tmp_path / "benchmark.tsv", sep="\t")
    table["note"] = table["note"].fillna("")
    rows = {r["method"]: r for r in table.to_dict("records")}
    assert list(rows) == ["saliency", "deeplift", "gradcam"] and res.arch == "danq"
    dl = rows["deeplift"]
    assert "not available" in dl["note"] and "LSTM" in dl["note"]
    assert all(np.isnan(dl[k]) for k in ("auroc", "auroc_low", "region_auroc", "region_auroc_high"))
    for m in ("saliency", "gradcam"):
        assert rows[m]["auroc_low"] <= rows[m]["auroc"] <= rows[m]["auroc_high"] and rows[m]["note"] == ""
        assert rows[m]["region_auroc_low"] <= rows[m]["region_auroc"] <= rows[m]["region_auroc_high"]
    pairs = pd.read_csv(tmp_path / "benchmark_pairs.tsv", sep="\t")
    assert set(zip(pairs["a"], pairs["b"], strict=True)) == {("saliency", "gradcam")} and len(pairs) == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["region_width"] == 20 and {w["resolution"] for w in metrics["winners"]} == {"base", "region"}
    assert "deeplift" not in np.load(tmp_path / "attributions.npz").files
    with pytest.raises(InputError, match="region-width"):
        benchmark(s, tmp_path, region_width=60)


def test_gradcam_on_danq_reads_its_rectified_convolution_through_the_footprint():
    """DanQ's Grad-CAM defaults to the ReLU after its one convolution, brought to the input by
    averaging over each output's 26 bp receptive field (the conv itself, unrectified and
    linearly stretched, scored 0.50 on the ctcf benchmark; the ReLU with footprints 0.84)."""
    import torch

    from cisgram.interpret.attribution import gradcam, receptive_field
    from cisgram.models.cnn import build, new_spec

    net = build(new_spec("danq", 1, 80, filters=4, kernel=10, pool=5, units=3, hidden=4), seed=0)
    assert receptive_field(net, net.conv[1]) == (10, 1, 0) and receptive_field(net, net.conv[2]) == (14, 5, 0)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 80), generator=torch.Generator().manual_seed(0)), 4)
    x = x.permute(0, 2, 1).float()
    np.testing.assert_array_equal(gradcam(net, x), gradcam(net, x, layer=net.conv[1], upsample="footprint"))
    assert not np.array_equal(gradcam(net, x), gradcam(net, x, layer=net.conv[0], upsample="linear"))
