"""Sequence covariates (GC content, dinucleotide frequencies) and the [0, 10] scaling IceQream
puts every covariate and energy on, fitted on training rows (:func:`fit_scale`, :func:`apply_scale`)."""

from __future__ import annotations

import logging

import numpy as np

from cisgram.data.access import train_mask
from cisgram.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["DINUCLEOTIDES", "apply_scale", "fit_scale", "sequence_covariates"]

DINUCLEOTIDES = [a + b for a in "ACGT" for b in "ACGT"]


_CHUNK_ROWS = 65_536  # rows per block in sequence_covariates (bounds the temporary arrays)


def sequence_covariates(codes) -> tuple[np.ndarray, list[str]]:
    """GC fraction and the 16 dinucleotide frequencies of each region's sequence.

    Parameters
    ----------
    codes
        ``(R, L)`` uint8 base codes A=0, C=1, G=2, T=3, N=4 (any code > 3 counts as N), as from
        :meth:`cisgram.genome.Genome.fetch_codes_batch`.

    Returns
    -------
    values, names
        ``(R, 17)`` float64 and ``["gc", "AA", "AC", ..., "TT"]``. GC is (C + G) / (non-N bases),
        0 for an all-N region. Dinucleotide frequency = count / (L - 1) over the L - 1 adjacent
        pairs; pairs containing N are not counted (so frequencies sum to less than 1 with Ns).
    """
    s = np.asarray(codes)
    if s.ndim != 2:
        raise InputError(f"codes must be a 2-D (regions x length) array, got shape {s.shape}")
    n, length = s.shape
    if length < 2:
        raise InputError(f"sequences must be at least 2 bp long for dinucleotides, got {length}")
    out = np.empty((n, 17), dtype=np.float64)
    n_all_n = 0
    for lo in range(0, n, _CHUNK_ROWS):
        blk = s[lo:lo + _CHUNK_ROWS].astype(np.int64)
        m = blk.shape[0]
        valid = blk < 4
        n_valid = valid.sum(axis=1)
        n_all_n += int((n_valid == 0).sum())
        gc = ((blk == 1) | (blk == 2)).sum(axis=1)
        out[lo:lo + m, 0] = np.divide(gc, n_valid, out=np.zeros(m), where=n_valid > 0)
        pair = blk[:, :-1] * 4 + blk[:, 1:]
        ok = valid[:, :-1] & valid[:, 1:]
        rows = np.broadcast_to(np.arange(m)[:, None] * 16, pair.shape)
        cnt = np.bincount((rows + pair)[ok], minlength=m * 16).reshape(m, 16)
        out[lo:lo + m, 1:] = cnt / (length - 1)
    if n_all_n:
        log.warning("sequence_covariates: %d region(s) are all N; their GC is set to 0", n_all_n)
    return out, ["gc", *DINUCLEOTIDES]


def fit_scale(X, train, *, q: tuple[float, float] = (0.05, 0.95), top: float = 10.0) -> dict:
    """Per-column ``q`` quantiles over ``train`` rows, for :func:`apply_scale` (IceQream step 8).

    ``X`` is ``(R,)`` or ``(R, K)``. Returns JSON-safe ``{"lo", "hi", "q", "top"}`` (lists per
    column).
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise InputError(f"X must be 1-D or 2-D, got shape {x.shape}")
    x2 = x.reshape(x.shape[0], -1)
    train = train_mask(train, x2.shape[0])
    lo_q, hi_q = (float(v) for v in q)
    if not 0.0 <= lo_q < hi_q <= 1.0:
        raise InputError(f"q must satisfy 0 <= q_lo < q_hi <= 1, got {q}")
    if not top > 0:
        raise InputError(f"top must be positive, got {top}")
    if not np.isfinite(x2[train]).all():
        raise InputError("X holds NaN or infinite values in training rows")
    lo, hi = np.quantile(x2[train], [lo_q, hi_q], axis=0)
    return {"lo": lo.tolist(), "hi": hi.tolist(), "q": [lo_q, hi_q], "top": float(top)}


def apply_scale(X, params: dict) -> np.ndarray:
    """Clip each column to ``[lo, hi]`` and map it linearly to ``[0, top]``; a constant column
    (``lo == hi``) maps to 0. Same shape as ``X``."""
    x = np.asarray(X, dtype=np.float64)
    x2 = x.reshape(x.shape[0], -1) if x.ndim else x.reshape(1, 1)
    lo = np.asarray(params["lo"], dtype=np.float64)
    hi = np.asarray(params["hi"], dtype=np.float64)
    if x2.shape[1] != lo.size:
        raise InputError(f"X has {x2.shape[1]} column(s) but the scaling was fitted on {lo.size}")
    rng = hi - lo
    flat = ~(rng > 0)
    out = (np.clip(x2, lo, hi) - lo) / np.where(flat, 1.0, rng) * params["top"]
    out[:, flat] = 0.0
    return out.reshape(x.shape)
