"""The scanning kernels behind :func:`cisgram.motifs.scan.scan` (see its module docstring for the
algorithms): the pruning numba kernel that emits exact hits (:class:`CpuScanner`), the dense numba
kernel for feature matrices and IceQream odds (:class:`DenseScanner`, :class:`DenseAdapter`), and
the torch ``conv1d`` path for CUDA (:class:`TorchScanner`). Each scanner takes log-odds matrices
and score thresholds and answers one batch of ``(B, L)`` codes at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from cisgram.errors import InputError

_K = 7  # letters per first-test code
_NCODES = 4**_K  # 16384; code _NCODES means "an N or past the end"
_NLANE = 16  # windows per branch of the first test


def as_scan_codes(x) -> np.ndarray:
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


class CpuScanner:
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


class DenseScanner:
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


class DenseAdapter:
    """The dense kernel behind the scanners' ``run(X, want_max, want_count, want_hits)``."""

    def __init__(self, dense: DenseScanner):
        self.dense = dense

    def run(self, X, want_max, want_count, want_hits):
        best, count, _ = self.dense.run(X, True)
        return best, count, None


def exact_scores(X, mats, region, motif, strand, start) -> np.ndarray:
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


class TorchScanner:
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
        exact = exact_scores(X, self.mats, region, motif, strand, start)
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
