"""Per-region motif features: IceQream energies (and their per-bin sums), their normalisation to
[0, 10] against a reference set, and GET's summed hit scores.

Energy (``specs/iceqream.md`` §2.2)
-----------------------------------
For a motif with probabilities ``p`` (``(k, 4)``), smoothed as ``p' = (p + 0.01) / 1.04``, the
site likelihood at start ``w`` on strand ``s`` is ``P(w, s) = prod_i p'(base_{w+i})`` (the minus
strand scores the reverse-complement matrix at the same start ``w``), and the energy of a region
is ``E = ln sum_w sum_s S[bin(w)] P(w, s)`` — a log-sum-exp over every site, so weak sites count.
Bins are taken from the motif start: ``bin_size = min(40, L // 3)``, ``n_bins = L // bin_size``
made odd, centred (for L = 500: 11 bins of 40 bp over ``[30, 470)``); starts outside the bins are
dropped. A site must lie wholly inside the sequence; a site containing an N has ``P = 0``.
``energy_bins`` returns ``ln sum_{w in bin} sum_s P(w, s)`` per bin (natural log, ``-inf`` for a
bin without a valid site), so that a model can learn the spatial weights ``S``.

The kernel multiplies odds ``p'/0.25`` rather than adding logs (no ``exp`` per site), two bases
at a time from 25-row pair tables, vectorised over motifs (both strands) in groups of similar
width, in float32; energies are exact to about
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

import numba
import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.motifs.pwm import MotifSet

log = logging.getLogger(__name__)

IQ_PSEUDOCOUNT = 0.01
GROUP_COLUMNS = 128  # motif-strand columns per kernel call (64 motifs x 2 strands)


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


def _tables(motifs: MotifSet, pseudocount: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Width-sorted groups of odds tables (forward columns then reverse-complement columns), as
    base-pair tables (:func:`_pair_tables`), with each group's motif indices and widths. In the
    per-base table ``(kmax, 5, cols)`` row 4 (N) is 0 inside a motif and 1 past its end, so
    shorter motifs in a group and sites running off the sequence end need no branches."""
    widths = np.array([m.width for m in motifs])
    order = np.argsort(widths, kind="stable")
    per = GROUP_COLUMNS // 2
    groups = []
    for g in range(0, len(order), per):
        idx = order[g : g + per]
        kmax = int(widths[idx].max())
        t = np.ones((kmax, 5, 2 * idx.size), dtype=np.float32)
        for c, mi in enumerate(idx):
            odds = _smoothed(motifs[int(mi)].probs, pseudocount) / 0.25
            k = odds.shape[0]
            for strand, mat in enumerate((odds, odds[::-1, ::-1])):  # RC: reverse rows, swap A<->T, C<->G
                col = c + strand * idx.size
                t[:k, :4, col] = mat
                t[:k, 4, col] = 0.0
        groups.append((_pair_tables(t), idx, widths[idx]))
    return groups


def _pair_tables(table: np.ndarray) -> np.ndarray:
    """Odds tables over base pairs: ``(ceil(kmax/2), 25, cols)``, row ``5a + b`` of pair ``q`` is
    ``table[2q, a] * table[2q + 1, b]``; halves the multiplications per site."""
    kmax, _, cols = table.shape
    if kmax % 2:
        table = np.concatenate([table, np.ones((1, 5, cols), np.float32)])
    pairs = table[0::2, :, None, :] * table[1::2, None, :, :]
    return np.ascontiguousarray(pairs.reshape(table.shape[0] // 2, 25, cols))


@numba.njit(parallel=True, cache=True, nogil=True)
def _energy_kernel(codes, pairs, offset, size, n_bins, out):  # pragma: no cover - compiled
    """out[n, b, j] = sum over starts w in bin b of prod_q pairs[q, 5 c[w+2q] + c[w+2q+1], j]
    (c = codes, reading N past the sequence end)."""
    n_seq, length = codes.shape
    kq, _, cols = pairs.shape
    for n in numba.prange(n_seq):
        pc = np.empty(length + 2 * kq + 2, dtype=np.int64)  # pair code at every position
        for p in range(pc.size):
            a = codes[n, p] if p < length else 4
            b = codes[n, p + 1] if p + 1 < length else 4
            pc[p] = 5 * a + b
        acc = np.empty(cols, dtype=np.float32)
        tot = np.empty(cols, dtype=np.float32)
        for bb in range(n_bins):
            for j in range(cols):
                tot[j] = 0.0
            for w in range(offset + bb * size, min(offset + (bb + 1) * size, length)):
                for j in range(cols):
                    acc[j] = 1.0
                for q in range(kq):
                    row = pairs[q, pc[w + 2 * q]]
                    for j in range(cols):
                        acc[j] *= row[j]
                for j in range(cols):
                    tot[j] += acc[j]
            for j in range(cols):
                out[n, bb, j] = tot[j]


def motif_energy(
    codes: np.ndarray,
    motifs: MotifSet,
    *,
    grid: Bins | None = None,
    weights: np.ndarray | None = None,
    pseudocount: float = IQ_PSEUDOCOUNT,
    return_bins: bool = False,
    batch_size: int = 1024,
) -> EnergyResult:
    """IceQream energies of every motif on every sequence (see the module docstring).

    Parameters
    ----------
    codes
        ``(N, L)`` uint8 (A=0, C=1, G=2, T=3, N=4), e.g. :meth:`cisgram.genome.Genome.fetch_codes_batch`.
    grid
        Spatial bins; default :meth:`Bins.for_length` of ``L``.
    weights
        Spatial weights ``S``: ``(n_bins,)`` for all motifs or ``(M, n_bins)``; default 1.
    return_bins
        Also return the per-bin log sums ``(N, n_bins, M)`` (memory: 4 bytes each).
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2:
        raise InputError(f"codes must be (N, L) uint8, got shape {codes.shape}")
    if len(motifs) == 0:
        raise InputError("the motif set is empty")
    n, length = codes.shape
    if motifs.max_width > length:
        wide = [m.name for m in motifs if m.width > length]
        raise InputError(f"{len(wide)} motif(s) are wider than the {length} bp sequences, e.g. {wide[0]}")
    grid = grid or Bins.for_length(length)
    m = len(motifs)
    w = np.ones((m, grid.n)) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), (m, grid.n))
    if np.any(w < 0):
        raise InputError("spatial weights must be non-negative")
    log_scale = np.array([mm.width * np.log(0.25) for mm in motifs])  # odds -> probabilities
    energy = np.empty((n, m), dtype=np.float64)
    bins_out = np.empty((n, grid.n, m), dtype=np.float32) if return_bins else None
    groups = _tables(motifs, pseudocount)
    for s in range(0, n, batch_size):
        chunk = codes[s : s + batch_size]
        rows = slice(s, s + chunk.shape[0])
        for table, idx, _ in groups:
            out = np.empty((chunk.shape[0], grid.n, table.shape[2]), dtype=np.float32)
            _energy_kernel(chunk, table, grid.offset, grid.size, grid.n, out)
            k = idx.size
            both = out[:, :, :k] + out[:, :, k:]  # (n, bins, k) both strands, float32
            with np.errstate(divide="ignore"):
                energy[rows, idx] = np.log(np.einsum("nbk,kb->nk", both, w[idx], dtype=np.float64)) + log_scale[idx]
                if bins_out is not None:
                    bins_out[rows][:, :, idx] = np.log(both) + log_scale[idx].astype(np.float32)
    return EnergyResult(energy, bins_out, tuple(motifs.names), grid)


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


def fit_energy_norm(reference: np.ndarray, motif_names: Sequence[str], *, quantile: float = 1.0,
                    min_energy: float = -7.0, top: float = 10.0) -> EnergyNorm:
    """Reference statistics from raw energies ``(N_ref, M)`` (natural log) of a reference set."""
    x2 = np.asarray(reference, dtype=np.float64) / np.log(2)
    if x2.ndim != 2 or x2.shape[1] != len(motif_names):
        raise InputError(f"reference energies have shape {x2.shape} for {len(motif_names)} motifs")
    finite = np.where(np.isfinite(x2), x2, -np.inf)
    if quantile >= 1:
        ref = finite.max(axis=0)
    else:  # log2 of the quantile of 2^x2, computed stably relative to the maximum
        mx = finite.max(axis=0)
        ref = np.log2(np.nanquantile(np.exp2(finite - mx), quantile, axis=0)) + mx
    y = np.clip(finite - ref, min_energy, 0)
    return EnergyNorm(tuple(motif_names), ref, y.min(axis=0), y.max(axis=0), min_energy, top)


def apply_energy_norm(energy: np.ndarray, norm: EnergyNorm) -> np.ndarray:
    """Raw energies ``(N, M)`` -> [0, 10] with stored reference statistics (NaN and -inf -> 0)."""
    x2 = np.asarray(energy, dtype=np.float64) / np.log(2)
    y = np.clip(np.where(np.isfinite(x2), x2, -np.inf) - norm.ref, norm.min_energy, 0)
    span = norm.max_ref - norm.min_ref
    out = np.where(span > 0, (y - norm.min_ref) / np.where(span > 0, span, 1), 0.0) * norm.top
    return np.nan_to_num(np.clip(out, 0, norm.top), nan=0.0)


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
