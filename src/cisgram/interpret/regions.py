"""Region-level scores and sequence-bootstrap intervals of the attribution benchmark.

AgentBind (Zheng et al. 2021) scored attribution methods at two resolutions: the bases of the
planted sites (:func:`cisgram.interpret.attribution.recovery`) and the *regions* holding them.
Here a region is a window of ``width`` bp: each explained sequence is tiled into non-overlapping
windows starting at base 0, and **a shorter last window is dropped** (with ``L = 500`` and
``width = 30``, bases 480–499 are not scored), so every window sums the same number of bases.
A window is ground truth when it overlaps a planted label-bearing base; windows are ranked by
their summed per-base importance (the same ``|attribution|`` the base-level score uses,
:func:`cisgram.interpret.attribution.importance`), L1-normalised per sequence and pooled, exactly
as the base-level score treats bases (:func:`region_recovery`).

Intervals resample the explained **sequences** (not bases or windows: the bases of a sequence
share its model response), with replacement, ``n_boot`` times, seeded. A pooled area with
sequence weights ``w`` (bootstrap counts) is computed exactly without re-sorting:

``auROC(w) = w' C w / ((w · pos) (w · neg))``, where ``C[i, j]`` counts the (positive of sequence
``i``, negative of sequence ``j``) pairs that the scores order correctly (ties count ½, as
``sklearn.metrics.roc_auc_score``), ``pos`` / ``neg`` the positives and negatives per sequence
(:func:`pair_counts`, :func:`weighted_auroc`). With ``w = 1`` this is the pooled area itself.
Every method and resolution is evaluated on the same draws, so differences between methods are
paired (:func:`paired_difference`); a method against itself differs by exactly 0 in every draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from cisgram.errors import InputError
from cisgram.metrics import auroc

RESOLUTIONS = ("base", "region")


def _check(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, t = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    if s.ndim != 2 or s.shape != t.shape:
        raise InputError(f"scores {s.shape} and truth {t.shape} must be the same (N, L) shape")
    return s, t


def _tiles(x: np.ndarray, width: int) -> np.ndarray:
    """``(N, L)`` to ``(N, L // width, width)``: the full windows, the shorter tail dropped."""
    n, length = x.shape
    if not 1 <= int(width) <= length:
        raise InputError(f"region width {width} bp must be between 1 and the sequence length ({length} bp)")
    k = length // int(width)
    return x[:, : k * int(width)].reshape(n, k, int(width))


def window_scores(scores: np.ndarray, width: int) -> np.ndarray:
    """``(N, L // width)``: the summed per-base importance of each full window of ``width`` bp
    (non-overlapping, from base 0; the shorter last window is dropped)."""
    return _tiles(np.asarray(scores, dtype=np.float64), width).sum(-1)


def window_truth(truth: np.ndarray, width: int) -> np.ndarray:
    """``(N, L // width)`` bool: the windows of :func:`window_scores` that overlap a true base."""
    return _tiles(np.asarray(truth, dtype=bool), width).any(-1)


def _l1(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(x.sum(1, keepdims=True), 1e-30)


def region_recovery(scores: np.ndarray, truth: np.ndarray, width: int = 30) -> dict:
    """How well per-base importances find the windows holding the ground-truth bases.

    Parameters
    ----------
    scores
        ``(N, L)`` non-negative per-base importance (:func:`~cisgram.interpret.attribution.importance`).
    truth
        ``(N, L)`` bool, the planted label-bearing bases.
    width
        Window width in bp (non-overlapping; the shorter last window is dropped).

    Returns
    -------
    dict
        ``region_auroc``: pooled auROC of the windows overlapping a true base against the others,
        window sums L1-normalised per sequence; ``region_auroc_per_sequence``: the mean of each
        sequence's own area (sequences with both kinds of window only); ``n_windows``: windows
        per sequence. NaN where a class is missing.
    """
    s, t = _check(scores, truth)
    ws, wt = _l1(window_scores(s, width)), window_truth(t, width)
    per_seq = [auroc(a, b) for a, b in zip(wt, ws, strict=True) if 0 < a.sum() < a.size]
    return {"region_auroc": auroc(wt.ravel(), ws.ravel()),
            "region_auroc_per_sequence": float(np.mean(per_seq)) if per_seq else float("nan"),
            "n_windows": int(wt.shape[1])}


class PairCounts(NamedTuple):
    """The sufficient statistics of a pooled auROC under sequence weights: ``correct[i, j]`` the
    (positive of sequence ``i``, negative of sequence ``j``) pairs ordered correctly, ties ½;
    ``pos`` and ``neg`` ``(N,)`` the positives and negatives of each sequence."""

    correct: np.ndarray
    pos: np.ndarray
    neg: np.ndarray


def pair_counts(scores: np.ndarray, truth: np.ndarray) -> PairCounts:
    """:class:`PairCounts` of ``(N, K)`` scores (bases or windows) against ``(N, K)`` truth.
    ``O(N · P log K)`` for ``P`` positives in all: one sorted search per sequence."""
    s, t = _check(scores, truth)
    n = len(s)
    owner = np.repeat(np.arange(n), t.sum(1))
    positives = s[t]
    correct = np.zeros((n, n))
    for j in range(n):
        negs = np.sort(s[j][~t[j]])
        below = np.searchsorted(negs, positives, side="left")
        ties = np.searchsorted(negs, positives, side="right") - below
        correct[:, j] = np.bincount(owner, weights=below + 0.5 * ties, minlength=n)
    return PairCounts(correct, t.sum(1).astype(np.float64), (~t).sum(1).astype(np.float64))


def weighted_auroc(counts: PairCounts, weights: np.ndarray) -> np.ndarray:
    """``(B,)`` pooled auROCs under ``(B, N)`` sequence weights (e.g. bootstrap counts); NaN for
    a draw without positives or negatives."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    num = np.einsum("bi,ij,bj->b", w, counts.correct, w)
    den = (w @ counts.pos) * (w @ counts.neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def bootstrap_weights(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` counts: how often each of ``n`` sequences is drawn in each resample (with
    replacement, ``n`` draws), from ``numpy.random.default_rng(seed)``."""
    if n < 1 or n_boot < 1:
        raise InputError(f"the bootstrap needs at least one sequence and one draw, got {n} and {n_boot}")
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]).astype(np.float64)


def interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite ``draws`` (NaN, NaN when there are none)."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not d.size:
        return float("nan"), float("nan")
    lo, hi = np.percentile(d, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def paired_difference(draws_a: np.ndarray, draws_b: np.ndarray, point_a: float, point_b: float) -> dict:
    """``a - b`` of two methods scored on the same bootstrap draws: the point difference, its 95 %
    percentile interval and the share of draws where ``a`` is ahead."""
    d = np.asarray(draws_a, dtype=np.float64) - np.asarray(draws_b, dtype=np.float64)
    fin = d[np.isfinite(d)]
    low, high = interval(d)
    return {"difference": float(point_a - point_b), "low": low, "high": high,
            "share_above_zero": float((fin > 0).mean()) if fin.size else float("nan")}


class SequenceBootstrap(NamedTuple):
    """Per method and resolution: the point area, its interval and the draws behind both."""

    points: dict
    intervals: dict
    draws: dict


def sequence_bootstrap(scores: Mapping[str, np.ndarray], truth: np.ndarray, *, width: int = 30,
                       n_boot: int = 1000, seed: int = 0) -> SequenceBootstrap:
    """Bootstrap over sequences of every method's pooled auROC at base and region resolution.

    Parameters
    ----------
    scores
        ``{method: (N, L) per-base importance}``; every method is evaluated on the same draws.
    truth
        ``(N, L)`` bool planted bases.
    width, n_boot, seed
        Window width (:func:`region_recovery`), resamples and their seed.

    Returns
    -------
    SequenceBootstrap
        ``points[m][res]`` (equal to :func:`~cisgram.interpret.attribution.recovery`'s and
        :func:`region_recovery`'s pooled areas), ``intervals[m][res]`` ``(low, high)`` and
        ``draws[m][res]`` ``(n_boot,)``, for ``res`` in :data:`RESOLUTIONS`.
    """
    t = np.asarray(truth, dtype=bool)
    weights = bootstrap_weights(len(t), n_boot, seed)
    wt = window_truth(t, width)
    points, intervals, draws = {}, {}, {}
    for m, s in scores.items():
        s = _check(s, t)[0]
        counts = {"base": pair_counts(_l1(s), t), "region": pair_counts(_l1(window_scores(s, width)), wt)}
        points[m] = {r: float(weighted_auroc(c, np.ones(len(t)))[0]) for r, c in counts.items()}
        draws[m] = {r: weighted_auroc(c, weights) for r, c in counts.items()}
        intervals[m] = {r: interval(d) for r, d in draws[m].items()}
    return SequenceBootstrap(points, intervals, draws)


def method_pairs(boot: SequenceBootstrap, methods: Sequence[str] | None = None) -> list[dict]:
    """For every pair ``a`` before ``b`` (in ``methods`` order, default the bootstrap's) and each
    resolution: ``{"a", "b", "resolution", "difference", "low", "high", "share_above_zero"}``."""
    names = list(methods if methods is not None else boot.points)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for r in RESOLUTIONS:
                rows.append({"a": a, "b": b, "resolution": r,
                             **paired_difference(boot.draws[a][r], boot.draws[b][r], boot.points[a][r],
                                                 boot.points[b][r])})
    return rows


def winners(boot: SequenceBootstrap) -> list[dict]:
    """Per resolution the best method by pooled auROC and its paired lead over the runner-up:
    ``{"resolution", "best", "auroc", "runner_up", "difference", "low", "high",
    "share_above_zero"}`` (a lead whose interval holds 0 is not a clear win)."""
    rows = []
    for r in RESOLUTIONS:
        ranked = sorted((m for m in boot.points if np.isfinite(boot.points[m][r])), key=lambda m: -boot.points[m][r])
        if not ranked:
            continue
        best = ranked[0]
        row = {"resolution": r, "best": best, "auroc": boot.points[best][r], "runner_up": None,
               "difference": float("nan"), "low": float("nan"), "high": float("nan"), "share_above_zero": float("nan")}
        if len(ranked) > 1:
            second = ranked[1]
            row.update(runner_up=second, **paired_difference(boot.draws[best][r], boot.draws[second][r],
                                                             boot.points[best][r], boot.points[second][r]))
        rows.append(row)
    return rows
