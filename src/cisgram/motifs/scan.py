"""Motif scanning: log-odds scores of many PWMs on both strands of many sequences, FIMO-style hits
with exact p-values, and per-region features (best score, hit count) in one streamed pass.

One public verb, :func:`scan`, over private numba kernels (CPU) or a torch ``conv1d`` path (GPU),
plus :func:`pvalue_thresholds` and :func:`score_pvalue` for the score <-> p-value mapping.

Shapes and conventions
----------------------
- Input: ``uint8`` codes shaped ``(N, L)`` (A=0, C=1, G=2, T=3, anything else N — what
  :meth:`cisgram.genome.Genome.fetch_codes_batch` returns) or one-hot ``(N, 4, L)`` in the order
  A, C, G, T (a column that is not exactly one-hot, e.g. all zeros, is N). All regions have one
  length ``L``; every motif must be at most ``L`` wide.
- Log-odds, as memelite's FIMO builds them: ``log2(p + pseudocount) - log2(background)`` with
  ``pseudocount=1e-4`` (no renormalisation; the MEME suite's own FIMO smooths differently), in bits.
  The background defaults to the motif set's own (uniform for JASPAR files).
- A window at 0-based position ``x`` covers ``[x, x + w)`` of the given (forward) sequence. A
  minus-strand site is scored by sliding the reverse-complement matrix over the forward sequence,
  so its ``start``/``end`` are the same forward-strand half-open coordinates as a plus-strand
  site's (this is memelite's and FIMO's convention); the site reads 5'->3' from ``end - 1`` down.
- Windows containing an N are no site: they are never hits and never count towards ``max``.
  (memelite instead scores an N as 0; the two differ only at such windows.)
- P-values: the exact distribution of the integer-scaled score (each entry ``round(s /
  bin_size)``, ``bin_size=0.1``) under the background, by dynamic programming. A motif's score
  threshold is the smallest integer score ``j`` with ``P(S >= j) < threshold``, times
  ``bin_size``, rounded to float32; a window is a hit when its (float64, unscaled) score is
  strictly above it. A hit's p-value is ``P(S >= trunc(score / bin_size))``. These three rules
  are memelite's, so hits and p-values agree with ``memelite.fimo``.

Features (arrays shaped ``(n_regions, n_motifs)``)
--------------------------------------------------
- ``"max"``: float64, best log-odds score over both strands and all windows; ``-inf`` when the
  region has no window without an N (e.g. all N). Without hits it is the float32 sum (within
  1e-4 of the float64 score; hits and counts are always exact).
- ``"count"``: int32, number of hits (both strands) at the p-value threshold.

Implementation (chosen by measurement, see ``benchmarks/scan.py``)
-----------------------------------------------------------------
Features without a hit table (the hot path: feature matrices, energies) use a dense numba
kernel: motifs sorted by width in groups of 64, both strands as 128 columns, every window scored
as a sum of float32 two-base tables (``(kq, 25, 128)``, row ``5 a + b``) vectorised across the
columns, four rows per pass over the accumulator; the running maximum and the candidates above
``threshold - 1e-3`` come from one compare per column, and each candidate is rescored in float64
from the exact matrix, so counts are exact. The same loop multiplies IceQream odds tables for
:mod:`cisgram.motifs.features` (energies in one pass with the scores). On 2,000 x 1 kb x 879
JASPAR motifs (2 cores): counting 0.61 s, energy 0.61 s, both 1.26 s; memelite counts in 0.83 s.

With ``hits=True`` a second numba kernel, parallel over motifs, abandons windows early and
appends exact hits as it goes: each motif-strand has an int16 table (32 KB) of the upper bound
of its score given the 7 letters of its most informative 7 columns; a window whose bound cannot
beat the threshold costs one table lookup; survivors are bounded column by column and scored in
float64. Every bound keeps a margin far above float rounding, so pruning never changes a result.

``device="cuda"`` scores every window with torch ``conv1d`` (float32) and rescores candidates
(1e-3 slack) exactly in float64 on the CPU, so hits and counts stay exact; ``max`` there is the
float32 maximum.

Pitfalls
--------
- Memory is bounded by ``batch_size`` regions at a time plus the hits (use ``hits=False``, the
  default, for genome-wide feature matrices) plus 32 KB per motif-strand of tables.
- Where we differ from memelite on purpose: a motif whose smallest attainable p-value is not
  below ``threshold`` (short motifs: 100 of the 879 JASPAR 2024 vertebrate motifs at 1e-4) has a
  threshold of ``+inf`` and no hits (memelite reports hits with p = 0 for them); a score past the
  best integer score gets the p-value of that best score, never 0; windows with an N are no site.
- The hit kernel's ``max`` cannot prune as hard as its counting, so hits plus ``max`` cost more.
- The first call compiles the kernel (a few seconds; cached on disk afterwards).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cisgram.devices import resolve_device
from cisgram.errors import InputError
from cisgram.motifs.kernels import CpuScanner, DenseAdapter, DenseScanner, TorchScanner, as_scan_codes
from cisgram.motifs.pvalues import (
    BIN_SIZE,
    PSEUDOCOUNT,
    as_motif_set,
    background_of,
    check_p,
    log_odds_matrices,
    lookup_pvalues,
    pvalue_tables,
    thresholds_from_tables,
)
from cisgram.motifs.pwm import Motif, MotifSet

logger = logging.getLogger(__name__)

FEATURES = ("max", "count")


@dataclass(frozen=True)
class ScanResult:
    """What :func:`scan` returns.

    features
        ``{"max": float64 (n_regions, n_motifs), "count": int32 (n_regions, n_motifs)}``, the
        requested ones only.
    hits
        With ``hits=True`` a DataFrame with columns ``region, motif, start, end, strand, score,
        p_value`` (sorted by region, motif, start, strand), else ``None``.
    motif_names
        Column order of the feature arrays.
    score_thresholds
        float64 ``(n_motifs,)``: each motif's score threshold (``+inf`` when unreachable).
    """

    features: dict[str, np.ndarray]
    hits: pd.DataFrame | None
    motif_names: tuple[str, ...]
    score_thresholds: np.ndarray


# ---------------------------------------------------------------- matrices and p-values


# ---------------------------------------------------------------- inputs


# ---------------------------------------------------------------- the CPU kernel (numba)


# ---------------------------------------------------------------- the dense CPU kernel (numba)


# ---------------------------------------------------------------- the torch path (GPU)


# ---------------------------------------------------------------- the public verb


def scan(sequences, motifs: MotifSet | Iterable[Motif], *, threshold: float = 1e-4,
         features: Sequence[str] = FEATURES, hits: bool = False, names: Sequence[str] | None = None,
         batch_size: int = 1000, device: str = "cpu", background: Sequence[float] | None = None,
         pseudocount: float = PSEUDOCOUNT, bin_size: float = BIN_SIZE) -> ScanResult:
    """Scan ``motifs`` on both strands of ``sequences``; per-region features and optional hits.

    Parameters
    ----------
    sequences
        uint8 codes ``(N, L)`` (A=0, C=1, G=2, T=3, N=4) or one-hot ``(N, 4, L)`` (numpy or torch).
    motifs
        A :class:`MotifSet` (or motifs with unique names). Scored with memelite's FIMO log-odds.
    threshold
        P-value threshold for hits and ``count`` (a hit has a score strictly above the motif's
        :func:`pvalue_thresholds`).
    features
        Any of ``"max"`` (float64, best score, ``-inf`` for a region without an N-free window) and
        ``"count"`` (int32, hits on both strands); arrays ``(N, n_motifs)``.
    hits
        Also return the hit table (``region, motif, start, end, strand, score, p_value``).
    names
        Region labels for the hit table (length ``N``); default the region index.
    batch_size
        Regions scanned at a time; memory grows with it, not with ``N``.
    device
        ``"cpu"`` (numba kernel), ``"cuda"`` (torch conv1d) or ``"auto"`` (cuda when available).
    background, pseudocount, bin_size
        Background of the log-odds and of the p-values (default: the motif set's own), the
        pseudocount added to probabilities, and the score grid of the p-value dynamic programme.
    """
    ms = as_motif_set(motifs)
    features = tuple(features)
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise InputError(f"unknown feature(s) {unknown}; choose from {FEATURES}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    p = check_p(threshold)
    X = as_scan_codes(sequences)
    n, L = X.shape
    if n == 0:
        raise InputError("no sequences to scan")
    if ms.max_width > L:
        wide = [m.name for m in ms if m.width > L]
        raise InputError(f"{len(wide)} motif(s) are wider than the sequences ({L} bp): "
                         f"{', '.join(wide[:5])} (width {ms.max_width})",
                         hint="scan longer regions or drop these motifs (MotifSet.subset)")
    if names is not None:
        names = list(names)
        if len(names) != n:
            raise InputError(f"{len(names)} region names for {n} sequences")
    device = str(resolve_device(device))
    bg = background_of(ms, background)
    mats = log_odds_matrices(ms, bg, pseudocount)
    tables = pvalue_tables(mats, bg, bin_size)
    thr = thresholds_from_tables(tables, p, bin_size)
    want_max, want_count = "max" in features, "count" in features or hits
    if device != "cpu":
        scanner = TorchScanner(mats, thr, device)
    elif hits:
        scanner = CpuScanner(mats, thr)  # emits exact hits as it goes
    else:
        scanner = DenseAdapter(DenseScanner(mats, thr))
    m = len(ms)
    best = np.full((n, m), -np.inf) if "max" in features else None
    count = np.zeros((n, m), dtype=np.int32) if "count" in features else None
    parts: list[tuple[int, np.ndarray]] = []
    for a in range(0, n, batch_size):
        b = min(a + batch_size, n)
        bb, cc, hh = scanner.run(np.ascontiguousarray(X[a:b]), want_max, want_count, hits)
        if best is not None:
            best[a:b] = bb
        if count is not None:
            count[a:b] = cc
        if hits:
            for k, arr in hh:
                arr[:, 0] += a
                parts.append((k, arr))
        logger.debug("scanned regions %d-%d of %d", a, b, n)
    feats = {}
    if best is not None:
        feats["max"] = best
    if count is not None:
        feats["count"] = count
    table = _hit_table(parts, ms, mats, tables, bin_size, names) if hits else None
    logger.info("scanned %d regions x %d motifs (%s)", n, m, device)
    return ScanResult(feats, table, ms.names, thr)


def _hit_table(parts, ms, mats, tables, bin_size, names) -> pd.DataFrame:
    if parts:
        motif = np.concatenate([np.full(len(a), k, dtype=np.int64) for k, a in parts])
        arr = np.concatenate([a for _, a in parts])
    else:
        motif, arr = np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    region = arr[:, 0].astype(np.int64)
    start = arr[:, 1].astype(np.int64)
    strand = arr[:, 2].astype(np.int64)
    score = arr[:, 3]
    widths = np.array([m.shape[0] for m in mats], dtype=np.int64)
    order = np.lexsort((strand, start, motif, region))
    region, motif, start, strand, score = (x[order] for x in (region, motif, start, strand, score))
    df = pd.DataFrame({
        "region": region if names is None else np.asarray(names, dtype=object)[region],
        "motif": pd.Categorical.from_codes(motif, categories=list(ms.names)),
        "start": start,
        "end": start + widths[motif],
        "strand": np.array(["+", "-"], dtype=object)[strand],
        "score": score,
        "p_value": lookup_pvalues(tables, motif, score, bin_size),
    })
    return df


def compare_hits(ours: pd.DataFrame, theirs: pd.DataFrame, thresholds: dict[str, float], *,
                 tol: float = 1e-3) -> dict:
    """Agreement of two hit tables (columns ``region, motif, start, strand, score`` and optionally
    ``p_value``), e.g. :func:`scan`'s against another FIMO: hits in common (same region, motif,
    start and strand), the largest score difference among them, and whether every hit found by
    only one side scores within ``tol`` of its motif's threshold (``thresholds``: motif ->
    score threshold), i.e. differs only at the threshold boundary."""
    key = ["region", "motif", "start", "strand"]
    a = ours.assign(motif=ours["motif"].astype(str))
    b = theirs.assign(motif=theirs["motif"].astype(str))
    both = a.merge(b, on=key, how="outer", suffixes=("", "_peer"), indicator=True)
    common = both[both["_merge"] == "both"]
    alone = both[both["_merge"] != "both"]
    score = alone["score"].fillna(alone["score_peer"])
    off = (score - alone["motif"].map(thresholds)).abs()
    out = {
        "hits": len(a), "hits_peer": len(b), "common": len(common),
        "common_fraction": len(common) / max(len(a), len(b), 1),
        "max_score_diff": float((common["score"] - common["score_peer"]).abs().max()) if len(common) else 0.0,
        "only_ours": int((alone["_merge"] == "left_only").sum()), "only_peer": int((alone["_merge"] == "right_only").sum()),
        "differ_only_at_boundary": bool((off < tol).all()),
    }
    if "p_value" in a and "p_value" in b and len(common):
        pos = common["p_value_peer"] > 0  # FIMO gives p = 0 to scores past the best integer score
        rel = (common["p_value"][pos] - common["p_value_peer"][pos]).abs() / common["p_value_peer"][pos]
        out["max_pvalue_rel_diff"] = float(rel.max()) if pos.any() else 0.0
    return out
