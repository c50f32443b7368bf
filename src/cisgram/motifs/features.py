"""Per-region motif features: IceQream energies (and their per-bin sums), their normalisation to
[0, 10] against a reference set, and GET's summed hit scores.

Energy (``specs/iceqream.md`` §2.2)
-----------------------------------
For a motif with probabilities ``p`` (``(k, 4)``), smoothed as ``p' = (p + 0.01) / 1.04``, the
site likelihood at start ``w`` on strand ``s`` is ``P(w, s) = prod_i p'(base_{w+i})`` (the minus
strand scores the reverse-complement matrix at the same start ``w``), and the energy of a region
is ``E = ln sum_w sum_s S[bin(w)] P(w, s)`` — a log-sum-exp over every site, so weak sites count.
Bins are taken from the motif start. The default grid is IceQream's modelling window, 11 bins of
40 bp over the central 440 bp (``[30, 470)`` at L = 500; IceQream models 500 bp around the peak
centre, so longer regions keep their central 440 bp), and for L < 500 prego's rule
(``bin_size = min(40, L // 3)``, ``n_bins = L // bin_size`` made odd, centred); ``Bins.for_length``
spreads prego's grid over the whole of a longer sequence. Starts outside the bins are dropped. A site must lie wholly inside the sequence; a site containing an N has ``P = 0``.
``energy_bins`` returns ``ln sum_{w in bin} sum_s P(w, s)`` per bin (natural log, ``-inf`` for a
bin without a valid site), so that a model can learn the spatial weights ``S``.

The kernel (:mod:`cisgram.motifs.scan`'s dense kernel, shared with the scores) multiplies odds
``p'/0.25`` rather than adding logs (no ``exp`` per site), two bases at a time from 25-row pair
tables, vectorised over motifs (both strands) in groups of similar width, in float32; energies
are exact to about
1e-6 relative (tested against a brute-force reference). Sites so poor that their float32 product
underflows (below 1e-38 of the background) count as 0, which changes no energy measurably.

Normalisation (§2.3)
--------------------
``x2 = E / ln 2``; ``ref`` = log2 of the ``q`` quantile (default 1: the maximum) of ``2^x2`` over
a reference region set; ``y = clip(x2 - ref, -7, 0)``; ``E_norm = 10 (y - min_ref) / (max_ref -
min_ref)`` with the clipped reference extremes. :func:`fit_energy_norm` stores the reference
statistics so that new regions are normalised the same way (:func:`apply_energy_norm`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cisgram.devices import resolve_device
from cisgram.errors import InputError
from cisgram.motifs.kernels import DenseScanner
from cisgram.motifs.pvalues import log_odds_matrices, pvalue_thresholds
from cisgram.motifs.pwm import MotifSet
from cisgram.motifs.scan import scan

log = logging.getLogger(__name__)

IQ_PSEUDOCOUNT = 0.01


@dataclass(frozen=True)
class Bins:
    """Spatial bins over a sequence of length ``length``: starts in ``[offset, offset + n * size)``."""

    length: int
    size: int
    n: int
    offset: int

    @classmethod
    def for_length(cls, length: int, size: int = 40) -> Bins:
        """IceQream/prego's grid: bin size ``min(size, L // 3)``, ``L // bin`` bins (made odd), centred."""
        b = max(1, min(size, length // 3))
        n = max(1, length // b)
        if n % 2 == 0:
            n -= 1
        return cls(length, b, n, (length - n * b) // 2)

    @classmethod
    def centred(cls, length: int, n: int, size: int) -> Bins:
        """``n`` bins of ``size`` bp centred on the sequence."""
        if n < 1 or size < 1 or n * size > length:
            raise InputError(f"{n} bins of {size} bp do not fit in {length} bp sequences",
                             hint="use fewer or smaller bins, or longer regions")
        return cls(length, size, n, (length - n * size) // 2)

    @classmethod
    def default(cls, length: int) -> Bins:
        """IceQream's modelling window: 11 bins of 40 bp over the central 440 bp (IceQream models
        500 bp around the peak centre, whatever the region's width); for sequences shorter than
        500 bp, prego's rule (:meth:`for_length`). At 500 bp both give ``[30, 470)``."""
        return cls.centred(length, 11, 40) if length >= 500 else cls.for_length(length)

    @classmethod
    def parse(cls, spec: str, length: int) -> Bins:
        """``"central"`` (:meth:`default`), ``"whole"`` (:meth:`for_length`: 40 bp bins over the
        whole sequence) or ``"N:SIZE"`` (N bins of SIZE bp, centred)."""
        text = str(spec).strip().lower()
        if text == "central":
            return cls.default(length)
        if text == "whole":
            return cls.for_length(length)
        try:
            n, size = (int(v) for v in text.split(":"))
        except ValueError:
            raise InputError(f"bins {spec!r} is not central, whole or N:SIZE (e.g. 11:40)") from None
        return cls.centred(length, n, size)

    def index(self, w: np.ndarray) -> np.ndarray:
        """Bin of each start position (``-1`` outside the bins)."""
        k = (np.asarray(w) - self.offset) // self.size
        return np.where((np.asarray(w) >= self.offset) & (k < self.n), k, -1)


@dataclass(frozen=True)
class EnergyResult:
    """``energy`` ``(N, M)`` natural-log energies with the spatial weights applied;
    ``bins`` ``(N, n_bins, M)`` natural-log per-bin sums (``None`` unless asked for)."""

    energy: np.ndarray
    bins: np.ndarray | None
    motif_names: tuple[str, ...]
    grid: Bins


def _smoothed(probs: np.ndarray, pseudocount: float) -> np.ndarray:
    p = probs / probs.sum(axis=1, keepdims=True)
    return (p + pseudocount) / (1 + 4 * pseudocount)


def _odds(motifs: MotifSet, pseudocount: float) -> list[np.ndarray]:
    """Per motif the site odds against a uniform background, ``p' / 0.25`` ``(w, 4)``."""
    return [_smoothed(m.probs, pseudocount) / 0.25 for m in motifs]


def _check(codes: np.ndarray, motifs: MotifSet) -> np.ndarray:
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2:
        raise InputError(f"codes must be (N, L) uint8, got shape {codes.shape}")
    if len(motifs) == 0:
        raise InputError("the motif set is empty", hint="give at least one motif (load_motifs)")
    length = codes.shape[1]
    if motifs.max_width > length:
        wide = [m.name for m in motifs if m.width > length]
        raise InputError(f"{len(wide)} motif(s) are wider than the {length} bp sequences, e.g. {wide[0]}",
                         hint="use longer regions (--width) or drop these motifs")
    return codes


def _weights(weights, m: int, grid: Bins) -> np.ndarray:
    w = np.ones((m, grid.n)) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), (m, grid.n))
    if np.any(w < 0):
        raise InputError("spatial weights must be non-negative")
    return w


def _energies(odds_bins: np.ndarray, w: np.ndarray, log_scale: np.ndarray, return_bins: bool) -> np.ndarray:
    """Summed odds per bin ``(n, n_bins, M)`` -> energy ``(n, M)``; with ``return_bins`` the
    bins are turned into ln site probabilities in place."""
    with np.errstate(divide="ignore"):
        energy = np.log(np.einsum("nbk,kb->nk", odds_bins, w, dtype=np.float64)) + log_scale
        if return_bins:
            np.log(odds_bins, out=odds_bins)
            odds_bins += log_scale.astype(np.float32)
    return energy


def motif_energy(
    codes: np.ndarray,
    motifs: MotifSet,
    *,
    grid: Bins | None = None,
    weights: np.ndarray | None = None,
    pseudocount: float = IQ_PSEUDOCOUNT,
    return_bins: bool = False,
    batch_size: int = 1024,
    dtype=np.float64,
) -> EnergyResult:
    """IceQream energies of every motif on every sequence (see the module docstring).

    Parameters
    ----------
    codes
        ``(N, L)`` uint8 (A=0, C=1, G=2, T=3, N=4), e.g. :meth:`cisgram.genome.Genome.fetch_codes_batch`.
    grid
        Spatial bins; default :meth:`Bins.default` of ``L`` (11 x 40 bp over the central 440 bp).
    weights
        Spatial weights ``S``: ``(n_bins,)`` for all motifs or ``(M, n_bins)``; default 1.
    return_bins
        Also return the per-bin log sums ``(N, n_bins, M)`` (memory: 4 bytes each).
    dtype
        Of ``energy``; ``np.float32`` halves the largest array of a genome's regions (each
        batch is still computed in float64).
    """
    codes = _check(codes, motifs)
    n, length = codes.shape
    grid = grid or Bins.default(length)
    w = _weights(weights, len(motifs), grid)
    log_scale = np.array([mm.width * np.log(0.25) for mm in motifs])  # odds -> probabilities
    dense = _dense_for(motifs, None, pseudocount)
    energy = np.empty((n, len(motifs)), dtype=dtype)
    bins_out = np.empty((n, grid.n, len(motifs)), dtype=np.float32) if return_bins else None
    scratch = None if return_bins else np.empty((min(batch_size, n), grid.n, len(motifs)), np.float32)
    for start in range(0, n, batch_size):
        rows = slice(start, min(start + batch_size, n))
        target = bins_out[rows] if return_bins else scratch[: rows.stop - rows.start]
        dense.run(codes[rows], False, grid, bins=target)
        energy[rows] = _energies(target, w, log_scale, return_bins)
    return EnergyResult(energy, bins_out, tuple(motifs.names), grid)


def _dense_for(motifs: MotifSet, thr: np.ndarray | None, pseudocount: float):
    """The dense kernel's tables: log-odds and thresholds for scores (``thr=None``: no scores
    wanted, no candidates) and IceQream odds for energies."""
    mats = log_odds_matrices(motifs)
    thr = np.full(len(motifs), np.inf) if thr is None else thr
    return DenseScanner(mats, thr, _odds(motifs, pseudocount))


@dataclass(frozen=True)
class EnergyNorm:
    """Reference statistics of :func:`fit_energy_norm`, per motif (log2 units)."""

    motif_names: tuple[str, ...]
    ref: np.ndarray
    min_ref: np.ndarray
    max_ref: np.ndarray
    min_energy: float = -7.0
    top: float = 10.0

    def to_dict(self) -> dict:
        return {"motif_names": list(self.motif_names), "ref": self.ref.tolist(), "min_ref": self.min_ref.tolist(),
                "max_ref": self.max_ref.tolist(), "min_energy": self.min_energy, "top": self.top}

    @classmethod
    def from_dict(cls, d: dict) -> EnergyNorm:
        return cls(tuple(d["motif_names"]), np.asarray(d["ref"]), np.asarray(d["min_ref"]), np.asarray(d["max_ref"]),
                   d["min_energy"], d["top"])


ENERGY_CHUNK = 16384  # rows per slice: the transients of the normalisation stay ~100 MB at 879 motifs


def _log2_finite(energy: np.ndarray) -> np.ndarray:
    x2 = np.asarray(energy, dtype=np.float64) / np.log(2)
    return np.where(np.isfinite(x2), x2, -np.inf)


def fit_energy_norm(reference: np.ndarray, motif_names: Sequence[str], *, quantile: float = 1.0,
                    min_energy: float = -7.0, top: float = 10.0, rows: np.ndarray | None = None) -> EnergyNorm:
    """Reference statistics from raw energies ``(N_ref, M)`` (natural log) of a reference set,
    or of its ``rows`` (a boolean mask or indices: the same as passing ``reference[rows]``, without
    the copy). With ``quantile >= 1`` (the default) the rows are read ``ENERGY_CHUNK`` at a time,
    so a genome's regions need no float64 copies of the whole matrix."""
    reference = np.asarray(reference)
    if reference.ndim != 2 or reference.shape[1] != len(motif_names):
        raise InputError(f"reference energies have shape {reference.shape} for {len(motif_names)} motifs")
    if rows is not None and quantile < 1:  # the quantile needs the rows together anyway
        reference, rows = reference[rows], None
    if rows is None:
        chunks = [slice(a, a + ENERGY_CHUNK) for a in range(0, max(len(reference), 1), ENERGY_CHUNK)]
    else:
        idx = np.asarray(rows)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        chunks = [idx[a: a + ENERGY_CHUNK] for a in range(0, max(len(idx), 1), ENERGY_CHUNK)]
    if quantile >= 1:
        ref = np.max([_log2_finite(reference[c]).max(axis=0) for c in chunks], axis=0)
    else:  # log2 of the quantile of 2^x2, computed stably relative to the maximum
        finite = _log2_finite(reference)
        mx = finite.max(axis=0)
        ref = np.log2(np.nanquantile(np.exp2(finite - mx), quantile, axis=0)) + mx
    lo = np.full(reference.shape[1], np.inf)
    hi = np.full(reference.shape[1], -np.inf)
    for c in chunks:
        y = np.clip(_log2_finite(reference[c]) - ref, min_energy, 0)
        lo, hi = np.minimum(lo, y.min(axis=0)), np.maximum(hi, y.max(axis=0))
    return EnergyNorm(tuple(motif_names), ref, lo, hi, min_energy, top)


def apply_energy_norm(energy: np.ndarray, norm: EnergyNorm, *, out: np.ndarray | None = None) -> np.ndarray:
    """Raw energies ``(N, M)`` -> [0, 10] with stored reference statistics (NaN and -inf -> 0),
    ``ENERGY_CHUNK`` rows at a time (one float64 result, small transients). ``out`` receives the
    result (and is returned); it may be ``energy`` itself, normalised in place."""
    energy = np.asarray(energy)
    if out is None:
        out = np.empty(energy.shape, dtype=np.float64)
    elif out.shape != energy.shape:
        raise InputError(f"out has shape {out.shape}, energies {energy.shape}")
    span = norm.max_ref - norm.min_ref
    ok, denom = span > 0, np.where(span > 0, span, 1)
    for a in range(0, len(energy), ENERGY_CHUNK):
        y = np.clip(_log2_finite(energy[a:a + ENERGY_CHUNK]) - norm.ref, norm.min_energy, 0)
        part = np.where(ok, (y - norm.min_ref) / denom, 0.0) * norm.top
        out[a:a + ENERGY_CHUNK] = np.nan_to_num(np.clip(part, 0, norm.top), nan=0.0)
    return out


def hit_score_sum(hits: pd.DataFrame, n_regions: int, motif_names: Sequence[str], *,
                  clusters: dict[str, str] | None = None) -> tuple[np.ndarray, list[str]]:
    """GET's region-by-motif feature: the sum of hit scores per region and motif ``(n_regions, M)``,
    or per motif cluster when ``clusters`` maps motif name -> cluster name (motifs missing from the
    map keep their own name). ``hits`` has columns ``region`` (0-based row), ``motif``, ``score``."""
    names = list(motif_names)
    labels = [clusters.get(m, m) for m in names] if clusters else names
    columns = list(dict.fromkeys(labels))
    col_of = {m: columns.index(lab) for m, lab in zip(names, labels, strict=True)}
    out = np.zeros((n_regions, len(columns)), dtype=np.float64)
    if len(hits):
        unknown = set(hits["motif"]) - set(col_of)
        if unknown:
            raise InputError(f"hits name motif(s) not in the motif set: {', '.join(sorted(unknown)[:5])}")
        cols = hits["motif"].map(col_of).to_numpy()
        np.add.at(out, (hits["region"].to_numpy(dtype=np.int64), cols), hits["score"].to_numpy(dtype=np.float64))
    return out, columns


FEATURES = ("max", "count", "energy", "energy_bins", "hit_score_sum")


@dataclass(frozen=True)
class MotifFeatures:
    """What :func:`region_features` returns.

    features
        The requested ones: ``max`` float64 ``(N, M)``, ``count`` int32 ``(N, M)``, ``energy``
        float64 ``(N, M)`` (natural log, raw: normalise with :func:`fit_energy_norm`),
        ``energy_bins`` float32 ``(N, n_bins, M)``, ``hit_score_sum`` float64 ``(N, C)``.
    motif_names
        The ``M`` motifs, in column order.
    hit_columns
        The ``C`` columns of ``hit_score_sum`` (motifs, or clusters); empty when not asked for.
    grid
        Spatial bins of the energies.
    hits
        The hit table when ``hits=True`` (see :func:`cisgram.motifs.scan.scan`), else ``None``.
    """

    features: dict[str, np.ndarray]
    motif_names: tuple[str, ...]
    hit_columns: tuple[str, ...]
    grid: Bins
    hits: pd.DataFrame | None = None


def region_features(
    codes: np.ndarray,
    motifs: MotifSet,
    features: Sequence[str] = ("max", "count", "energy"),
    *,
    threshold: float = 1e-4,
    grid: Bins | None = None,
    weights: np.ndarray | None = None,
    pseudocount: float = IQ_PSEUDOCOUNT,
    clusters: dict[str, str] | None = None,
    hits: bool = False,
    names: Sequence[str] | None = None,
    batch_size: int = 1000,
    device: str = "cpu",
    progress=None,
) -> MotifFeatures:
    """Any subset of :data:`FEATURES` for every region and motif, streamed in batches.

    ``max``, ``count``, ``energy`` and ``energy_bins`` come out of one pass of the dense kernel
    (scores and odds from the same windows); ``hit_score_sum`` (and ``hits=True``) adds a pass of
    the hit kernel. On ``device="cuda"`` ``max`` and ``count`` run on the GPU through
    :func:`cisgram.motifs.scan.scan`; energies stay on the CPU kernel.

    Parameters
    ----------
    codes
        ``(N, L)`` uint8 (A=0, C=1, G=2, T=3, N=4).
    threshold
        Hit p-value for ``count``, ``hit_score_sum`` and the hit table.
    grid, weights, pseudocount
        Energy bins, spatial weights and the IceQream pseudocount (see :func:`motif_energy`).
    clusters
        Motif name -> cluster name for ``hit_score_sum`` (GET's motif clusters).
    progress
        Called with (regions done, regions in all) after each batch.
    """
    features = tuple(dict.fromkeys(features))
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise InputError(f"unknown or no feature(s) {unknown}; choose from {', '.join(FEATURES)}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    codes = _check(codes, motifs)
    n, length = codes.shape
    if names is not None and len(names) != n:
        raise InputError(f"{len(names)} region names for {n} sequences")
    grid = grid or Bins.default(length)
    m = len(motifs)
    want_score = {"max", "count"} & set(features)
    want_energy = {"energy", "energy_bins"} & set(features)
    out: dict[str, np.ndarray] = {}
    if "max" in features:
        out["max"] = np.empty((n, m))
    if "count" in features:
        out["count"] = np.empty((n, m), dtype=np.int32)
    if "energy" in features:
        out["energy"] = np.empty((n, m))
    if "energy_bins" in features:
        out["energy_bins"] = np.empty((n, grid.n, m), dtype=np.float32)
    table = None
    if want_score or want_energy:
        thr = pvalue_thresholds(motifs, threshold) if want_score else None
        on_cpu = resolve_device(device).type == "cpu"
        dense = _dense_for(motifs, thr if on_cpu else None, pseudocount)
        w = _weights(weights, m, grid)
        log_scale = np.array([mm.width * np.log(0.25) for mm in motifs])
        keep_bins = "energy_bins" in out
        scratch_b = None if keep_bins or not want_energy else np.empty((min(batch_size, n), grid.n, m), np.float32)
        scratch_s = np.empty((min(batch_size, n), m)), np.empty((min(batch_size, n), m), np.int32)
        for start in range(0, n, batch_size):
            rows = slice(start, min(start + batch_size, n))
            k = rows.stop - rows.start
            bins = out["energy_bins"][rows] if keep_bins else scratch_b[:k] if want_energy else None
            best = out["max"][rows] if "max" in out else scratch_s[0][:k]
            count = out["count"][rows] if "count" in out else scratch_s[1][:k]
            if (want_score and on_cpu) or want_energy:  # on a GPU without energies the kernel has nothing to do
                dense.run(codes[rows], bool(want_score) and on_cpu, grid if want_energy else None,
                          best=best, count=count, bins=bins)
            if want_score and not on_cpu:
                r = scan(codes[rows], motifs, threshold=threshold, features=("max", "count"), device=device)
                best[:], count[:] = r.features["max"], r.features["count"]
            if want_energy:
                e = _energies(bins, w, log_scale, keep_bins)
                if "energy" in out:
                    out["energy"][rows] = e
            if progress is not None:
                progress(rows.stop, n)
    columns: list[str] = []
    if "hit_score_sum" in features or hits:
        res = scan(codes, motifs, threshold=threshold, features=(), hits=True, batch_size=batch_size,
                        device=device)
        table = res.hits
        if "hit_score_sum" in features:
            out["hit_score_sum"], columns = hit_score_sum(table, n, motifs.names, clusters=clusters)
        if names is not None:
            table = table.assign(region=np.asarray(list(names), dtype=object)[table["region"].to_numpy()])
    log.info("motif features %s for %d regions x %d motifs", ",".join(features), n, m)
    return MotifFeatures({f: out[f] for f in features}, tuple(motifs.names), tuple(columns), grid,
                         table if hits else None)
