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
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.motifs.pwm import Motif, MotifSet, as_background

logger = logging.getLogger(__name__)

FEATURES = ("max", "count")
PSEUDOCOUNT = 1e-4  # memelite's eps
BIN_SIZE = 0.1  # memelite's bin_size

_K = 7  # letters per first-test code
_NCODES = 4**_K  # 16384; code _NCODES means "an N or past the end"
_NLANE = 16  # windows per branch of the first test


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


def _as_motif_set(motifs: MotifSet | Iterable[Motif]) -> MotifSet:
    ms = motifs if isinstance(motifs, MotifSet) else MotifSet(list(motifs))  # refuses repeated names
    if len(ms) == 0:
        raise InputError("no motifs to scan", hint="give a MotifSet with at least one motif (load_motifs)")
    return ms


def _background(ms: MotifSet, background) -> np.ndarray:
    return ms.background if background is None else as_background(background)


def log_odds_matrices(motifs: MotifSet | Iterable[Motif], background: Sequence[float] | None = None,
                      pseudocount: float = PSEUDOCOUNT) -> list[np.ndarray]:
    """Each motif's scoring matrix, float64 ``(w, 4)``: ``log2(p + pseudocount) - log2(bg)``."""
    ms = _as_motif_set(motifs)
    bg = _background(ms, background)
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


def _pvalue_tables(mats: list[np.ndarray], bg: np.ndarray, bin_size: float):
    out = []
    for m in mats:
        smallest, sf = _survival(np.round(m / bin_size).astype(np.int64), bg)
        out.append((int(smallest), sf))
    return out


def _thresholds_from_tables(tables, p: float, bin_size: float) -> np.ndarray:
    thr = np.full(len(tables), np.inf)
    for i, (smallest, sf) in enumerate(tables):
        passing = np.flatnonzero(sf < p)
        if passing.size:
            # float64 product rounded to float32, as memelite stores it
            thr[i] = float(np.float32((passing[0] + smallest) * bin_size))
    return thr


def _check_p(p: float) -> float:
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
    ms = _as_motif_set(motifs)
    bg = _background(ms, background)
    tables = _pvalue_tables(log_odds_matrices(ms, bg, pseudocount), bg, bin_size)
    return _thresholds_from_tables(tables, _check_p(p), bin_size)


def _lookup_pvalues(tables, motif_idx: np.ndarray, scores: np.ndarray, bin_size: float) -> np.ndarray:
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
    ms = _as_motif_set(motifs)
    bg = _background(ms, background)
    idx, sc = np.broadcast_arrays(np.asarray(motif, dtype=np.int64), np.asarray(score, dtype=np.float64))
    if idx.size and (idx.min() < 0 or idx.max() >= len(ms)):
        raise InputError(f"motif index out of range 0..{len(ms) - 1}")
    tables = _pvalue_tables(log_odds_matrices(ms, bg, pseudocount), bg, bin_size)
    return _lookup_pvalues(tables, idx.ravel(), sc.ravel(), bin_size).reshape(idx.shape)


# ---------------------------------------------------------------- inputs


def _as_codes(x) -> np.ndarray:
    """uint8 codes (N, L), 0-3 for A, C, G, T and 4 for anything else."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.integer):
                raise InputError(f"2-D input must be integer codes (A=0, C=1, G=2, T=3, N=4), got {x.dtype}")
            x = np.where((x >= 0) & (x <= 3), x, 4).astype(np.uint8)
        return np.minimum(x, 4)  # a copy: anything above 3 is N
    if x.ndim == 3:
        if x.shape[1] != 4:
            raise InputError(f"one-hot input must be shaped (N, 4, L), got {x.shape}")
        one = (x == 1).sum(axis=1) == 1
        ok = one & ((x != 0).sum(axis=1) == 1)
        codes = np.argmax(x == 1, axis=1).astype(np.uint8)
        codes[~ok] = 4
        return codes
    raise InputError(f"sequences must be uint8 codes (N, L) or one-hot (N, 4, L), got shape {x.shape}")


# ---------------------------------------------------------------- the CPU kernel (numba)


def _strand_layout(mats: list[np.ndarray]):
    """Flatten every motif-strand (motif k: strands 2k '+', 2k+1 '-') for the kernel."""
    strands = []
    for m in mats:
        strands += [m, m[::-1, ::-1]]
    widths = np.array([s.shape[0] for s in strands], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    pwm = np.ascontiguousarray(np.concatenate(strands, axis=0))  # (total_cols, 4)
    col_max = pwm.max(axis=1)
    gap = col_max - pwm.mean(axis=1)
    n = len(strands)
    ow = np.zeros(n, dtype=np.int64)
    kw = np.minimum(widths, _K)
    order = np.empty(offs[-1], dtype=np.int64)  # per strand: the columns outside the 7-block, by gap
    rest_after = np.zeros(offs[-1])  # col_max summed over the columns after this one in `order`
    rest_w = np.zeros(n)  # col_max summed over all columns outside the 7-block
    n_rest = widths - kw
    for s in range(n):
        a, b = offs[s], offs[s + 1]
        g = gap[a:b]
        if widths[s] > _K:
            sums = np.convolve(g, np.ones(_K), mode="valid")
            ow[s] = int(np.argmax(sums))
        outside = np.array([j for j in range(widths[s]) if not ow[s] <= j < ow[s] + kw[s]], dtype=np.int64)
        outside = outside[np.argsort(-g[outside], kind="stable")] if outside.size else outside
        order[a:a + outside.size] = outside
        cm = col_max[a:b][outside]
        rest_w[s] = cm.sum()
        rest_after[a:a + outside.size] = cm[::-1].cumsum()[::-1] - cm
    absmax = np.abs(pwm).max(axis=1)
    wsum = np.add.reduceat(absmax, offs[:-1])
    return pwm, widths, offs, ow, kw, order, rest_after, rest_w, n_rest, wsum


@numba.njit(parallel=True, cache=True)
def _first_tables(pwm, offs, ow, kw):
    """int16 first-test table per motif-strand and its grid (lo, inv): entry c holds
    ceil((T[c] - lo) * inv) - 29999, where T[c] sums the 7-block's columns for the letters of
    code c (letter d in bits 2d..2d+1; digits past the block weigh 0). Entry _NCODES is 32767."""
    n = offs.shape[0] - 1
    tab = np.empty((n, _NCODES + 1), dtype=np.int16)
    los = np.empty(n)
    invs = np.empty(n)
    for s in numba.prange(n):
        base = offs[s] + ow[s]
        k = kw[s]
        lo4 = np.zeros(256)
        hi3 = np.zeros(64)
        for c in range(256):
            v = 0.0
            for d in range(4):
                if d < k:
                    v += pwm[base + d, (c >> (2 * d)) & 3]
            lo4[c] = v
        for c in range(64):
            v = 0.0
            for d in range(3):
                if d + 4 < k:
                    v += pwm[base + 4 + d, (c >> (2 * d)) & 3]
            hi3[c] = v
        lo = lo4.min() + hi3.min()
        hi = lo4.max() + hi3.max()
        step = max((hi - lo) / 60000.0, 1e-9 * (1.0 + abs(lo) + abs(hi)))
        inv = 1.0 / step
        for h in range(64):
            for c in range(256):
                a = ((lo4[c] + hi3[h]) - lo) * inv
                tab[s, h * 256 + c] = np.int16(np.int64(math.ceil(a)) - 29999)
        tab[s, _NCODES] = 32767
        los[s] = lo
        invs[s] = inv
    return tab, los, invs


@numba.njit(cache=True)
def _qcut(cut, rest, lo, inv):
    """Integer cut: a window with table entry <= it has T + rest < cut - step (see _first_tables)."""
    if cut == -np.inf:
        return np.int64(-32768)
    v = (cut - rest - lo) * inv
    if v > 62000.0:
        return np.int64(32766)
    if v < -100.0:
        return np.int64(-32768)
    return np.int64(math.floor(v)) - 30001


@numba.njit(parallel=True, cache=True)
def _prepare(X):
    """7-letter codes (_NCODES for an N or past the end) and, per position, the run of non-N
    letters starting there (capped at 2**31)."""
    n, L = X.shape
    wc = np.empty((n, L), dtype=np.uint16)
    run = np.empty((n, L), dtype=np.int32)
    for r in numba.prange(n):
        c = 0
        r_len = 0
        for x in range(L - 1, -1, -1):
            v = X[r, x]
            if v > 3:
                r_len = 0
            else:
                r_len += 1
            run[r, x] = r_len
            c = ((c << 2) | (v & 3)) & (_NCODES - 1)
            # code of letters x..x+6 (x in the low bits) is valid when the run covers them
            wc[r, x] = c if r_len >= _K else _NCODES
    return wc, run


@numba.njit(parallel=True, cache=True)
def _scan_kernel(X, wc, run, pwm, widths, offs, ow, kw, order, rest_after, rest_w, n_rest, margin,
                 tab, los, invs, thr, want_max, want_count, want_hits, best, count, hits):
    """Scan motifs (both strands) over regions. ``best``/``count`` (n, M) are updated in place;
    with ``want_hits`` each motif appends (region, start, strand, score) to ``hits[k]``."""
    n, L = X.shape
    M = best.shape[1]
    Xf = X.ravel()
    wcf = wc.ravel()
    runf = run.ravel()
    for k in numba.prange(M):
        t_k = thr[k]
        for st in range(2):
            s = 2 * k + st
            w = widths[s]
            off = offs[s]
            o7 = np.uint64(ow[s])
            k7 = kw[s]
            nr = n_rest[s]
            rw = rest_w[s]
            lo = los[s]
            inv = invs[s]
            mg = margin[s]
            tb = tab[s]
            xe = np.uint64(L - w + 1)
            lane = np.uint64(_NLANE)
            one = np.uint64(1)
            for r in range(n):
                b_r = best[r, k]
                if want_max and want_count:
                    cut = min(t_k, b_r)
                elif want_max:
                    cut = b_r
                else:
                    cut = t_k
                qc = _qcut(cut, rw, lo, inv)
                base = np.uint64(r * L)
                wbase = base + o7
                x = np.uint64(0)
                while x < xe:
                    while x + lane <= xe:
                        alive = False
                        for v in range(_NLANE):
                            alive = alive | (np.int64(tb[np.uint64(wcf[wbase + x + np.uint64(v)])]) > qc)
                        if alive:
                            break
                        x += lane
                    xb = min(x + lane, xe)
                    while x < xb and np.int64(tb[np.uint64(wcf[wbase + x])]) <= qc:
                        x += one
                    if x >= xb:
                        continue
                    p0 = np.int64(base + x)
                    x += one
                    if runf[p0] < w:
                        continue
                    q0 = p0 + ow[s]
                    c0 = off + ow[s]
                    partial = 0.0
                    for d in range(k7):
                        partial += pwm[c0 + d, Xf[q0 + d]]
                    if partial + rw <= cut - mg:
                        continue
                    dead = False
                    for h in range(nr):
                        col = order[off + h]
                        partial += pwm[off + col, Xf[p0 + col]]
                        if partial + rest_after[off + h] <= cut - mg:
                            dead = True
                            break
                    if dead:
                        continue
                    score = 0.0
                    for j in range(w):
                        score += pwm[off + j, Xf[p0 + j]]
                    changed = False
                    if want_max and score > b_r:
                        b_r = score
                        changed = True
                    if score > t_k:
                        count[r, k] += 1
                        if want_hits:
                            hits[k].append((np.int64(r), p0 - np.int64(r * L), np.int64(st), score))
                    if changed:
                        cut = min(t_k, b_r) if want_count else b_r
                        qc = _qcut(cut, rw, lo, inv)
                best[r, k] = b_r
    return 0


def _empty_hit_lists(m: int):
    out = numba.typed.List()
    for _ in range(m):
        inner = numba.typed.List.empty_list(numba.types.Tuple(
            (numba.types.int64, numba.types.int64, numba.types.int64, numba.types.float64)))
        out.append(inner)
    return out


@numba.njit(cache=True)
def _flatten_hits(hit_lists, offsets, out):
    for k in range(len(hit_lists)):
        lst = hit_lists[k]
        o = offsets[k]
        for i in range(len(lst)):
            h = lst[i]
            out[o + i, 0] = h[0]
            out[o + i, 1] = h[1]
            out[o + i, 2] = h[2]
            out[o + i, 3] = h[3]


class _CpuScanner:
    def __init__(self, mats, thr):
        (self.pwm, self.widths, self.offs, self.ow, self.kw, self.order, self.rest_after, self.rest_w,
         self.n_rest, wsum) = _strand_layout(mats)
        t2 = np.repeat(np.where(np.isfinite(thr), np.abs(thr), 0.0), 2)
        self.margin = (self.widths + 2) * 1e-12 * (1.0 + wsum + t2)
        self.tab, self.los, self.invs = _first_tables(self.pwm, self.offs, self.ow, self.kw)
        self.thr = thr

    def run(self, X, want_max, want_count, want_hits):
        n, m = X.shape[0], len(self.thr)
        best = np.full((n, m), -np.inf)
        count = np.zeros((n, m), dtype=np.int32)
        hit_lists = _empty_hit_lists(m if want_hits else 1)  # never appended to without hits
        wc, run = _prepare(X)
        # motifs differ in cost: hand them to the threads one at a time (restored afterwards)
        previous = numba.set_parallel_chunksize(1)
        try:
            _scan_kernel(X, wc, run, self.pwm, self.widths, self.offs, self.ow, self.kw, self.order,
                         self.rest_after, self.rest_w, self.n_rest, self.margin, self.tab, self.los,
                         self.invs, self.thr, want_max, want_count, want_hits, best, count, hit_lists)
        finally:
            numba.set_parallel_chunksize(previous)
        hits = None
        if want_hits:
            sizes = np.array([len(lst) for lst in hit_lists], dtype=np.int64)
            flat = np.empty((int(sizes.sum()), 4))
            _flatten_hits(hit_lists, np.concatenate([[0], np.cumsum(sizes)]), flat)
            offs = np.concatenate([[0], np.cumsum(sizes)])
            hits = [(k, flat[offs[k]:offs[k + 1]]) for k in np.flatnonzero(sizes)]
        return best, count, hits


# ---------------------------------------------------------------- the dense CPU kernel (numba)

_GROUP = 64  # motifs per dense-kernel call (128 motif-strand columns; best of 16/32/64/128 measured)
_NEG = -1e4  # log-odds of an N inside a motif: any window holding one is far below every threshold
_SLACK = 1e-3  # float32 candidates above threshold - slack are rescored exactly in float64


@numba.njit(parallel=True, cache=True, nogil=True)
def _dense_kernel(codes, LT, PT, thr_lo, thr64, pwm, col_off, col_w, e_off, e_size, e_n, idx,
                  want_score, want_energy, best, count, ebins):  # pragma: no cover - compiled
    """Every window of every region against a group of motif-strand columns.

    LT / PT ``(kq, 25, cols)`` float32: log-odds sums / odds products of two bases (row
    ``5 a + b``); a window's score is the sum of its kq rows, its odds the product. Scores update
    ``best`` (float32 maximum) and ``count`` (candidates above ``thr_lo`` rescored in float64
    from ``pwm`` against ``thr64``); odds are summed per spatial bin into ``ebins``. Rows are
    consumed four at a time so the accumulator is read and written once per four rows."""
    n, L = codes.shape
    kq, _, cols = LT.shape
    kqp = PT.shape[0]
    kk = max(kq, kqp)
    k = idx.size
    for r in numba.prange(n):
        pc = np.empty(L + 2 * kk + 2, dtype=np.int64)  # pair code at every position, N past the end
        for p in range(pc.size):
            a = codes[r, p] if p < L else 4
            b = codes[r, p + 1] if p + 1 < L else 4
            pc[p] = 5 * a + b
        acc = np.empty(cols, dtype=np.float32)
        prod = np.empty(cols, dtype=np.float32)
        mx = np.full(cols, -np.inf, dtype=np.float32)
        cnt = np.zeros(cols, dtype=np.int32)
        tot = np.zeros(cols, dtype=np.float32)
        e_hi = e_off + e_n * e_size
        for w in range(L):
            if want_score:
                row = LT[0, pc[w]]
                for j in range(cols):
                    acc[j] = row[j]
                q = 1
                while q + 4 < kq:
                    r1 = LT[q, pc[w + 2 * q]]
                    r2 = LT[q + 1, pc[w + 2 * q + 2]]
                    r3 = LT[q + 2, pc[w + 2 * q + 4]]
                    r4 = LT[q + 3, pc[w + 2 * q + 6]]
                    for j in range(cols):
                        acc[j] += (r1[j] + r2[j]) + (r3[j] + r4[j])
                    q += 4
                while q < kq - 1:
                    row = LT[q, pc[w + 2 * q]]
                    for j in range(cols):
                        acc[j] += row[j]
                    q += 1
                row = LT[kq - 1, pc[w + 2 * (kq - 1)]]
                nc = 0
                for j in range(cols):
                    v = acc[j] + row[j]
                    acc[j] = v
                    mx[j] = v if v > mx[j] else mx[j]
                    nc += v > thr_lo[j]
                if nc > 0:
                    for j in range(cols):
                        if acc[j] > thr_lo[j]:
                            o = col_off[j]
                            s = 0.0
                            for i in range(col_w[j]):
                                s += pwm[o + i, codes[r, w + i]]
                            if s > thr64[j]:
                                cnt[j] += 1
            if want_energy and w >= e_off and w < e_hi:
                row = PT[0, pc[w]]
                for j in range(cols):
                    prod[j] = row[j]
                q = 1
                while q + 4 < kqp:
                    r1 = PT[q, pc[w + 2 * q]]
                    r2 = PT[q + 1, pc[w + 2 * q + 2]]
                    r3 = PT[q + 2, pc[w + 2 * q + 4]]
                    r4 = PT[q + 3, pc[w + 2 * q + 6]]
                    for j in range(cols):
                        prod[j] *= (r1[j] * r2[j]) * (r3[j] * r4[j])
                    q += 4
                while q < kqp - 1:
                    row = PT[q, pc[w + 2 * q]]
                    for j in range(cols):
                        prod[j] *= row[j]
                    q += 1
                row = PT[kqp - 1, pc[w + 2 * (kqp - 1)]]
                for j in range(cols):
                    tot[j] += prod[j] * row[j]
                if (w - e_off) % e_size == e_size - 1:
                    b = (w - e_off) // e_size
                    for j in range(k):
                        ebins[r, b, idx[j]] = tot[j] + tot[j + k]
                    for j in range(cols):
                        tot[j] = 0.0
        if want_score:
            for j in range(k):
                m2 = max(mx[j], mx[j + k])
                best[r, idx[j]] = -np.inf if m2 < -1000.0 else m2
                count[r, idx[j]] = cnt[j] + cnt[j + k]


def _pair_rows(per_base: np.ndarray, pad: float, combine) -> np.ndarray:
    """Per-base tables ``(k, 5, cols)`` -> two-base tables ``(max(2, ceil(k/2)), 25, cols)``,
    row ``5 a + b`` of pair ``q`` = ``combine(t[2q, a], t[2q + 1, b])``; padded with ``pad``."""
    k, _, cols = per_base.shape
    need = max(4, k + k % 2)
    if need > k:
        per_base = np.concatenate([per_base, np.full((need - k, 5, cols), pad, np.float32)])
    pairs = combine(per_base[0::2, :, None, :], per_base[1::2, None, :, :])
    return np.ascontiguousarray(pairs.reshape(need // 2, 25, cols), dtype=np.float32)


@dataclass(frozen=True)
class _Group:
    idx: np.ndarray  # motif indices (columns c and c + k are motif idx[c], '+' and '-')
    LT: np.ndarray
    PT: np.ndarray | None
    thr_lo: np.ndarray
    thr64: np.ndarray
    pwm: np.ndarray
    col_off: np.ndarray
    col_w: np.ndarray


class _DenseScanner:
    """Motifs in width-sorted groups of :data:`_GROUP`; per group the float32 pair tables of the
    log-odds (scores) and, when ``odds`` is given, of the IceQream odds (energies), and the exact
    float64 matrices of every column. ``odds``: per motif ``(w, 4)`` site odds (forward strand)."""

    def __init__(self, mats: list[np.ndarray], thr: np.ndarray, odds: list[np.ndarray] | None = None):
        self.m = len(mats)
        widths = np.array([x.shape[0] for x in mats])
        order = np.argsort(widths, kind="stable")
        self.groups = []
        for g in range(0, self.m, _GROUP):
            idx = order[g : g + _GROUP]
            k, kmax = idx.size, int(widths[idx].max())
            cols = [mats[i] for i in idx] + [mats[i][::-1, ::-1] for i in idx]
            lt = np.zeros((kmax, 5, 2 * k), np.float32)  # past a motif's end: 0 whatever the base
            for c, mm in enumerate(cols):
                lt[: mm.shape[0], :4, c] = mm
                lt[: mm.shape[0], 4, c] = _NEG
            pt = None
            if odds is not None:
                pt = np.ones((kmax, 5, 2 * k), np.float32)  # past a motif's end: 1 whatever the base
                for c, i in enumerate(np.concatenate([idx, idx])):
                    o = odds[i] if c < k else odds[i][::-1, ::-1]
                    pt[: o.shape[0], :4, c] = o
                    pt[: o.shape[0], 4, c] = 0.0
                pt = _pair_rows(pt, 1.0, np.multiply)
            cw = np.array([x.shape[0] for x in cols], dtype=np.int64)
            th = np.concatenate([thr[idx], thr[idx]])
            self.groups.append(_Group(
                idx, _pair_rows(lt, 0.0, np.add), pt, (th - _SLACK).astype(np.float32), th,
                np.ascontiguousarray(np.concatenate(cols)), np.concatenate([[0], np.cumsum(cw)[:-1]]), cw))

    def run(self, X: np.ndarray, want_score: bool, grid=None, *, best=None, count=None, bins=None):
        """``(best (n, m) float64, count (n, m) int32, bins (n, n_bins, m) float32 | None)``;
        ``bins`` sums the odds of both strands per bin of ``grid`` (needs ``odds``). Arrays passed
        in (e.g. slices of the caller's outputs) are filled in place instead of new ones."""
        n = X.shape[0]
        if want_score:
            best = np.empty((n, self.m)) if best is None else best
            count = np.empty((n, self.m), np.int32) if count is None else count
        if grid is not None and bins is None:
            bins = np.empty((n, grid.n, self.m), np.float32)
        e = (grid.offset, grid.size, grid.n) if grid is not None else (0, 1, 0)
        none2, none3 = np.empty((0, 0)), np.empty((0, 0, 0), np.float32)
        for g in self.groups:
            _dense_kernel(X, g.LT, g.PT if g.PT is not None else g.LT, g.thr_lo, g.thr64, g.pwm, g.col_off,
                          g.col_w, *e, g.idx, want_score, grid is not None,
                          best if want_score else none2, count if want_score else none2.astype(np.int32),
                          bins if grid is not None else none3)
        return best, count, bins


class _DenseAdapter:
    """The dense kernel behind the scanners' ``run(X, want_max, want_count, want_hits)``."""

    def __init__(self, dense: _DenseScanner):
        self.dense = dense

    def run(self, X, want_max, want_count, want_hits):
        best, count, _ = self.dense.run(X, True)
        return best, count, None


# ---------------------------------------------------------------- the torch path (GPU)


def _exact_scores(X, mats, region, motif, strand, start) -> np.ndarray:
    out = np.empty(len(region))
    for k in np.unique(motif):
        sel = np.flatnonzero(motif == k)
        m = mats[k]
        for st, mm in ((0, m), (1, m[::-1, ::-1])):
            s2 = sel[strand[sel] == st]
            if s2.size == 0:
                continue
            w = mm.shape[0]
            win = X[region[s2][:, None], start[s2][:, None] + np.arange(w)]  # (h, w)
            out[s2] = mm[np.arange(w), win].sum(axis=1)
    return out


class _TorchScanner:
    """Score every window with conv1d (float32), then rescore candidates exactly in float64."""

    SLACK = 1e-3

    def __init__(self, mats, thr, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.mats = mats
        self.thr = thr
        strands = []
        for m in mats:
            strands += [m, m[::-1, ::-1]]
        self.widths = np.array([s.shape[0] for s in strands])
        wmax = int(self.widths.max())
        W = np.zeros((len(strands), 4, wmax), dtype=np.float32)
        for i, s in enumerate(strands):
            W[i, :, : s.shape[0]] = s.T
        self.W = torch.from_numpy(W).to(self.device)
        self.wmax = wmax
        self.thr2 = torch.from_numpy(np.repeat(thr, 2).astype(np.float32)).to(self.device)

    def run(self, X, want_max, want_count, want_hits):
        torch = self.torch
        n, L = X.shape
        m = len(self.thr)
        xt = torch.from_numpy(X).to(self.device).long()
        pad = self.wmax - 1
        oh = torch.zeros((n, 5, L + pad), dtype=torch.float32, device=self.device)
        oh[:, :, :L].scatter_(1, xt[:, None, :], 1.0)
        oh[:, 4, L:] = 1.0  # past the end reads as N
        isn = oh[:, 4]
        scores = torch.nn.functional.conv1d(oh[:, :4], self.W)  # (n, 2m, L)
        csum = torch.nn.functional.pad(torch.cumsum(isn, dim=1), (1, 0))
        invalid = torch.zeros((n, 2 * m, L), dtype=torch.bool, device=self.device)
        for w in np.unique(self.widths):
            idx = torch.from_numpy(np.flatnonzero(self.widths == w)).to(self.device)
            bad = (csum[:, w : w + L] - csum[:, :L]) > 0  # (n, L)
            invalid[:, idx] = bad[:, None, :]
        scores = scores.masked_fill(invalid, -torch.inf)
        best = scores.amax(dim=2).view(n, m, 2).amax(dim=2).double().cpu().numpy()
        cand = (scores > (self.thr2[None, :, None] - self.SLACK)).nonzero().cpu().numpy()
        region, ms, start = cand[:, 0], cand[:, 1], cand[:, 2]
        motif, strand = ms // 2, ms % 2
        exact = _exact_scores(X, self.mats, region, motif, strand, start)
        keep = exact > self.thr[motif]
        region, motif, strand, start, exact = (a[keep] for a in (region, motif, strand, start, exact))
        count = np.zeros((n, m), dtype=np.int32)
        np.add.at(count, (region, motif), 1)
        hits = None
        if want_hits:
            hits = []
            for k in np.unique(motif):
                s = motif == k
                hits.append((int(k), np.stack([region[s], start[s], strand[s], exact[s]], axis=1).astype(float)))
        return best, count, hits


# ---------------------------------------------------------------- the public verb


def _pick_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu",) and not str(device).startswith("cuda"):
        raise InputError(f"device must be 'cpu', 'cuda' (or 'cuda:N') or 'auto', got {device!r}")
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} asked for, but torch sees no CUDA GPU",
                             hint="use device='cpu' or 'auto'")
    return device


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
    ms = _as_motif_set(motifs)
    features = tuple(features)
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise InputError(f"unknown feature(s) {unknown}; choose from {FEATURES}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    p = _check_p(threshold)
    X = _as_codes(sequences)
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
    device = _pick_device(device)
    bg = _background(ms, background)
    mats = log_odds_matrices(ms, bg, pseudocount)
    tables = _pvalue_tables(mats, bg, bin_size)
    thr = _thresholds_from_tables(tables, p, bin_size)
    want_max, want_count = "max" in features, "count" in features or hits
    if device != "cpu":
        scanner = _TorchScanner(mats, thr, device)
    elif hits:
        scanner = _CpuScanner(mats, thr)  # emits exact hits as it goes
    else:
        scanner = _DenseAdapter(_DenseScanner(mats, thr))
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
        "p_value": _lookup_pvalues(tables, motif, score, bin_size),
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
