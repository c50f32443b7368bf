"""Tests for cisgram.data.access: AP (checked against a literal re-reading of the spec), log CPM,
sequence covariates, [0, 10] scaling, differential targets, and the errors users can cause."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cisgram.data.access import (
    AccessParams,
    apply_access,
    apply_log_cpm,
    condition_target,
    differential_target,
    fit_access,
    log_cpm,
    punctured_background,
)
from cisgram.data.covariates import DINUCLEOTIDES, apply_scale, fit_scale, sequence_covariates
from cisgram.errors import InputError

NAMES = ["shallow", "mid", "deep", "tiny"]
DEPTHS = np.array([1.0, 5.0, 20.0, 0.5])


def synthetic(n=1500, depths=DEPTHS, seed=0, n_const=300, noise=None):
    """Counts with very different depths per condition: the first ``n_const`` regions are open
    everywhere (constitutive), the rest open in a random subset of conditions. Window sums are
    the counts plus a regional background that varies between regions. ``noise`` (per
    condition) adds reads spread over the non-constitutive regions (worse signal-to-noise)."""
    rng = np.random.default_rng(seed)
    c = len(depths)
    open_ = np.ones((n, c))
    open_[n_const:] = rng.random((n - n_const, c)) < 0.4
    level = rng.lognormal(3.0, 0.5, size=(n, 1)) * np.where(open_, 1.0, 0.03)
    lam = level * rng.lognormal(0.0, 0.3, size=(n, c)) * depths
    if noise is not None:
        lam[n_const:] += np.asarray(noise) * depths * 20.0
    counts = rng.poisson(lam).astype(np.float64)
    bg = rng.lognormal(4.0, 0.8, size=(n, 1)) * depths
    windows = counts + rng.poisson(bg).astype(np.float64)
    train = np.zeros(n, dtype=bool)
    train[: int(0.7 * n)] = True
    rng.shuffle(train)
    return counts, windows, train


def reference_ap(x, w, train, *, mq=0.1, thr=-16.0, cq=0.9):
    """The spec's steps 4-7 written out literally, one condition at a time, fitted on train."""
    n, c = x.shape
    scale = [x[train, j].sum() for j in range(c)]
    marg_peak = sum(x[:, j] / scale[j] for j in range(c))
    marg_win = sum(w[:, j] / scale[j] for j in range(c))
    b = marg_win - marg_peak
    floor = np.quantile(b[train], mq)
    f = np.array([max(v / floor, 1.0) for v in b])
    y = x * (1.0 / f)[:, None]
    for j in range(c):
        y[:, j] = y[:, j] / y[train, j].sum()
    const = np.array([min(np.log2(y[i] + 1e-5)) >= thr for i in range(n)])
    s = np.array([y[train & const, j].sum() for j in range(c)])
    ref = s.mean()
    z = y.copy()
    for j in range(c):
        z[:, j] = z[:, j] / (s[j] / ref)
    z = np.minimum(z / z[train].max(), 1.0) * y[train].max()
    p1 = np.quantile(z[train & const].ravel(), cq)
    p = np.minimum(z / p1, 1.0)
    for j in range(c):
        lo, hi = p[train, j].min(), p[train, j].max()
        p[:, j] = np.clip((p[:, j] - lo) / (hi - lo), 0, 1)
    return p, const


# --------------------------------------------------------------------------------------------
# access probability
# --------------------------------------------------------------------------------------------


def test_matches_literal_spec_and_stages():
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w, conditions=NAMES, const_threshold=-12.0)
    ref, const = reference_ap(x, w, train, thr=-12.0)
    np.testing.assert_allclose(res.ap, ref, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.constitutive, const)
    assert 0 < const.sum() < len(const)
    assert set(res.stages) == {"raw", "regional", "const", "ap"}
    np.testing.assert_allclose(res.stages["regional"][train].sum(axis=0), 1.0)
    assert res.stages["const"][train].max() == pytest.approx(res.params.rescale)
    np.testing.assert_array_equal(res.stages["raw"], x)
    assert res.background.shape == (len(x),) and (res.background >= 0).all()


def test_ap_in_unit_interval_train_and_heldout():
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w, conditions=NAMES, const_threshold=-12.0)
    for rows in (train, ~train):
        assert res.ap[rows].min() >= 0.0 and res.ap[rows].max() <= 1.0
    np.testing.assert_allclose(res.ap[train].min(axis=0), 0.0)
    np.testing.assert_allclose(res.ap[train].max(axis=0), 1.0)
    # brand-new regions far outside the training range still land in [0, 1]
    new = apply_access(x[:50] * 1000.0, res.params, window_sums=w[:50] * 1000.0)
    assert new.ap.min() >= 0.0 and new.ap.max() <= 1.0


@pytest.mark.parametrize("with_windows", [True, False])
def test_scaling_one_condition_changes_nothing(with_windows):
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w if with_windows else None, const_threshold=-12.0)
    x3, w3 = x.copy(), w.copy()
    x3[:, 2] *= 3.0
    w3[:, 2] *= 3.0
    res3 = fit_access(x3, train, window_sums=w3 if with_windows else None, const_threshold=-12.0)
    np.testing.assert_allclose(res3.ap, res.ap, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res3.constitutive, res.constitutive)
    if with_windows:
        np.testing.assert_allclose(res3.background, res.background, rtol=1e-12)


def test_punctured_background_is_scale_free_and_by_hand():
    x = np.array([[1.0, 2.0], [0.0, 4.0]])
    w = np.array([[3.0, 10.0], [2.0, 4.0]])
    scale = np.array([2.0, 4.0])
    # B = sum_c (w - x) / scale_c
    np.testing.assert_allclose(punctured_background(x, w, scale), [2 / 2 + 8 / 4, 2 / 2 + 0 / 4])
    k = np.array([1.0, 7.0])
    np.testing.assert_allclose(punctured_background(x * k, w * k, scale * k), punctured_background(x, w, scale))


def test_regional_correction_downweights_busy_neighbourhoods_only():
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w, const_threshold=-12.0)
    p = res.params
    f = np.maximum(res.background / p.background_floor, 1.0)
    assert p.background_floor == pytest.approx(np.quantile(res.background[train], 0.1))
    np.testing.assert_allclose(res.stages["regional"] * np.array(p.column_totals) * f[:, None], x, rtol=1e-12)
    quiet = res.background <= p.background_floor
    assert 0.05 < quiet[train].mean() < 0.15  # the 10% quietest are left alone
    no_win = fit_access(x, train, const_threshold=-12.0)
    assert no_win.background is None and no_win.params.background_floor is None
    np.testing.assert_allclose(no_win.stages["regional"], x / x[train].sum(axis=0))


def test_constitutive_regions_agree_after_normalisation_despite_depths():
    x, w, train = synthetic(depths=np.array([1.0, 8.0, 40.0, 0.3]))
    res = fit_access(x, train, window_sums=w, const_threshold=-12.0)
    k = res.constitutive & train
    assert k.sum() > 100

    def spread(m):
        med = np.median(m[k], axis=0)
        return med.max() / med.min()

    assert spread(x) > 50  # raw medians differ by the depth ratio (~130)
    assert spread(res.ap) < 1.3
    assert spread(res.ap) < spread(x) / 20


def test_constitutive_normalisation_fixes_signal_to_noise():
    # condition 1 spends many reads outside the constitutive regions: after the per-condition sum
    # normalisation its constitutive regions look weaker; the constitutive step restores them
    flag = np.zeros(1500, dtype=bool)
    flag[:300] = True
    x, w, train = synthetic(noise=[0.0, 3.0, 0.0, 0.0], n_const=300)
    res = fit_access(x, train, window_sums=w, constitutive=flag)
    np.testing.assert_array_equal(res.constitutive, flag)

    def spread(m):
        med = np.median(m[flag & train], axis=0)
        return med.max() / med.min()

    assert spread(res.stages["regional"]) > 1.5
    assert spread(res.stages["const"]) < 1.15
    s = np.array(res.params.const_totals)
    np.testing.assert_allclose(s, res.stages["regional"][flag & train].sum(axis=0))
    np.testing.assert_allclose(res.params.reference, s.mean())


def test_anchor_sets_reference_and_rescale():
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w, conditions=NAMES, anchor="deep", const_threshold=-12.0)
    p = res.params
    assert p.anchor == "deep"
    assert p.reference == pytest.approx(p.const_totals[2])
    assert p.rescale == pytest.approx(res.stages["regional"][train, 2].max())
    assert 0 <= res.ap.min() and res.ap.max() <= 1


def test_apply_reproduces_fit_exactly_and_params_round_trip():
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w, conditions=NAMES, const_threshold=-12.0)
    params = AccessParams.from_dict(json.loads(json.dumps(res.params.to_dict())))
    assert params == res.params
    again = apply_access(x, params, window_sums=w)
    np.testing.assert_array_equal(again.ap, res.ap)
    for k in res.stages:
        np.testing.assert_array_equal(again.stages[k], res.stages[k])
    np.testing.assert_array_equal(again.constitutive, res.constitutive)
    np.testing.assert_array_equal(again.background, res.background)


def test_heldout_rows_use_train_statistics_only():
    x, w, train = synthetic()
    res = fit_access(x, train, window_sums=w, const_threshold=-12.0)
    rng = np.random.default_rng(5)
    x2, w2 = x.copy(), w.copy()
    x2[~train] = rng.poisson(50.0, size=x2[~train].shape)
    w2[~train] = x2[~train] * 10.0
    res2 = fit_access(x2, train, window_sums=w2, const_threshold=-12.0)
    np.testing.assert_array_equal(res2.ap[train], res.ap[train])
    assert res2.params == res.params
    # held-out rows on their own give the same AP as within the full matrix
    alone = apply_access(x[~train], res.params, window_sums=w[~train])
    np.testing.assert_allclose(alone.ap, res.ap[~train], rtol=0, atol=1e-15)


def test_user_flag_overrides_threshold_and_apply_flag():
    x, w, train = synthetic()
    flag = np.zeros(len(x), dtype=bool)
    flag[:100] = True
    res = fit_access(x, train, window_sums=w, constitutive=flag)
    np.testing.assert_array_equal(res.constitutive, flag)
    assert res.params.const_totals == pytest.approx(res.stages["regional"][flag & train].sum(axis=0))
    # apply: threshold rule unless a flag is given, and the flag does not change AP
    ruled = apply_access(x, res.params, window_sums=w)
    flagged = apply_access(x, res.params, window_sums=w, constitutive=flag)
    np.testing.assert_array_equal(flagged.constitutive, flag)
    np.testing.assert_array_equal(ruled.constitutive, (np.log2(ruled.stages["regional"] + 1e-5) >= -16).all(axis=1))
    np.testing.assert_array_equal(ruled.ap, flagged.ap)


def test_real_chr22_access(chr22):
    from cisgram.intervals import read_regions, union_regions
    from cisgram.tracks import bigwig_coverage

    cells = ["GM12878", "K562", "MCF7"]
    sets = {c: read_regions(chr22 / "peaks" / f"{c}.narrowPeak") for c in cells}
    regions = union_regions(list(sets.values()), 500)
    size = int((chr22 / "genome" / "chr22.chrom.sizes").read_text().split()[1])
    win = regions.assign(start=np.clip(regions["start"] - 10_000, 0, None), end=np.clip(regions["end"] + 10_000, None, size))
    x = np.column_stack([bigwig_coverage(chr22 / "accessibility" / f"{c}.bw", regions) for c in cells])
    w = np.column_stack([bigwig_coverage(chr22 / "accessibility" / f"{c}.bw", win) for c in cells])
    train = (regions["start"] < np.quantile(regions["start"], 0.7)).to_numpy()
    res = fit_access(x, train, window_sums=w, conditions=cells)
    assert res.ap.min() >= 0 and res.ap.max() <= 1
    assert res.constitutive[train].sum() > 50
    # a cell line's own peaks are more accessible in it than the other lines' peaks (held-out rows)
    for j, c in enumerate(cells):
        own = _overlaps(regions, sets[c])
        assert np.median(res.ap[~train & own, j]) > np.median(res.ap[~train & ~own, j])
    x3, w3 = x.copy(), w.copy()
    x3[:, 1] *= 3
    w3[:, 1] *= 3
    np.testing.assert_allclose(fit_access(x3, train, window_sums=w3, conditions=cells).ap, res.ap, atol=1e-9)


def _overlaps(regions: pd.DataFrame, peaks: pd.DataFrame) -> np.ndarray:
    p = peaks.sort_values("start")
    s, e = p["start"].to_numpy(), p["end"].to_numpy()
    emax = np.maximum.accumulate(e)
    i = np.searchsorted(s, regions["end"].to_numpy(), side="left")  # peaks starting before region end
    return (i > 0) & (emax[np.maximum(i - 1, 0)] > regions["start"].to_numpy())


# --------------------------------------------------------------------------------------------
# log CPM, covariates, scaling
# --------------------------------------------------------------------------------------------


def test_log_cpm_by_hand():
    x = np.array([[1.0, 0.0], [3.0, 10.0], [6.0, 30.0]])
    train = np.array([True, True, False])
    vals, params = log_cpm(x, train, per=100.0)
    expect = np.log10(np.array([[1 / 10 * 100 + 1, 1.0], [3 / 10 * 100 + 1, 10 / 40 * 100 + 1],
                                [6 / 10 * 100 + 1, 30 / 40 * 100 + 1]]))
    np.testing.assert_allclose(vals, expect)
    assert params == {"totals": [10.0, 40.0], "per": 100.0, "max": None}
    scaled, p2 = log_cpm(x, train, per=100.0, max_scale=True)
    np.testing.assert_allclose(scaled, expect / expect[:2].max(axis=0))
    assert scaled[2, 0] > 1.0  # the held-out row is not rescaled on its own
    np.testing.assert_allclose(apply_log_cpm(x[2:], p2), scaled[2:])
    reused, _ = log_cpm(x[:1], np.array([True]), per=100.0, totals=params["totals"])
    np.testing.assert_allclose(reused, expect[:1])
    json.dumps(p2)


def _slow_covariates(seq: str) -> list[float]:
    valid = [b for b in seq if b in "ACGT"]
    gc = sum(b in "GC" for b in valid) / len(valid) if valid else 0.0
    pairs = [seq[i : i + 2] for i in range(len(seq) - 1)]
    return [gc] + [pairs.count(d) / (len(seq) - 1) for d in DINUCLEOTIDES]


def test_sequence_covariates_match_pure_python():
    rng = np.random.default_rng(1)
    codes = rng.choice(5, size=(40, 57), p=[0.3, 0.2, 0.2, 0.2, 0.1]).astype(np.uint8)
    codes[3] = 4  # all N
    codes[4, ::2] = 4  # alternating N: no valid pair
    vals, names = sequence_covariates(codes)
    assert names == ["gc", *DINUCLEOTIDES] and names[1:3] == ["AA", "AC"]
    assert vals.shape == (40, 17) and vals.dtype == np.float64
    for i in range(40):
        seq = "".join("ACGTN"[k] for k in codes[i])
        np.testing.assert_allclose(vals[i], _slow_covariates(seq), rtol=0, atol=1e-15)
    assert vals[3].sum() == 0 and vals[4, 1:].sum() == 0


def test_fit_apply_scale():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.normal(size=1000), rng.exponential(size=1000), np.full(1000, 3.0)])
    train = np.arange(1000) < 800
    params = fit_scale(X, train)
    json.dumps(params)
    out = apply_scale(X, params)
    assert out.shape == X.shape and out.min() >= 0 and out.max() <= 10
    for j in range(2):
        lo, hi = np.quantile(X[train, j], [0.05, 0.95])
        assert params["lo"][j] == pytest.approx(lo) and params["hi"][j] == pytest.approx(hi)
        np.testing.assert_allclose(apply_scale(np.array([[lo, lo, 0], [hi, hi, 0]]), params)[:, j], [0, 10])
        assert np.mean(out[train, j] == 0) == pytest.approx(0.05, abs=0.01)
        assert np.mean(out[train, j] == 10) == pytest.approx(0.05, abs=0.01)
        mid = (X[:, j] > lo) & (X[:, j] < hi)
        np.testing.assert_allclose(out[mid, j], (X[mid, j] - lo) / (hi - lo) * 10)
    assert (out[:, 2] == 0).all()
    one = fit_scale(X[:, 0], train, top=1.0)
    np.testing.assert_allclose(apply_scale(X[:, 0], one), out[:, 0] / 10)


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------


def test_differential_target():
    ap = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5], [0.3, 0.6], [0.0, 1.0], [0.2, 0.3]])
    tss = np.array([10_000, -20_000, 100, 6000, np.nan, -5000.0])
    train = np.array([True, True, True, True, True, False])
    t = differential_target(ap, ["a", "b"], "a", "b", tss, train)
    np.testing.assert_array_equal(t.mask, [True, True, False, True, False, False])
    np.testing.assert_allclose(t.dap[t.mask], [0.8, -0.6, 0.3])
    assert np.isnan(t.dap[~t.mask]).all() and np.isnan(t.y[~t.mask]).all()
    np.testing.assert_allclose(t.y[t.mask], [1.0, 0.0, 0.9 / 1.4])
    assert t.params == {"a": "a", "b": "b", "min": pytest.approx(-0.6), "max": pytest.approx(0.8),
                        "min_tss_distance": 5000.0}
    rev = differential_target(ap, ["a", "b"], "b", "a", tss, train)
    np.testing.assert_allclose(rev.dap[t.mask], -t.dap[t.mask])
    # min/max from train rows only; held-out distal rows are clipped into [0, 1]
    train2 = np.array([True, False, True, True, True, False])
    t2 = differential_target(ap, ["a", "b"], "a", "b", tss, train2, min_tss_distance=1000.0)
    np.testing.assert_array_equal(t2.mask, [True, True, False, True, False, True])
    assert t2.params["min"] == pytest.approx(0.3) and t2.params["max"] == pytest.approx(0.8)
    assert t2.y[1] == 0.0 and t2.y[5] == 0.0  # dAP -0.6 and 0.1, below the train minimum
    assert np.nanmin(t2.y) >= 0 and np.nanmax(t2.y) <= 1


def test_condition_target():
    ap = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(condition_target(ap, ["x", "y"], "y"), [1.0, 3.0, 5.0])
    with pytest.raises(InputError, match="unknown condition 'z'.*x, y"):
        condition_target(ap, ["x", "y"], "z")


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def _base():
    x, w, train = synthetic(n=400, n_const=100)
    return x, w, train


def test_errors_access():
    x, w, train = _base()
    z = x.copy()
    z[train, 1] = 0.0
    with pytest.raises(InputError, match="zero-coverage condition mid"):
        fit_access(z, train, conditions=NAMES)
    with pytest.raises(InputError, match=r"(?s)no constitutive region.*>= -2 .*lower const_threshold"):
        fit_access(x, train, const_threshold=-2.0)
    with pytest.raises(InputError, match="(?s)no constitutive region.*flag"):
        fit_access(x, train, constitutive=np.zeros(len(x), dtype=bool))
    with pytest.raises(InputError, match="window_sums has shape"):
        fit_access(x, train, window_sums=w[:10])
    with pytest.raises(InputError, match="train mask must have shape"):
        fit_access(x, train[:10])
    with pytest.raises(InputError, match="train mask is empty"):
        fit_access(x, np.zeros(len(x), dtype=bool))
    with pytest.raises(InputError, match="train mask must be boolean"):
        fit_access(x, train.astype(int))
    with pytest.raises(InputError, match="3 condition name"):
        fit_access(x, train, conditions=NAMES[:3])
    with pytest.raises(InputError, match=r"unknown anchor condition 'nope'.*shallow, mid, deep, tiny"):
        fit_access(x, train, conditions=NAMES, anchor="nope")
    with pytest.raises(InputError, match="constitutive flag must have shape"):
        fit_access(x, train, constitutive=np.ones(3, dtype=bool))
    with pytest.raises(InputError, match="negative"):
        fit_access(-x, train)
    with pytest.raises(InputError, match="NaN"):
        fit_access(np.where(x > 5, np.nan, x), train)
    with pytest.raises(InputError, match="window sum smaller"):
        fit_access(x, train, window_sums=x * 0.5)
    with pytest.raises(InputError, match="background is 0"):
        fit_access(x, train, window_sums=x)
    with pytest.raises(InputError, match="2-D"):
        fit_access(x[:, 0], train)


def test_errors_apply_and_others():
    x, w, train = _base()
    res = fit_access(x, train, window_sums=w, const_threshold=-12.0)
    with pytest.raises(InputError, match="pass window_sums"):
        apply_access(x, res.params)
    with pytest.raises(InputError, match="3 column"):
        apply_access(x[:, :3], res.params, window_sums=w[:, :3])
    plain = fit_access(x, train, const_threshold=-12.0)
    with pytest.raises(InputError, match="without a regional correction"):
        apply_access(x, plain.params, window_sums=w)
    with pytest.raises(InputError, match="missing"):
        AccessParams.from_dict({"conditions": ["a"]})
    with pytest.raises(InputError, match="zero-coverage condition column 1"):
        log_cpm(np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([True, True]))
    with pytest.raises(InputError, match="train mask is empty"):
        log_cpm(x, np.zeros(len(x), dtype=bool))
    with pytest.raises(InputError, match="2-D"):
        sequence_covariates(np.zeros(10, dtype=np.uint8))
    with pytest.raises(InputError, match="at least 2 bp"):
        sequence_covariates(np.zeros((3, 1), dtype=np.uint8))
    with pytest.raises(InputError, match="q must satisfy"):
        fit_scale(x, train, q=(0.9, 0.1))
    with pytest.raises(InputError, match="fitted on 4"):
        apply_scale(x[:, :2], fit_scale(x, train))
    ap = res.ap
    tss = np.full(len(x), 1e6)
    with pytest.raises(InputError, match="unknown condition 'zz'"):
        differential_target(ap, NAMES, "shallow", "zz", tss, train)
    with pytest.raises(InputError, match="must differ"):
        differential_target(ap, NAMES, "mid", "mid", tss, train)
    with pytest.raises(InputError, match="more than 5000 bp from a TSS"):
        differential_target(ap, NAMES, "mid", "deep", np.zeros(len(x)), train)
    with pytest.raises(InputError, match="tss_distance must have shape"):
        differential_target(ap, NAMES, "mid", "deep", tss[:5], train)
