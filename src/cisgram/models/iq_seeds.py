"""Gapped k-mer seeds for learning PWMs (prego's initialisation, ``specs/iceqream.md`` §4): the
k-mers whose count in the central window best correlates with a response, and prego's seed PWM.
Used by :mod:`cisgram.models.iq_kmer` (distillation from k-mer seeds) and by
:func:`cisgram.models.iq_distill.kmer_seed` (de-novo motifs on the residual).

The screen is one pass of a numba kernel over the regions: every gapped k-mer of every region is
hashed to its canonical (strand-pooled) feature, and per feature Σ count, Σ count² and
Σ count · response are accumulated, so no region × k-mer matrix is ever built (8 patterns ×
300 positions × 100,000 regions would be 240 M entries).
"""

from __future__ import annotations

import numba
import numpy as np

from cisgram.errors import InputError

SEED_LETTER, SEED_OTHER = 0.85, 0.05  # prego's seed: 1 - 3 * unif_prior, unif_prior


@numba.njit(cache=True, nogil=True)
def _kmer_stats(codes, Rc, k, gaps, canon, n_feat):  # pragma: no cover - compiled
    """Per canonical gapped k-mer: Σ count, Σ count², Σ count · Rc[:, t] and regions holding it,
    over the rows of ``codes`` ``(n, w)``; ``gaps[i]`` is the letter after which pattern ``i``
    has its N (0: none); ``canon[i, word]`` the canonical feature of ``word`` in pattern ``i``."""
    n, w = codes.shape
    T = Rc.shape[1]
    s1 = np.zeros(n_feat)
    s2 = np.zeros(n_feat)
    sr = np.zeros((n_feat, T))
    seen = np.zeros(n_feat)
    cnt = np.zeros(n_feat, np.int32)
    touched = np.empty(w * gaps.size, np.int64)
    for r in range(n):
        nt = 0
        for gi in range(gaps.size):
            g = gaps[gi]
            span = k + (1 if g > 0 else 0)
            for p in range(w - span + 1):
                idx = 0
                bad = False
                for j in range(span):
                    if g > 0 and j == g:
                        continue
                    c = codes[r, p + j]
                    if c > 3:
                        bad = True
                        break
                    idx = idx * 4 + c
                if bad:
                    continue
                f = canon[gi, idx]
                if cnt[f] == 0:
                    touched[nt] = f
                    nt += 1
                cnt[f] += 1
        for i in range(nt):
            f = touched[i]
            c = float(cnt[f])
            s1[f] += c
            s2[f] += c * c
            seen[f] += 1
            for t in range(T):
                sr[f, t] += c * Rc[r, t]
            cnt[f] = 0
    return s1, s2, sr, seen


def _patterns(k: int, max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gap positions ``(G,)``, the canonical feature of every (pattern, word) ``(G, 4**k)`` and
    the (pattern, word) that names each canonical feature."""
    if not 1 <= k <= 10:
        raise InputError(f"k-mer length must be 1 to 10, got {k}")
    if max_gap not in (0, 1):
        raise InputError(f"max_gap must be 0 or 1, got {max_gap}")
    gaps = np.arange(k) if max_gap and k > 1 else np.zeros(1, np.int64)
    x = np.arange(4 ** k, dtype=np.int64)
    rc = np.zeros_like(x)
    for j in range(k):
        rc = rc * 4 + (3 - ((x >> (2 * j)) & 3))
    pos = {int(g): i for i, g in enumerate(gaps)}
    ids = np.arange(gaps.size)[:, None] * 4 ** k + x[None, :]
    rc_ids = np.array([pos[(k - int(g)) if g > 0 else 0] for g in gaps])[:, None] * 4 ** k + rc[None, :]
    uniq, inv = np.unique(np.minimum(ids, rc_ids), return_inverse=True)
    return gaps.astype(np.int64), inv.reshape(ids.shape).astype(np.int64), uniq


def _name(feature: int, k: int, gaps: np.ndarray) -> str:
    g, word = divmod(int(feature), 4 ** k)
    letters = "".join("ACGT"[(word >> (2 * (k - 1 - j))) & 3] for j in range(k))
    gap = int(gaps[g])
    return letters if gap == 0 else letters[:gap] + "N" + letters[gap:]


def _revcomp(word: str) -> str:
    return word[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def _similar(a: str, b: str, slack: int = 2) -> bool:
    """Whether ``b`` (either strand) matches ``a`` at some offset on all but ``slack`` of the
    letters of the shorter one: shifted or reverse-complemented copies of one site."""
    need = min(len(a.replace("N", "")), len(b.replace("N", ""))) - slack
    for s in (b, _revcomp(b)):
        for off in range(-len(s) + 1, len(a)):
            hits = sum(1 for i, ch in enumerate(s) if 0 <= off + i < len(a) and ch != "N" and a[off + i] == ch)
            if hits >= need:
                return True
    return False


def screen_kmers(codes: np.ndarray, response: np.ndarray, *, k: int = 8, max_gap: int = 1, window: int = 300,
                 n_seeds: int = 1, min_rows: int = 0, max_rows: int | None = None,
                 seed: int = 0) -> list[tuple[str, float]]:
    """The ``n_seeds`` best mutually distinct gapped k-mers and their score: Σ over the columns of
    ``response`` ``(N,)`` or ``(N, T)`` of the squared Pearson r between the k-mer's count in the
    central ``window`` bp (both strands pooled: a k-mer and its reverse complement are one
    feature; a palindromic site counts once) and the column, over the rows where every column is
    finite (at most ``max_rows`` of them, seeded). A k-mer has ``k`` letters and, with
    ``max_gap=1``, possibly one N between two of them (written ``ACGTNACGT``); k-mers held by
    fewer than ``min_rows`` regions are left out. Distinct: no seed matches an earlier one on
    all but two letters at any offset, either strand."""
    R = np.asarray(response, dtype=np.float64)
    R = R[:, None] if R.ndim == 1 else R
    if R.shape[0] != len(codes):
        raise InputError(f"{R.shape[0]} responses for {len(codes)} sequences")
    ok = np.flatnonzero(np.isfinite(R).all(axis=1))
    if max_rows is not None and ok.size > max_rows:
        ok = np.sort(np.random.default_rng(seed).choice(ok, max_rows, replace=False))
    if ok.size < 10:
        raise InputError(f"only {ok.size} regions with a finite response; need at least 10")
    L = codes.shape[1]
    lo = max(0, (L - window) // 2)
    c = np.ascontiguousarray(np.asarray(codes)[ok, lo:lo + min(window, L)], dtype=np.uint8)
    if c.shape[1] < k + max_gap:
        raise InputError(f"sequences of {c.shape[1]} bp are shorter than the {k}-mer seed")
    gaps, canon, uniq = _patterns(k, max_gap)
    Rc = np.ascontiguousarray(R[ok] - R[ok].mean(axis=0))
    s1, s2, sr, seen = _kmer_stats(c, Rc, k, gaps, canon, uniq.size)
    n = ok.size
    var = s2 / n - (s1 / n) ** 2
    r2 = ((sr / n) ** 2 / (np.maximum(var, 1e-12)[:, None] * (Rc ** 2).mean(axis=0))).sum(axis=1)
    r2[(seen < min_rows) | (var <= 1e-12)] = -1.0
    out: list[tuple[str, float]] = []
    for f in np.argsort(-r2)[: 50 * n_seeds]:
        if r2[f] < 0:
            break
        word = _name(uniq[f], k, gaps)
        if all(not _similar(w, word) for w, _ in out):
            out.append((word, float(r2[f])))
        if len(out) == n_seeds:
            break
    if not out:
        raise InputError(f"no {k}-mer is held by at least {min_rows} regions")
    return out


def seed_probs(word: str, width: int = 15) -> np.ndarray:
    """prego's seed PWM ``(max(width, len(word)), 4)``: 0.85 on each letter of ``word`` (0.05 on
    the other bases), uniform on its N and on the padding, centred."""
    probs = np.full((max(width, len(word)), 4), 0.25)
    off = (probs.shape[0] - len(word)) // 2
    for i, ch in enumerate(word):
        if ch != "N":
            probs[off + i] = SEED_OTHER
            probs[off + i, "ACGT".index(ch)] = SEED_LETTER
    return probs


__all__ = ["SEED_LETTER", "SEED_OTHER", "screen_kmers", "seed_probs"]
