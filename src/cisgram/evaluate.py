"""Metrics with one shape for every model family (DESIGN §1)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def regression_metrics(observed, predicted) -> dict:
    """``{"pearson", "spearman", "r2", "pearson_r2", "n"}`` over the finite pairs.

    ``r2`` is the coefficient of determination 1 - SS_res / SS_tot on the target's own scale;
    ``pearson_r2`` is IceQream's R² (squared Pearson r), blind to any linear calibration. With
    fewer than 3 pairs, or a constant side, the correlations are NaN."""
    y = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    n = int(y.size)
    out = {"pearson": float("nan"), "spearman": float("nan"), "r2": float("nan"), "pearson_r2": float("nan"), "n": n}
    if n < 3:
        return out
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if ss_tot > 0:
        out["r2"] = 1.0 - float(((y - p) ** 2).sum()) / ss_tot
    if ss_tot > 0 and np.ptp(p) > 0:
        out["pearson"] = float(np.corrcoef(y, p)[0, 1])
        out["spearman"] = float(stats.spearmanr(y, p).statistic)
        out["pearson_r2"] = out["pearson"] ** 2
    return out


def classification_metrics(observed, predicted) -> dict:
    """:func:`regression_metrics` plus ``auroc``, ``auprc`` (average precision) and ``n_pos``
    for 0/1 labels; the areas are NaN unless both classes are present."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = regression_metrics(observed, predicted)
    y = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok] > 0.5, p[ok]
    out["n_pos"] = int(y.sum())
    both = 0 < y.sum() < y.size
    out["auroc"] = float(roc_auc_score(y, p)) if both else float("nan")
    out["auprc"] = float(average_precision_score(y, p)) if both else float("nan")
    return out
