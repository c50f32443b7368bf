"""Metrics: one Pearson, Spearman, R², auROC and auPRC for the whole package, and the paired
bootstrap that puts intervals on them.

One convention for degenerate input: every correlation is NaN when there are fewer than two
finite pairs or when either side is constant (no variance), R² is NaN when the observed values are
constant, and an area under a curve is NaN unless both classes are present. A caller that needs a
number there says what NaN means for it (e.g. ``np.nan_to_num(pearson(y, p)) ** 2`` counts a
constant prediction as explaining nothing). Pairs with a non-finite side are dropped by
:func:`regression_metrics` and :func:`classification_metrics`; the scalar functions expect finite
input. This module imports nothing from cisgram but :mod:`cisgram.errors`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

from cisgram.errors import InputError

__all__ = ["ProfileBaselines", "auprc", "auroc", "bootstrap_target", "classification_metrics", "paired_bootstrap",
           "pearson", "pearson_columns", "profile_baselines", "profile_jsd", "profile_pearson", "r2",
           "regression_metrics", "spearman"]


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()


def pearson(x, y) -> float:
    """Pearson r of two equal-length vectors; NaN with fewer than 2 pairs or a constant side."""
    x, y = _pair(x, y)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x, y) -> float:
    """Spearman rank correlation; NaN with fewer than 2 pairs or a constant side."""
    x, y = _pair(x, y)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def r2(observed, predicted) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` on the observed scale; NaN when the
    observed values are constant (or fewer than 2)."""
    y, p = _pair(observed, predicted)
    ss_tot = float(((y - y.mean()) ** 2).sum()) if y.size else 0.0
    if y.size < 2 or ss_tot <= 0:
        return float("nan")
    return 1.0 - float(((y - p) ** 2).sum()) / ss_tot


def pearson_columns(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each column of ``X`` ``(n, F)`` with ``y`` ``(n,)``: ``(F,)``, NaN for a
    constant column (or a constant ``y``)."""
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    den = np.sqrt((Xc ** 2).sum(axis=0) * (yc ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (Xc.T @ yc) / np.where(den > 0, den, 1), np.nan)


def auroc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` for 0/1 (or boolean) ``labels``; NaN unless both
    classes are present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=np.float64).ravel() > 0.5
    return float(roc_auc_score(y, np.asarray(scores).ravel())) if 0 < y.sum() < y.size else float("nan")


def auprc(labels, scores) -> float:
    """Average precision (area under the precision-recall curve); NaN unless both classes are present."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(labels, dtype=np.float64).ravel() > 0.5
    return float(average_precision_score(y, np.asarray(scores).ravel())) if 0 < y.sum() < y.size else float("nan")


def regression_metrics(observed, predicted) -> dict:
    """``{"pearson", "spearman", "r2", "pearson_r2", "n"}`` over the finite pairs.

    ``r2`` is the coefficient of determination 1 - SS_res / SS_tot on the target's own scale;
    ``pearson_r2`` is IceQream's R² (squared Pearson r), blind to any linear calibration. With
    fewer than 3 pairs every value is NaN; see the module docstring for constant input."""
    y, p = _pair(observed, predicted)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    n = int(y.size)
    out = {"pearson": float("nan"), "spearman": float("nan"), "r2": float("nan"), "pearson_r2": float("nan"), "n": n}
    if n < 3:
        return out
    out["r2"] = r2(y, p)
    out["pearson"] = pearson(y, p)
    out["spearman"] = spearman(y, p)
    out["pearson_r2"] = out["pearson"] ** 2
    return out


def classification_metrics(observed, predicted) -> dict:
    """:func:`regression_metrics` plus ``auroc``, ``auprc`` (average precision) and ``n_pos``
    for 0/1 labels; the areas are NaN unless both classes are present."""
    out = regression_metrics(observed, predicted)
    y, p = _pair(observed, predicted)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok] > 0.5, p[ok]
    out["n_pos"] = int(y.sum())
    out["auroc"] = auroc(y, p)
    out["auprc"] = auprc(y, p)
    return out


def _boot_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """``(b, n)`` float64 counts of each entry in ``b`` resamples of ``n`` entries with replacement
    (resample ``i`` is ``rng.integers(0, n, (b, n))[i]``)."""
    idx = rng.integers(0, n, size=(b, n))
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _weighted_pearson(W: np.ndarray, y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Pearson r of ``y`` ``(n,)`` with each column of ``P`` ``(n, M)`` under count weights ``W``
    ``(B, n)``: ``(B, M)``, NaN where a side is constant."""
    y = y - y.mean()
    P = P - P.mean(axis=0)
    s = W.sum(axis=1, keepdims=True)
    my, mp = W @ y[:, None] / s, W @ P / s
    vy = W @ (y * y)[:, None] / s - my ** 2
    vp = W @ (P * P) / s - mp ** 2
    cov = W @ (y[:, None] * P) / s - my * mp
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt(vy * vp)
        r = np.where((vy > 1e-12 * (y * y).mean()) & (vp > 1e-12 * (P * P).mean(axis=0)), cov / den, np.nan)
    return np.clip(r, -1.0, 1.0)


def _weighted_auroc(W: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """auROC (ties count one half) of ``scores`` ``(n,)`` for 0/1 ``labels`` under count weights
    ``W`` ``(B, n)``: ``(B,)``, NaN where a resample lacks a class."""
    order = np.argsort(scores, kind="stable")
    s, pos = scores[order], labels[order] > 0.5
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    Ws = W[:, order]
    wp = np.add.reduceat(Ws * pos, starts, axis=1)
    wn = np.add.reduceat(Ws * ~pos, starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    P, N = wp.sum(axis=1), wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((P > 0) & (N > 0), (wp * (below + 0.5 * wn)).sum(axis=1) / (P * N), np.nan)


def bootstrap_target(y: np.ndarray, P: np.ndarray, models: list[str], binary: bool, n_boot: int,
                      rng: np.random.Generator) -> tuple[dict, list[dict]]:
    """Paired bootstrap of one target's test entries: per model the 95 % interval of its Pearson
    (and auROC), and for every pair ``a < b`` (in ``models`` order) the difference a - b."""
    n, M = P.shape
    metrics = ["pearson", "auroc"] if binary else ["pearson"]
    if n < 3 or M == 0:
        return {m: {k: None for k in metrics} for m in models}, []
    full = np.ones((1, n))
    point = {"pearson": _weighted_pearson(full, y, P)[0]}
    if binary:
        point["auroc"] = np.array([_weighted_auroc(full, y, P[:, j])[0] for j in range(M)])
    boot = {k: np.empty((n_boot, M)) for k in metrics}
    chunk = max(1, min(n_boot, 4_000_000 // max(n, 1)))
    for lo in range(0, n_boot, chunk):
        b = min(chunk, n_boot - lo)
        W = _boot_counts(rng, n, b)
        boot["pearson"][lo: lo + b] = _weighted_pearson(W, y, P)
        if binary:
            for j in range(M):
                boot["auroc"][lo: lo + b, j] = _weighted_auroc(W, y, P[:, j])

    def ci(v: np.ndarray) -> list:
        v = v[np.isfinite(v)]
        return [float(x) for x in np.percentile(v, [2.5, 97.5])] if v.size else [None, None]

    intervals = {m: {k: ci(boot[k][:, j]) for k in metrics} for j, m in enumerate(models)}
    diffs = []
    for i in range(M):
        for j in range(i + 1, M):
            for k in metrics:
                d = boot[k][:, i] - boot[k][:, j]
                low, high = ci(d)
                fin = d[np.isfinite(d)]
                diffs.append({"a": models[i], "b": models[j], "metric": k,
                              "difference": float(point[k][i] - point[k][j]), "low": low, "high": high,
                              "share_above_zero": float((fin > 0).mean()) if fin.size else None})
    return intervals, diffs


def paired_bootstrap(y, P, models: list[str], *, n_boot: int = 1000, seed: int = 0) -> tuple[dict, list[dict]]:
    """Paired bootstrap over entries (the one :func:`compare_runs` uses): ``y`` ``(n,)`` observed,
    ``P`` ``(n, M)`` predictions of ``models``; returns per model the 95 % interval of its Pearson r
    and, for every pair ``a`` before ``b``, the difference a - b with its 95 % interval."""
    y, P = np.asarray(y, dtype=np.float64), np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape != (y.size, len(models)):
        raise InputError(f"predictions {P.shape} do not match {y.size} entries x {len(models)} models")
    return bootstrap_target(y, P, list(models), False, n_boot, np.random.default_rng(seed))


# --- base-resolution profiles (BPNet / ChromBPNet) ------------------------------------------------
# (appended as a section; its one import stays here)



class ProfileBaselines(NamedTuple):
    """Per-example ``(N,)`` scores of the two reference predictors of a profile model:
    ``shuffled_*`` each observed profile against itself with its positions permuted (no skill:
    what a model must beat), ``average_*`` the mean training profile predicted for every example
    (no sequence information)."""

    shuffled_jsd: np.ndarray
    shuffled_pearson: np.ndarray
    average_jsd: np.ndarray
    average_pearson: np.ndarray


def _profiles(x) -> np.ndarray:
    """``(N, L)`` or ``(N, T, L)`` -> ``(N, T·L)`` float64 (tracks flattened, as the loss does)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise InputError(f"profiles must be (N, L) or (N, T, L), got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def profile_jsd(pred_prob, observed_counts, *, base: float = 2.0) -> np.ndarray:
    """Jensen-Shannon distance (square root of the JS divergence) per example: ``(N,)``.

    ``pred_prob`` and ``observed_counts`` are ``(N, L)`` or ``(N, T, L)``; tracks and positions
    form one distribution per example (as in :func:`cisgram.models.bpnet.multinomial_nll`). Both
    sides are normalised to sum to 1 (observed counts become proportions). Base-2 logs bound the
    distance in [0, 1]; chrombpnet reports scipy's natural-log value (``base=np.e``), and adds a
    0.001 pseudocount to the observed total, which this does not. An example whose observed (or
    predicted) profile is all zero has no distribution: NaN."""
    p, q = _profiles(pred_prob), _profiles(observed_counts)
    if p.shape != q.shape:
        raise InputError(f"predicted {p.shape} and observed {q.shape} profiles differ in shape")
    from scipy.special import rel_entr  # x·log(x / y), 0 where x = 0

    with np.errstate(invalid="ignore", divide="ignore"):
        p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    m = (p + q) / 2
    js = (rel_entr(p, m).sum(1) + rel_entr(q, m).sum(1)) / 2 / np.log(base)
    bad = ~(np.isfinite(p).all(1) & np.isfinite(q).all(1))
    return np.where(bad, np.nan, np.sqrt(np.clip(js, 0.0, None)))


def profile_pearson(pred, observed) -> np.ndarray:
    """Pearson r across positions (tracks flattened) per example: ``(N,)``; NaN where either
    profile is constant."""
    p, y = _profiles(pred), _profiles(observed)
    if p.shape != y.shape:
        raise InputError(f"predicted {p.shape} and observed {y.shape} profiles differ in shape")
    p, y = p - p.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    den = np.sqrt((p * p).sum(1) * (y * y).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (p * y).sum(1) / np.where(den > 0, den, 1), np.nan)


def profile_baselines(observed, *, average=None, seed: int | np.random.Generator = 0) -> ProfileBaselines:
    """The shuffled-profile and average-profile baselines of ``observed`` ``(N, L)`` or
    ``(N, T, L)`` counts, scored with :func:`profile_jsd` and :func:`profile_pearson`.

    ``average`` is the prediction of the average baseline, ``(L,)`` or ``(T, L)``: give the mean
    of the *training* profiles (each normalised to proportions first); without it the mean of
    ``observed``'s own proportions is used, which flatters the baseline slightly. The shuffles
    come from ``seed`` (each example's positions permuted independently)."""
    y = _profiles(observed)
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(y, axis=1)
    if average is None:
        ok = y.sum(1) > 0
        average = (y[ok] / y[ok].sum(1, keepdims=True)).mean(0) if ok.any() else np.zeros(y.shape[1])
    avg = np.broadcast_to(np.asarray(average, dtype=np.float64).ravel(), y.shape)
    return ProfileBaselines(profile_jsd(shuffled, y), profile_pearson(shuffled, y),
                            profile_jsd(avg, y), profile_pearson(avg, y))


