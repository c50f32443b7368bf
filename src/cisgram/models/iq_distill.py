"""Learning a binding model (PWM + symmetric spatial profile) that explains a response.

This is the distillation and de-novo engine of the IQ model (prego's job in IceQream,
``specs/iceqream.md`` §4), written as gradient ascent on a differentiable energy instead of
prego's coordinate-wise greedy search:

- the PWM is parameterised by softmax logits ``(w, 4)``; the site probability uses IceQream's
  pseudocount (p + 0.01) / 1.04; an N inside a window makes the site impossible;
- the spatial profile is ``exp`` of ``(n_bins + 1) / 2`` free values mirrored about the centre bin;
- energy ``E = ln Σ_w Σ_s S[bin(w)] P(w, s)`` over both strands and the start positions of the
  grid, exactly as :func:`cisgram.motifs.features.motif_energy` computes it;
- objective: the sum over response columns of the squared Pearson r between ``E`` and the column.
  Unlike prego, which correlates the linear-scale sum ``Z``, we correlate its log ``E``: the
  energies the model uses are (clipped, rescaled) logs, and partial responses are linear in them.

Adam runs full-batch on at most ``max_rows`` regions (seeded subsample); the best parameters seen,
including the starting point, are returned, so learning never lowers the objective below its seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np

from cisgram.errors import InputError
from cisgram.motifs.features import Bins

log = logging.getLogger(__name__)

PSEUDOCOUNT = 0.01
_N_LOGP = -30.0  # log-probability of an N in a window: such a site is negligible


@dataclass
class Learned:
    """A learned binding model: ``probs`` ``(w, 4)``, ``spatial`` ``(n_bins,)`` (max 1), the
    objective at the start and at the end (sum of r² over response columns, on the rows used)."""

    probs: np.ndarray
    spatial: np.ndarray
    r2_start: float
    r2: float
    steps: int


def _symmetric(half, n: int):
    """Spatial log-weights of ``n`` bins from the ``(n + 1) // 2`` free values, mirrored about the centre."""
    import torch

    return torch.cat([half, half[: n - half.numel()].flip(0)])


@numba.njit(parallel=True, cache=True, nogil=True)
def _energy_kernel(codes, lpf, lpr, pos, logs, weights):  # pragma: no cover - compiled
    """Energies ``E[n] = logsumexp_{p, s} site_s(n, p) + logs[p]`` over start positions ``pos``;
    ``site_s`` sums ``lpf`` (forward) or ``lpr`` (the reverse-complement table) ``(w, 5)`` over the
    window. Fills ``weights`` ``(N, 2, len(pos))`` with each site's share ``exp(site + logs - E)``."""
    n = codes.shape[0]
    w = lpf.shape[0]
    npos = pos.size
    out = np.empty(n)
    for r in numba.prange(n):
        m = -np.inf
        for k in range(npos):
            p = pos[k]
            a = logs[k]
            b = logs[k]
            for j in range(w):
                c = codes[r, p + j]
                a += lpf[j, c]
                b += lpr[j, c]
            weights[r, 0, k] = a
            weights[r, 1, k] = b
            m = max(m, a, b)
        tot = 0.0
        for k in range(npos):
            tot += np.exp(weights[r, 0, k] - m) + np.exp(weights[r, 1, k] - m)
        e = m + np.log(tot)
        out[r] = e
        for k in range(npos):
            weights[r, 0, k] = np.exp(weights[r, 0, k] - e)
            weights[r, 1, k] = np.exp(weights[r, 1, k] - e)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _energy_grad(codes, pos, weights, g, grad_f, grad_r, grad_s):  # pragma: no cover - compiled
    """Gradients of ``Σ_n g[n] E[n]`` into ``grad_f``/``grad_r`` ``(chunks, w, 5)`` and ``grad_s``
    ``(chunks, len(pos))``, one slice per chunk of rows (summed by the caller)."""
    n = codes.shape[0]
    w = grad_f.shape[1]
    chunks = grad_f.shape[0]
    for ch in numba.prange(chunks):
        for r in range(ch, n, chunks):
            for k in range(pos.size):
                af = g[r] * weights[r, 0, k]
                ar = g[r] * weights[r, 1, k]
                grad_s[ch, k] += af + ar
                for j in range(w):
                    c = codes[r, pos[k] + j]
                    grad_f[ch, j, c] += af
                    grad_r[ch, j, c] += ar


@numba.njit(parallel=True, cache=True, nogil=True)
def _site_kernel(codes, lpf, lpr, pos):  # pragma: no cover - compiled
    """Log site probabilities ``(N, 2, len(pos))`` of both strands at the start positions ``pos``."""
    n = codes.shape[0]
    w = lpf.shape[0]
    out = np.empty((n, 2, pos.size))
    for r in numba.prange(n):
        for k in range(pos.size):
            a = 0.0
            b = 0.0
            for j in range(w):
                c = codes[r, pos[k] + j]
                a += lpf[j, c]
                b += lpr[j, c]
            out[r, 0, k] = a
            out[r, 1, k] = b
    return out


def _chunks() -> int:
    return max(1, numba.get_num_threads()) * 4


class _EnergyFn:
    """A torch autograd function over :func:`_energy_kernel` and :func:`_energy_grad`."""

    @staticmethod
    def build():
        import torch

        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, lpf, lpr, logs, codes, pos):
                weights = np.empty((len(codes), 2, pos.size))
                e = _energy_kernel(codes, lpf.detach().numpy(), lpr.detach().numpy(), pos, logs.detach().numpy(), weights)
                ctx.codes, ctx.pos, ctx.weights, ctx.w = codes, pos, weights, lpf.shape[0]
                return torch.from_numpy(e)

            @staticmethod
            def backward(ctx, g):
                k = _chunks()
                gf, gr, gs = np.zeros((k, ctx.w, 5)), np.zeros((k, ctx.w, 5)), np.zeros((k, ctx.pos.size))
                _energy_grad(ctx.codes, ctx.pos, ctx.weights, g.double().numpy(), gf, gr, gs)
                as_t = lambda a: torch.from_numpy(a.sum(axis=0))  # noqa: E731
                return as_t(gf), as_t(gr), as_t(gs), None, None

        return Fn


class _Energy:
    """Differentiable energies of one PWM of width ``w`` on fixed sequences ``codes`` ``(N, L)``."""

    _fn = None

    def __init__(self, codes: np.ndarray, grid: Bins, width: int):
        import torch

        L = codes.shape[1]
        P = L - width + 1
        if P < 1:
            raise InputError(f"a {width} bp motif does not fit in {L} bp sequences")
        starts = np.arange(P)
        b = grid.index(starts)
        keep = b >= 0
        if not keep.any():
            raise InputError(f"no start position of a {width} bp motif falls in the spatial bins")
        self.codes = np.ascontiguousarray(np.minimum(codes, 4), dtype=np.uint8)
        self.pos = starts[keep].astype(np.int64)
        self.bin = torch.from_numpy(b[keep])
        if _Energy._fn is None:
            _Energy._fn = _EnergyFn.build()

    @staticmethod
    def tables(logits):
        """Forward and reverse-complement log-probability tables ``(w, 5)`` (column 4: N)."""
        import torch

        p = (torch.softmax(logits.double(), dim=1) + PSEUDOCOUNT) / (1 + 4 * PSEUDOCOUNT)
        lp = torch.log(p)  # (w, 4)
        lpf = torch.cat([lp, torch.full((lp.shape[0], 1), _N_LOGP, dtype=lp.dtype)], dim=1)
        return lpf, lpf.flip(0)[:, [3, 2, 1, 0, 4]]

    def __call__(self, logits, log_half, n_bins: int):
        lpf, lpr = self.tables(logits)
        logs = _symmetric(log_half.double(), n_bins)[self.bin]
        return _Energy._fn.apply(lpf, lpr, logs, self.codes, self.pos)

    def fixed(self, logits):
        """For a PWM that does not learn: the site log-probabilities once, and a function of the
        spatial log-weights alone that is plain torch (cheap per step)."""
        import torch

        lpf, lpr = (t.detach().numpy() for t in self.tables(logits))
        site = torch.from_numpy(_site_kernel(self.codes, lpf, lpr, self.pos))

        def energy(_logits, log_half, n_bins: int):
            s = site + _symmetric(log_half.double(), n_bins)[self.bin]
            return torch.logsumexp(s.reshape(s.shape[0], -1), dim=1)

        return energy


def _r2_sum(E, R, Rn):
    Ec = E - E.mean()
    num = Ec @ R  # (T,)
    return ((num ** 2) / ((Ec @ Ec) * Rn + 1e-30)).sum()


def _prepare(codes: np.ndarray, response: np.ndarray, max_rows: int, seed: int):
    import torch

    R = np.asarray(response, dtype=np.float64)
    R = R[:, None] if R.ndim == 1 else R
    if R.shape[0] != len(codes):
        raise InputError(f"{R.shape[0]} responses for {len(codes)} sequences")
    ok = np.isfinite(R).all(axis=1)
    rows = np.flatnonzero(ok)
    if rows.size > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    if rows.size < 10:
        raise InputError(f"only {rows.size} regions with a finite response; need at least 10")
    Rc = R[rows] - R[rows].mean(axis=0)
    Rt = torch.from_numpy(Rc)
    return codes[rows], Rt, (Rt ** 2).sum(dim=0)


def learn_binding_model(codes: np.ndarray, response: np.ndarray, grid: Bins, init_probs: np.ndarray, *,
                        learn_pwm: bool = True, steps: int = 150, lr: float = 0.05, max_rows: int = 4000,
                        seed: int = 0, patience: int = 25) -> Learned:
    """Fit a PWM (started at ``init_probs`` ``(w, 4)``; kept fixed unless ``learn_pwm``) and a
    symmetric spatial profile over ``grid`` that maximise Σ_t r²(E, response[:, t]).

    ``response`` ``(N,)`` or ``(N, T)``; rows with a non-finite value are left out."""
    import torch

    init = np.asarray(init_probs, dtype=np.float64)
    if init.ndim != 2 or init.shape[1] != 4:
        raise InputError(f"init_probs must be (w, 4), got {init.shape}")
    torch.manual_seed(seed)
    C, R, Rn = _prepare(codes, response, max_rows, seed)
    energy = _Energy(C, grid, init.shape[0])
    n = grid.n
    logits = torch.tensor(np.log(np.clip(init / init.sum(axis=1, keepdims=True), 1e-4, 1)), dtype=torch.float32,
                          requires_grad=learn_pwm)
    half = torch.zeros((n + 1) // 2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([half, logits] if learn_pwm else [half], lr=lr)
    if not learn_pwm:
        energy = energy.fixed(logits)
    best, best_state, since, r2_start, done = -1.0, None, 0, None, 0
    for step in range(steps + 1):
        opt.zero_grad()
        r2 = _r2_sum(energy(logits, half, n), R, Rn)
        v = float(r2.detach())
        if r2_start is None:
            r2_start = v
        if v > best + 1e-6:
            best, best_state, since = v, (logits.detach().clone(), half.detach().clone()), 0
        else:
            since += 1
        if step == steps or since > patience:
            break
        (-r2).backward()
        opt.step()
        done = step + 1
    lg, hf = best_state
    probs = torch.softmax(lg, dim=1).double().numpy() if learn_pwm else init / init.sum(axis=1, keepdims=True)
    s = np.exp(_symmetric(hf, n).double().numpy())
    return Learned(probs, s / s.max(), float(r2_start), float(best), done)


# ------------------------------------------------------------------------------------ seeds


def kmer_seed(codes: np.ndarray, response: np.ndarray, *, k: int = 8, window: int = 300, width: int = 15,
              max_rows: int = 20000, seed: int = 0, max_gap: int = 0) -> tuple[str, float, np.ndarray]:
    """The k-mer (reverse complements pooled; with ``max_gap=1`` possibly with one N, prego's
    gapped seeds) whose count in the central ``window`` bp best correlates with ``response`` (sum
    of r² over columns), and its seed PWM ``(width, 4)``: 0.85 on the k-mer's letters, 0.05
    elsewhere, padded with uniform columns (prego's seed). The screen is
    :func:`cisgram.models.iq_seeds.screen_kmers`."""
    from cisgram.models import iq_seeds

    (word, r2), = iq_seeds.screen_kmers(codes, response, k=k, max_gap=max_gap, window=window, n_seeds=1,
                                        max_rows=max_rows, seed=seed)
    return word, r2, iq_seeds.seed_probs(word, width)


def crop(probs: np.ndarray, width: int = 15) -> np.ndarray:
    """The ``width`` contiguous columns with the most information, or the matrix padded with
    uniform columns on both sides when it is narrower."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[0] >= width:
        ic = 2 + (p * np.log2(np.clip(p, 1e-9, 1))).sum(axis=1)
        s = np.convolve(ic, np.ones(width), mode="valid")
        i = int(np.argmax(s))
        return p[i:i + width].copy()
    left = (width - p.shape[0]) // 2
    return np.vstack([np.full((left, 4), 0.25), p, np.full((width - p.shape[0] - left, 4), 0.25)])


def top_site_share(codes: np.ndarray, probs: np.ndarray, spatial: np.ndarray, grid: Bins, *,
                   max_rows: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """How much of each region's energy its single best site carries: ``(energy, share)``, both
    ``(n,)`` over at most ``max_rows`` regions (seeded), ``share = max site / Σ sites`` in (0, 1].
    A motif that reads strong sites only has shares near 1 where its energy is high; one that
    integrates weak sites has small shares there."""
    import torch

    codes = np.asarray(codes)
    rows = np.arange(len(codes))
    if rows.size > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    p = np.asarray(probs, dtype=np.float64)
    e = _Energy(codes[rows], grid, p.shape[0])
    lpf, lpr = (t.numpy() for t in _Energy.tables(torch.tensor(np.log(np.clip(p, 1e-9, 1)))))
    site = _site_kernel(e.codes, lpf, lpr, e.pos) + np.log(np.clip(spatial, 1e-12, None))[e.bin.numpy()]
    flat = site.reshape(len(rows), -1)
    mx = flat.max(axis=1)
    lse = mx + np.log(np.exp(flat - mx[:, None]).sum(axis=1))
    return lse, np.exp(mx - lse)
