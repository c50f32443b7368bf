"""Tests for cisgram.metrics: the scalar metrics and their convention for degenerate input, the
metric tables, and the paired bootstrap against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cisgram.errors import InputError
from cisgram.metrics import (
    auprc,
    auroc,
    bootstrap_target,
    classification_metrics,
    pearson,
    pearson_columns,
    r2,
    regression_metrics,
    spearman,
)


def test_regression_and_classification_metrics_match_references():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    p = y + rng.normal(size=200)
    m = regression_metrics(y, p)
    assert m["n"] == 200
    assert m["pearson"] == pytest.approx(np.corrcoef(y, p)[0, 1])
    assert m["r2"] == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    lab = (y > 0).astype(float)
    c = classification_metrics(lab, p)
    assert c["auroc"] == pytest.approx(roc_auc_score(lab, p)) and c["auprc"] == pytest.approx(average_precision_score(lab, p))
    assert math.isnan(classification_metrics(np.ones(10), np.arange(10.0))["auroc"])


def test_bootstrap_coverage_over_replicate_datasets():
    """Over 40 independent data sets the 95 % interval of a Pearson difference covers the
    population value at least 34 times (expected 38; fewer than 34 has probability < 1e-3)."""
    true = 0.8 - 1 / math.sqrt(2.5)
    covered = 0
    for k in range(40):
        rng = np.random.default_rng(100 + k)
        s = rng.normal(size=500)
        y = s + 0.5 * rng.normal(size=500)
        P = np.column_stack([s + 0.5 * rng.normal(size=500), s + rng.normal(size=500)])
        _, diffs = bootstrap_target(y, P, ["a", "b"], False, 400, np.random.default_rng(k))
        covered += diffs[0]["low"] < true < diffs[0]["high"]
    assert covered >= 34


def test_bootstrap_matches_a_plain_loop():
    """The vectorised bootstrap (count weights, tie-aware auROC) against np.corrcoef and sklearn's
    roc_auc_score on the same resamples, with tied scores."""
    rng = np.random.default_rng(5)
    n, B = 60, 50
    y = (rng.random(n) < 0.4).astype(float)
    P = np.column_stack([np.round(y + rng.normal(size=n), 1), np.round(rng.normal(size=n), 0)])
    intervals, diffs = bootstrap_target(y, P, ["a", "b"], True, B, np.random.default_rng(9))
    idx = np.random.default_rng(9).integers(0, n, size=(B, n))  # the same draws
    r = np.array([[np.corrcoef(y[i], P[i, j])[0, 1] for j in range(2)] for i in idx])
    auc = np.array([[roc_auc_score(y[i], P[i, j]) if 0 < y[i].sum() < n else np.nan for j in range(2)] for i in idx])
    np.testing.assert_allclose(intervals["a"]["pearson"], np.percentile(r[:, 0], [2.5, 97.5]), rtol=1e-9)
    np.testing.assert_allclose(intervals["b"]["auroc"], np.nanpercentile(auc[:, 1], [2.5, 97.5]), rtol=1e-9)
    d = next(x for x in diffs if x["metric"] == "auroc")
    np.testing.assert_allclose([d["low"], d["high"]], np.nanpercentile(auc[:, 0] - auc[:, 1], [2.5, 97.5]), rtol=1e-9)
    assert d["difference"] == pytest.approx(roc_auc_score(y, P[:, 0]) - roc_auc_score(y, P[:, 1]))


def test_one_convention_for_degenerate_input():
    """Constant sides, too few pairs and one class give NaN everywhere (the module's convention)."""
    x = np.arange(10.0)
    for f in (pearson, spearman):
        assert math.isnan(f(x, np.ones(10))) and math.isnan(f(np.ones(10), x)) and math.isnan(f([1.0], [2.0]))
    assert math.isnan(r2(np.ones(5), x[:5]))
    assert math.isnan(auroc(np.ones(10), x)) and math.isnan(auprc(np.zeros(10), x))
    m = regression_metrics(np.ones(10), x)
    assert math.isnan(m["pearson"]) and math.isnan(m["spearman"]) and math.isnan(m["r2"]) and m["n"] == 10
    cols = pearson_columns(np.column_stack([x, np.ones(10), -x]), x)
    np.testing.assert_allclose(cols[[0, 2]], [1.0, -1.0])
    assert math.isnan(cols[1])


def test_scalar_metrics_match_scipy_and_sklearn():
    from scipy import stats

    rng = np.random.default_rng(3)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert pearson(y, p) == pytest.approx(stats.pearsonr(y, p).statistic)
    assert spearman(y, p) == pytest.approx(stats.spearmanr(y, p).statistic)
    assert r2(y, p) == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    lab = y > 0
    assert auroc(lab, p) == pytest.approx(roc_auc_score(lab, p))
    assert auprc(lab, p) == pytest.approx(average_precision_score(lab, p))


# --- base-resolution profiles --------------------------------------------------------------------

def test_profile_jsd_and_pearson_of_identical_profiles():
    from cisgram.metrics import profile_jsd, profile_pearson

    counts = np.random.default_rng(0).poisson(3.0, (4, 2, 30)).astype(float)
    np.testing.assert_allclose(profile_jsd(counts / counts.sum((1, 2), keepdims=True), counts), 0.0, atol=1e-7)
    np.testing.assert_allclose(profile_pearson(counts * 5 + 1, counts), 1.0)
    assert profile_jsd(counts, counts).shape == (4,)


def test_profile_jsd_by_hand_and_against_scipy():
    from scipy.spatial.distance import jensenshannon

    from cisgram.metrics import profile_jsd

    # disjoint supports: JS divergence is 1 bit, so the distance is 1; p = (1/2, 1/2, 0) vs q = (0, 1/2, 1/2):
    # m = (1/4, 1/2, 1/4), KL(p||m) = 1/2·log2(2) + 1/2·log2(1) = 1/2, likewise KL(q||m), JS = 1/2
    got = profile_jsd(np.array([[1.0, 0, 0], [1.0, 1, 0]]), np.array([[0.0, 0, 5], [0.0, 3, 3]]))
    np.testing.assert_allclose(got, [1.0, np.sqrt(0.5)])
    rng = np.random.default_rng(1)
    pred = rng.dirichlet(np.ones(40), size=6)
    obs = rng.poisson(2.0, (6, 40)).astype(float)
    want = [jensenshannon(p, o / o.sum(), base=2) for p, o in zip(pred, obs, strict=True)]
    np.testing.assert_allclose(profile_jsd(pred, obs), want, atol=1e-12)
    np.testing.assert_allclose(profile_jsd(pred, obs, base=np.e), [jensenshannon(p, o / o.sum()) for p, o in
                                                                  zip(pred, obs, strict=True)], atol=1e-12)


def test_profile_metrics_give_nan_without_a_distribution():
    from cisgram.metrics import profile_jsd, profile_pearson

    obs = np.array([[0.0, 0, 0, 0], [1.0, 2, 0, 1]])
    pred = np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.6, 0.1, 0.2]])
    jsd, r = profile_jsd(pred, obs), profile_pearson(pred, obs)
    assert np.isnan(jsd[0]) and np.isfinite(jsd[1])
    assert np.isnan(r[0]) and r[1] == pytest.approx(pearson(pred[1], obs[1]))


def test_profile_baselines():
    from cisgram.metrics import profile_baselines, profile_jsd, profile_pearson

    rng = np.random.default_rng(2)
    shape = np.exp(-0.5 * ((np.arange(50) - 25) / 3.0) ** 2)
    obs = rng.poisson(20 * shape + 0.1, (30, 50)).astype(float)
    base = profile_baselines(obs, average=shape, seed=0)
    assert all(v.shape == (30,) for v in base)
    np.testing.assert_allclose(base.average_jsd, profile_jsd(np.broadcast_to(shape, obs.shape), obs))
    np.testing.assert_allclose(base.average_pearson, profile_pearson(np.broadcast_to(shape, obs.shape), obs))
    # a peaked profile: the true shape beats the shuffled profile (the no-skill floor) by far
    assert base.average_jsd.mean() < base.shuffled_jsd.mean() - 0.2
    assert base.average_pearson.mean() > 0.8 > 0.3 > abs(base.shuffled_pearson.mean())
    again = profile_baselines(obs, average=shape, seed=0)
    np.testing.assert_array_equal(again.shuffled_jsd, base.shuffled_jsd)
    own = profile_baselines(obs)  # no training mean given: the mean of obs's own proportions
    mean = (obs / obs.sum(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(own.average_jsd, profile_jsd(np.broadcast_to(mean, obs.shape), obs))


# --- cell-type specificity -------------------------------------------------------------------------

def _planted(n: int = 600, seed: int = 0):
    """Two conditions sharing a strong GC component (A more GC-driven than B) and a common signal;
    A alone has the planted signal ``s``. Heads of three models: one that knows ``s``, one that
    has only the GC and common parts (each head right about the shared signal), one with two
    identical heads."""
    rng = np.random.default_rng(seed)
    gc = rng.uniform(0.3, 0.7, n)
    common, s = rng.normal(size=n), rng.normal(size=n)
    obs = np.column_stack([25 * gc + common + s + 0.3 * rng.normal(size=n), 10 * gc + common + 0.3 * rng.normal(size=n)])
    noise = 0.2 * rng.normal(size=(n, 2))
    planted = np.column_stack([25 * gc + common + s, 10 * gc + common]) + noise
    gc_only = np.column_stack([25 * gc + common, 10 * gc + common]) + noise
    same = np.column_stack([15 * gc + common, 15 * gc + common])
    return gc, obs, {"planted": planted, "gc_only": gc_only, "same": same}


def _partial_by_hand(x, y, z):
    Z = np.column_stack([np.ones_like(z), z])
    res = [v - Z @ np.linalg.lstsq(Z, v, rcond=None)[0] for v in (x, y)]
    return np.corrcoef(*res)[0, 1]


def test_specificity_recovers_the_planted_signal_once_gc_is_regressed_out():
    from cisgram.metrics import specificity

    gc, obs, heads = _planted()
    out = specificity(obs, heads, ["A", "B"], gc=gc, n_boot=500, seed=1)
    (pair,) = out["pairs"]
    d_obs = obs[:, 0] - obs[:, 1]
    assert pair["observed_r"] == pytest.approx(np.corrcoef(obs[:, 0], obs[:, 1])[0, 1])
    assert pair["observed_difference_gc_r"] == pytest.approx(np.corrcoef(d_obs, gc)[0, 1])
    for name in ("planted", "gc_only"):
        p = heads[name]
        got = pair["models"][name]
        assert got["head_r"] == pytest.approx(np.corrcoef(p[:, 0], p[:, 1])[0, 1])
        assert got["difference_r"] == pytest.approx(np.corrcoef(p[:, 0] - p[:, 1], d_obs)[0, 1])
        assert got["difference_r_gc"] == pytest.approx(_partial_by_hand(p[:, 0] - p[:, 1], d_obs, gc), abs=1e-10)
        assert out["head_gc"][name]["A"] == pytest.approx(np.corrcoef(p[:, 0], gc)[0, 1])
        lo, hi = got["difference_r_gc_ci"]
        assert lo < got["difference_r_gc"] < hi
    planted, gc_only = pair["models"]["planted"], pair["models"]["gc_only"]
    # the GC-only model's difference tracks the observed one through GC alone (population r 0.84):
    # nothing is left once GC is regressed out
    assert gc_only["difference_r"] > 0.75
    assert abs(gc_only["difference_r_gc"]) < 0.1 and gc_only["difference_r_gc_ci"][0] < 0 < gc_only["difference_r_gc_ci"][1]
    # the planted model keeps its specific signal: population partial r 1 / sqrt((1 + 2 · 0.3²)(1 + 2 · 0.2²)) = 0.886
    assert planted["difference_r_gc"] > 0.85
    diff = next(d for d in pair["differences"] if (d["a"], d["b"], d["metric"]) == ("planted", "gc_only", "difference_r_gc"))
    assert diff["low"] > 0.7 and diff["share_above_zero"] == 1.0
    # identical heads: head-head r 1, no difference to score
    same = pair["models"]["same"]
    assert same["head_r"] == pytest.approx(1.0)
    assert math.isnan(same["difference_r"]) and math.isnan(same["difference_r_gc"])
    assert same["difference_r_ci"] == [None, None] and "cannot tell A from B" in same["note"]
    assert "note" not in planted


def test_specificity_bootstrap_matches_a_plain_loop_and_direct_models_turn_with_the_pair():
    from cisgram.metrics import specificity

    gc, obs, heads = _planted(n=200, seed=3)
    dap = heads["planted"][:, 0] - heads["planted"][:, 1] + 0.1
    out = specificity(obs[:, ::-1], {"planted": heads["planted"][:, ::-1]}, ["B", "A"], gc=gc, n_boot=50, seed=7,
                      direct={"dap": ("A", "B", dap)})
    got = out["pairs"][0]["models"]
    # pair (B, A): the direct model's A - B prediction is turned, so it equals the planted heads' difference
    assert got["dap"]["kind"] == "direct" and got["dap"]["head_r"] is None
    assert got["dap"]["difference_r"] == pytest.approx(got["planted"]["difference_r"])
    assert got["dap"]["difference_r_gc_ci"] == pytest.approx(got["planted"]["difference_r_gc_ci"])
    # the intervals are percentiles of the same resamples as a plain loop draws them
    idx = np.random.default_rng([7, 0]).integers(0, 200, size=(50, 200))
    d_obs = obs[:, 1] - obs[:, 0]
    d_pred = heads["planted"][:, 1] - heads["planted"][:, 0]
    raw = [np.corrcoef(d_obs[i], d_pred[i])[0, 1] for i in idx]
    part = [_partial_by_hand(d_pred[i], d_obs[i], gc[i]) for i in idx]
    np.testing.assert_allclose(got["planted"]["difference_r_ci"], np.percentile(raw, [2.5, 97.5]), atol=1e-9)
    np.testing.assert_allclose(got["planted"]["difference_r_gc_ci"], np.percentile(part, [2.5, 97.5]), atol=1e-9)
    # without GC: no GC numbers
    plain = specificity(obs, heads, ["A", "B"], n_boot=10)
    assert plain["head_gc"] == {} and plain["pairs"][0]["models"]["planted"]["difference_r_gc"] is None
    with pytest.raises(InputError, match="direct model"):
        specificity(obs, heads, ["A", "B"], direct={"x": ("A", "C", dap)})


def test_most_common_share_counts_exact_ties():
    from cisgram.metrics import most_common_share

    assert most_common_share([0.5, 0.5, 0.5, 0.1]) == 0.75
    assert most_common_share([0.5, 0.5 + 1e-12]) == 0.5  # exact float equality, no tolerance
    assert np.isnan(most_common_share([]))
