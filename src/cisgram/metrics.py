"""Metrics: one Pearson, Spearman, R², auROC and auPRC for the whole package, the paired
bootstrap that puts intervals on them, and the cell-type specificity of multi-task models
(:func:`specificity`).

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
           "most_common_share", "regression_metrics", "spearman", "specificity"]


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




# --- cell-type specificity of multi-task models ---------------------------------------------------


def _partial_from(r_xy: np.ndarray, r_xz: np.ndarray, r_yz: np.ndarray) -> np.ndarray:
    """Partial correlation of x and y given z from the three Pearson r (NaN where z explains x or y
    wholly, or any r is NaN); equal to the Pearson r of the residuals of x and y after a least-squares
    line (with intercept) on z."""
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt((1.0 - r_xz ** 2) * (1.0 - r_yz ** 2))
        out = np.where(den > 1e-12, (r_xy - r_xz * r_yz) / np.where(den > 1e-12, den, 1.0), np.nan)
    return np.clip(out, -1.0, 1.0)


def _difference_scores(d_obs: np.ndarray, D: np.ndarray, gc: np.ndarray | None, n_boot: int,
                       rng: np.random.Generator) -> tuple[dict, dict]:
    """Point values and ``(n_boot, M)`` bootstrap values of the Pearson r of ``d_obs`` ``(n,)``
    with each column of ``D`` ``(n, M)``, raw and (with ``gc``) as the partial r given GC; every
    statistic of one resample comes from the same resampled rows."""
    n, M = D.shape
    keys = ["difference_r"] + (["difference_r_gc"] if gc is not None else [])

    def stats(W: np.ndarray) -> dict:
        r = _weighted_pearson(W, d_obs, D)
        out = {"difference_r": r}
        if gc is not None:
            r_oz = _weighted_pearson(W, d_obs, gc[:, None])          # (B, 1)
            r_pz = _weighted_pearson(W, gc, D)                       # (B, M)
            out["difference_r_gc"] = _partial_from(r, r_oz, r_pz)
        return out

    point = {k: v[0] for k, v in stats(np.ones((1, n))).items()}
    boot = {k: np.full((n_boot, M), np.nan) for k in keys}
    chunk = max(1, min(n_boot, 4_000_000 // max(n, 1)))
    for lo in range(0, n_boot, chunk):
        b = min(chunk, n_boot - lo)
        for k, v in stats(_boot_counts(rng, n, b)).items():
            boot[k][lo: lo + b] = v
    return point, boot


def _ci(v: np.ndarray) -> list:
    v = v[np.isfinite(v)]
    return [float(x) for x in np.percentile(v, [2.5, 97.5])] if v.size else [None, None]


def specificity(observed, predicted, targets, *, gc=None, direct=None, pairs=None, n_boot: int = 1000,
                seed: int = 0) -> dict:
    """Cell-type specificity of models that predict several conditions (targets), on one set of rows.

    For each pair of targets (A, B) it asks whether a model knows *where A and B differ*, not only
    where both are high: the Pearson r of each model's difference of heads ``pred[A] - pred[B]``
    with the observed difference ``obs[A] - obs[B]`` (``difference_r``), and, with ``gc``, the same
    after a least-squares line on GC (with intercept) is taken out of both differences
    (``difference_r_gc``: the partial correlation given GC, what is left once GC's share of both is
    removed). A multi-task network whose heads share one GC-driven signal has a head-head r near 1
    and a difference r near 0 even when each head alone scores well.

    Parameters
    ----------
    observed
        ``(N, T)`` observed values of ``targets`` (no NaN).
    predicted
        ``{model: (N, T)}`` each model's heads, columns in ``targets`` order.
    targets
        the ``T`` target names.
    gc
        ``(N,)`` GC fraction of each row's sequence, or None (then no GC numbers).
    direct
        ``{model: (a, b, (N,))}`` models that predict a difference of two targets directly (a dAP
        model, ``--vs``): its prediction of ``obs[a] - obs[b]``, scored for that pair only (sign
        turned when the pair is listed as (b, a)).
    pairs
        ``[(A, B), ...]``; default every pair of ``targets`` in their order.
    n_boot, seed
        Paired bootstrap of the rows (:func:`paired_bootstrap`'s resampling: the same resampled rows
        for every model and both statistics of a pair; pair ``k`` seeds ``[seed, k]``).

    Returns
    -------
    dict
        ``n``, ``targets``, ``gc`` (whether GC was given), ``head_gc`` (each head's Pearson r with
        GC: ``{"observed": {t: r}, model: {t: r}}``, empty without ``gc``) and ``pairs``, one per
        pair of targets. Each pair holds ``a``, ``b``, ``n``,
        ``observed_r`` (r of obs A with obs B: how alike the two conditions really are),
        ``observed_difference_gc_r`` (r of the observed difference with GC), ``models`` — per model
        ``kind`` (``heads`` | ``direct``), ``head_r`` (r of its A and B predictions; None for a direct
        model), ``difference_r`` and ``difference_r_gc`` with 95 % percentile intervals
        (``*_ci``), ``predicted_difference_gc_r`` and a ``note`` when its difference is constant
        (identical heads: every r is NaN, the model cannot tell A from B) — and ``differences``:
        for every pair of models (m1 before m2) and statistic, m1 - m2 with its 95 % interval
        and the share of resamples above 0. NaN follows the module's convention (left to the
        caller to write as null).
    """
    Y = np.asarray(observed, dtype=np.float64)
    targets = [str(t) for t in targets]
    if Y.ndim != 2 or Y.shape[1] != len(targets):
        raise InputError(f"observed values {Y.shape} do not match {len(targets)} target(s)")
    N = Y.shape[0]
    heads = {str(m): np.asarray(p, dtype=np.float64) for m, p in (predicted or {}).items()}
    for m, p in heads.items():
        if p.shape != Y.shape:
            raise InputError(f"predictions of {m} are {p.shape}; observed values are {Y.shape}")
    direct = {str(m): (str(a), str(b), np.asarray(v, dtype=np.float64).ravel()) for m, (a, b, v) in (direct or {}).items()}
    for m, (a, b, v) in direct.items():
        if v.size != N or a not in targets or b not in targets:
            raise InputError(f"direct model {m}: {v.size} predictions of {a} - {b}; expected {N} rows of two of "
                             f"{', '.join(targets)}")
    if gc is not None:
        gc = np.asarray(gc, dtype=np.float64).ravel()
        if gc.size != N:
            raise InputError(f"{gc.size} GC values for {N} rows")
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(targets) for b in targets[i + 1:]]
    col = {t: i for i, t in enumerate(targets)}
    head_gc = {}
    if gc is not None:
        head_gc = {"observed": {t: pearson(Y[:, i], gc) for t, i in col.items()},
                   **{m: {t: pearson(p[:, i], gc) for t, i in col.items()} for m, p in heads.items()}}
    out_pairs = []
    for k, (a, b) in enumerate(pairs):
        if a not in col or b not in col or a == b:
            raise InputError(f"pair ({a}, {b}) is not two of the targets {', '.join(targets)}")
        d_obs = Y[:, col[a]] - Y[:, col[b]]
        names, cols, info = [], [], {}
        for m, p in heads.items():
            names.append(m)
            cols.append(p[:, col[a]] - p[:, col[b]])
            info[m] = {"kind": "heads", "head_r": pearson(p[:, col[a]], p[:, col[b]])}
        for m, (da, db, v) in direct.items():
            if {da, db} == {a, b}:
                names.append(m)
                cols.append(v if (da, db) == (a, b) else -v)
                info[m] = {"kind": "direct", "head_r": None}
        entry = {"a": a, "b": b, "n": N, "observed_r": pearson(Y[:, col[a]], Y[:, col[b]]),
                 "observed_difference_gc_r": None if gc is None else pearson(d_obs, gc), "models": info,
                 "differences": []}
        out_pairs.append(entry)
        if not names:
            continue
        D = np.column_stack(cols)
        if N < 3:
            point = {"difference_r": np.full(len(names), np.nan)}
            boot = {"difference_r": np.full((1, len(names)), np.nan)}
            if gc is not None:
                point["difference_r_gc"], boot["difference_r_gc"] = point["difference_r"], boot["difference_r"]
        else:
            point, boot = _difference_scores(d_obs, D, gc, n_boot, np.random.default_rng([seed, k]))
        for j, m in enumerate(names):
            rec = info[m]
            for s in ("difference_r", "difference_r_gc"):
                rec[s] = float(point[s][j]) if s in point else None
                rec[s + "_ci"] = _ci(boot[s][:, j]) if s in boot else [None, None]
            rec["predicted_difference_gc_r"] = None if gc is None else pearson(D[:, j], gc)
            if np.ptp(D[:, j]) == 0:
                rec["note"] = f"constant {a} - {b} difference (identical heads): the model cannot tell {a} from {b}"
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                for s in point:
                    dd = boot[s][:, i] - boot[s][:, j]
                    fin = dd[np.isfinite(dd)]
                    low, high = _ci(dd)
                    entry["differences"].append({"a": names[i], "b": names[j], "metric": s,
                                                 "difference": float(point[s][i] - point[s][j]), "low": low,
                                                 "high": high,
                                                 "share_above_zero": float((fin > 0).mean()) if fin.size else None})
    return {"n": N, "targets": targets, "gc": gc is not None, "head_gc": head_gc, "pairs": out_pairs}


def most_common_share(values) -> float:
    """The share of ``values`` equal (exact float equality) to the most common one; NaN when empty."""
    values = np.asarray(values)
    if values.size == 0:
        return float("nan")
    return float(np.unique(values, return_counts=True)[1].max() / values.size)
