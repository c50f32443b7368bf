"""Log-odds matrices and the exact score <-> p-value mapping of :func:`cisgram.motifs.scan.scan`:
the integer-scaled score distribution under the background by dynamic programming, thresholds
(:func:`pvalue_thresholds`) and p-values of scores (:func:`score_pvalue`), memelite's rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numba
import numpy as np

from cisgram.errors import InputError
from cisgram.motifs.pwm import Motif, MotifSet, as_background

PSEUDOCOUNT = 1e-4  # memelite's eps


BIN_SIZE = 0.1  # memelite's bin_size


def as_motif_set(motifs: MotifSet | Iterable[Motif]) -> MotifSet:
    ms = motifs if isinstance(motifs, MotifSet) else MotifSet(list(motifs))  # refuses repeated names
    if len(ms) == 0:
        raise InputError("no motifs to scan", hint="give a MotifSet with at least one motif (load_motifs)")
    return ms


def background_of(ms: MotifSet, background) -> np.ndarray:
    return ms.background if background is None else as_background(background)


def log_odds_matrices(motifs: MotifSet | Iterable[Motif], background: Sequence[float] | None = None,
                      pseudocount: float = PSEUDOCOUNT) -> list[np.ndarray]:
    """Each motif's scoring matrix, float64 ``(w, 4)``: ``log2(p + pseudocount) - log2(bg)``."""
    ms = as_motif_set(motifs)
    bg = background_of(ms, background)
    if pseudocount <= 0:
        raise InputError(f"pseudocount must be > 0 for scanning, got {pseudocount}")
    return [np.log2(m.probs + pseudocount) - np.log2(bg) for m in ms]


@numba.njit(cache=True)
def _survival(int_pwm, bg):
    """P(S >= smallest + j) for the integer matrix ``int_pwm`` (w, 4) under ``bg``; returns
    (smallest, sf). The table spans every partial sum, so no shift leaves it."""
    w = int_pwm.shape[0]
    lo, hi, smallest, largest = 0, 0, 0, 0
    for i in range(w):
        lo += int_pwm[i].min()
        hi += int_pwm[i].max()
        smallest = min(smallest, lo)
        largest = max(largest, hi)
    size = largest - smallest + 1
    pmf = np.zeros(size)
    new = np.zeros(size)
    pmf[-smallest] = 1.0
    for i in range(w):
        new[:] = 0.0
        for j in range(size):
            v = pmf[j]
            if v != 0.0:
                for a in range(4):
                    new[j + int_pwm[i, a]] += v * bg[a]
        pmf[:] = new
    sf = np.empty(size)
    acc = 0.0
    for j in range(size - 1, -1, -1):
        acc += pmf[j]
        sf[j] = acc
    return smallest, sf


def pvalue_tables(mats: list[np.ndarray], bg: np.ndarray, bin_size: float):
    out = []
    for m in mats:
        smallest, sf = _survival(np.round(m / bin_size).astype(np.int64), bg)
        out.append((int(smallest), sf))
    return out


def thresholds_from_tables(tables, p: float, bin_size: float) -> np.ndarray:
    thr = np.full(len(tables), np.inf)
    for i, (smallest, sf) in enumerate(tables):
        passing = np.flatnonzero(sf < p)
        if passing.size:
            # float64 product rounded to float32, as memelite stores it
            thr[i] = float(np.float32((passing[0] + smallest) * bin_size))
    return thr


def check_p(p: float) -> float:
    p = float(p)
    if not 0 < p <= 1:
        raise InputError(f"p-value threshold must be in (0, 1], got {p}")
    return p


def pvalue_thresholds(motifs: MotifSet | Iterable[Motif], p: float = 1e-4,
                      background: Sequence[float] | None = None, *, pseudocount: float = PSEUDOCOUNT,
                      bin_size: float = BIN_SIZE) -> np.ndarray:
    """Each motif's log-odds score threshold for p-value ``p``, float64 ``(n_motifs,)``.

    A window scoring strictly above it is a hit (see the module docstring); ``+inf`` when no score
    of the motif reaches ``p``.
    """
    ms = as_motif_set(motifs)
    bg = background_of(ms, background)
    tables = pvalue_tables(log_odds_matrices(ms, bg, pseudocount), bg, bin_size)
    return thresholds_from_tables(tables, check_p(p), bin_size)


def lookup_pvalues(tables, motif_idx: np.ndarray, scores: np.ndarray, bin_size: float) -> np.ndarray:
    smallest = np.array([t[0] for t in tables], dtype=np.int64)
    sizes = np.array([t[1].size for t in tables], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = np.concatenate([t[1] for t in tables])
    j = np.trunc(np.asarray(scores, dtype=np.float64) / bin_size).astype(np.int64) - smallest[motif_idx]
    j = np.clip(j, 0, sizes[motif_idx] - 1)
    return flat[offsets[motif_idx] + j]


def score_pvalue(motifs: MotifSet | Iterable[Motif], motif: Sequence[int] | np.ndarray, score,
                 background: Sequence[float] | None = None, *, pseudocount: float = PSEUDOCOUNT,
                 bin_size: float = BIN_SIZE) -> np.ndarray:
    """P-values of log-odds ``score`` for motif indices ``motif`` (broadcast together):
    ``P(S >= trunc(score / bin_size))`` under the background, as :func:`scan` reports them."""
    ms = as_motif_set(motifs)
    bg = background_of(ms, background)
    idx, sc = np.broadcast_arrays(np.asarray(motif, dtype=np.int64), np.asarray(score, dtype=np.float64))
    if idx.size and (idx.min() < 0 or idx.max() >= len(ms)):
        raise InputError(f"motif index out of range 0..{len(ms) - 1}")
    tables = pvalue_tables(log_odds_matrices(ms, bg, pseudocount), bg, bin_size)
    return lookup_pvalues(tables, idx.ravel(), sc.ravel(), bin_size).reshape(idx.shape)
