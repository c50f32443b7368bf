"""Simulated sequences with planted motifs: ground truth for models and their explanations.

:func:`planted` draws random sequences (i.i.d. bases at a given GC content) and plants a site
sampled from a motif's probability matrix into a chosen fraction of them, at a random position
and strand. The label is whether a site was planted, so a model that reads sequence well must
find the motif, and an explanation of it must point at the planted positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Planted:
    """``codes`` ``(N, L)`` uint8 (A C G T = 0..3), ``label`` ``(N,)`` 0/1, ``position`` ``(N,)``
    start of the planted site (−1 where none), ``strand`` ``(N,)`` +1/−1 (0 where none)."""

    codes: np.ndarray
    label: np.ndarray
    position: np.ndarray
    strand: np.ndarray


def consensus_probs(consensus: str, p: float = 0.94) -> np.ndarray:
    """A ``(4, W)`` motif giving each consensus base probability ``p`` and the other three
    ``(1 - p) / 3``."""
    if not consensus or set(consensus.upper()) - set("ACGT") or not 0.25 <= p <= 1:
        raise ValueError(f"need an ACGT consensus and 0.25 <= p <= 1, got {consensus!r}, {p}")
    probs = np.full((4, len(consensus)), (1 - p) / 3)
    probs[["ACGT".index(c) for c in consensus.upper()], np.arange(len(consensus))] = p
    return probs


def random_codes(n: int, length: int, *, gc: float = 0.41, rng: np.random.Generator) -> np.ndarray:
    """``(n, length)`` uint8 bases drawn independently with G + C probability ``gc``."""
    p = np.array([1 - gc, gc, gc, 1 - gc]) / 2
    return rng.choice(4, size=(n, length), p=p).astype(np.uint8)


def sample_sites(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sites ``(n, W)`` drawn from a ``(4, W)`` probability matrix, column by column."""
    probs = np.asarray(probs, dtype=np.float64)
    cum = np.cumsum(probs / probs.sum(0, keepdims=True), axis=0)
    u = rng.random((n, probs.shape[1]))
    return (u[:, None, :] > cum[None, :, :]).sum(1).clip(0, 3).astype(np.uint8)


def planted(probs: np.ndarray, n: int, length: int, *, fraction: float = 0.5, gc: float = 0.41,
            seed: int = 0) -> Planted:
    """``n`` sequences of ``length``; a ``fraction`` of them carry one site of the ``(4, W)``
    motif ``probs`` at a uniform position, on a random strand."""
    rng = np.random.default_rng(seed)
    probs = np.asarray(probs, dtype=np.float64)
    w = probs.shape[1]
    if w > length:
        raise ValueError(f"motif of width {w} does not fit in {length} bp")
    codes = random_codes(n, length, gc=gc, rng=rng)
    label = (rng.random(n) < fraction).astype(np.int8)
    pos = np.full(n, -1, dtype=np.int64)
    strand = np.zeros(n, dtype=np.int8)
    rows = np.flatnonzero(label)
    sites = sample_sites(probs, rows.size, rng)
    minus = rng.random(rows.size) < 0.5
    sites[minus] = 3 - sites[minus, ::-1]
    starts = rng.integers(0, length - w + 1, rows.size)
    for r, s, site in zip(rows, starts, sites, strict=True):
        codes[r, s: s + w] = site
    pos[rows], strand[rows] = starts, np.where(minus, -1, 1)
    return Planted(codes, label, pos, strand)
