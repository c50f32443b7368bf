"""Interaction anatomy of an IQ model: where a fitted motif × motif term acts, and how the two
motifs sit there (IceQream's "Mesp–Eomes co-occurrence" reading of an interaction, done per pair).

For each interaction term between two motifs A and B (``IQModel.interactions``; motif ×
covariate terms are left out: a covariate has no site):

1. **Top set**: the ``top_fraction`` (10 %) of *training* regions with the largest |contribution|
   of the term to the link, ``max_t |β_t · x|`` over targets ``t`` (``x`` the term's [0, 1]
   feature, ``β_t`` its coefficient).
2. **Background**: training regions whose |contribution| is at or below the median, drawn
   (seeded, without replacement) to match the top set's distribution over GC-content deciles,
   as many as the top set where the pool allows. Why not regions with the same energies of A
   and B but little contribution: the term is a fixed function of the two energies
   (``x = scale(E_A · E_B)``), so regions matched on both energies *have* the same contribution;
   matching on both energy bins would reproduce the top set. The question left is whether the
   co-occurrence and the arrangement of A and B in the top set differ from regions where the
   term does not act, with GC (the main driver of motif-site frequency in accessible regions)
   held equal.
3. In both sets, each motif's **best site**: the largest PWM log-odds score (log2, memelite's
   pseudocount 1e-4, the motif set's background: the scores and p-values of
   :func:`cisgram.motifs.scan.scan`) over both strands and every start position inside the IQ
   model's spatial bins (the positions IQ's energy sums over). Its centre is ``start + (w − 1) / 2``.
4. **Spacing**: centre(B) − centre(A), signed, in bp, read on A's strand (multiplied by A's
   strand, so a region and its reverse complement give the same value); **orientation**: the
   four strand classes ``++ +- -+ --`` (A first, on the region's + strand) and same/opposite
   strand. Both are counted over the regions of each set where *both* best sites pass the
   threshold below (a best site in a region without a site is noise). The null of no grammar
   (:func:`independent_placement`): the top set's sites with A's site of one region paired with
   B's site of another, which keeps each motif's positional and strand preferences; a grammar
   is a spacing or strand class far above it. Best sites closer than half the two widths
   overlap (``overlap``): for similar motifs (GATA1 and GATA1::TAL1) that is one site read
   twice, so the summary also gives the mode among non-overlapping sites.
5. **Co-occurrence**: both best sites above the log-odds threshold of p < ``p_site`` (1e-4;
   :func:`cisgram.motifs.pvalues.pvalue_thresholds`), top against background: the odds ratio
   with Woolf's 95 % interval (exp(log OR ± 1.96 · √(1/a + 1/b + 1/c + 1/d)), 0.5 added to every
   cell when one is zero) and Fisher's exact two-sided p-value. This contrast is partly built in:
   the term grows with both energies and an energy is high where a strong site is, so the top
   set is selected for sites of both motifs; the odds ratio says how strongly (and whether
   p < 1e-4 sites, rather than weak ones, carry the term), not that the motifs co-occur beyond
   what their energies imply.

:func:`interaction_anatomy` returns one :class:`PairAnatomy` per pair, ranked by the mean
|contribution| in the top set; :func:`anatomy_table` is their one-row-per-pair summary (what
``cisgram train iq`` writes as ``interaction_anatomy.tsv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from cisgram.data.windows import gc_content
from cisgram.errors import InputError
from cisgram.models.iq import Interactions
from cisgram.motifs.pvalues import log_odds_matrices, pvalue_thresholds
from cisgram.motifs.pwm import MotifSet

TOP_FRACTION = 0.1
P_SITE = 1e-4
GC_BINS = 10
ORIENTATIONS = ("++", "+-", "-+", "--")
_N_SCORE = -1e6  # an N inside a window: no site


@dataclass
class PairAnatomy:
    """The anatomy of one interaction term between motifs ``motif_a`` and ``motif_b``.

    sites
        One row per region of the two sets: ``row`` (index into the codes given), ``set``
        (``top`` / ``background``), ``contribution`` (signed β·x of the target with the largest
        |β|), ``gc``, and per motif ``score_a``, ``start_a``, ``strand_a`` (+1 / −1), ``site_a``
        (passes the threshold), the same for ``b``, ``both``, ``spacing`` (bp, on A's strand) and
        ``orientation`` (one of :data:`ORIENTATIONS`) and ``overlap`` (the two windows share bases:
        often one site matched by two similar motifs, not two sites).
    spacing, spacing_top, spacing_background
        Distinct spacings (bp, sorted) of both-site regions in either set and their counts per set.
    orientation
        Counts of both-site regions per class of :data:`ORIENTATIONS` (index) and set (columns
        ``top``, ``background``), and ``top expected``: the top set's counts under
        :func:`independent_placement`.
    spacing_expected
        The top set's expected count per spacing under :func:`independent_placement`.
    coef
        The term's coefficient per target.
    counts
        ``[[top both, top not], [background both, background not]]``.
    """

    pair: str  # "A*B", as IQModel.feature_names() writes it
    motif_a: str
    motif_b: str
    coef: dict
    top_threshold: float
    mean_top_contribution: float
    site_thresholds: tuple
    sites: pd.DataFrame
    spacing: np.ndarray
    spacing_top: np.ndarray
    spacing_background: np.ndarray
    orientation: pd.DataFrame
    counts: np.ndarray
    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    spacing_expected: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.float64))

    @property
    def spacing_mode_top(self) -> float:
        """The most frequent spacing among the top set's both-site regions (NaN when none)."""
        return float(self.spacing[np.argmax(self.spacing_top)]) if self.spacing_top.sum() else float("nan")

    def summary(self) -> dict:
        (a, b), (c, d) = self.counts
        top_or = self.orientation["top"]
        ex = self.orientation["top expected"]
        top_sites = self.sites[self.sites["set"] == "top"]
        apart = top_sites.loc[top_sites["both"] & ~top_sites["overlap"], "spacing"].value_counts()
        n_top = max(int(top_or.sum()), 1)
        return {"pair": self.pair, "motif_a": self.motif_a, "motif_b": self.motif_b,
                **{f"coef:{t}": v for t, v in self.coef.items()},
                "mean_top_contribution": self.mean_top_contribution, "top_threshold": self.top_threshold,
                "n_top": int(a + b), "n_background": int(c + d), "top_both": int(a), "background_both": int(c),
                "odds_ratio": self.odds_ratio, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "p_value": self.p_value, "spacing_mode_top": self.spacing_mode_top,
                "spacing_mode_top_n": int(self.spacing_top.max()) if self.spacing_top.size else 0,
                "spacing_mode_top_expected": float(self.spacing_expected.get(self.spacing_mode_top, 0.0)),
                "top_overlapping": int((top_sites["both"] & top_sites["overlap"]).sum()),
                "spacing_mode_top_apart": apart.index[0] if len(apart) else float("nan"),
                "spacing_mode_top_apart_n": int(apart.iloc[0]) if len(apart) else 0,
                "same_strand_top": float((top_or["++"] + top_or["--"]) / n_top),
                "same_strand_top_expected": float((ex["++"] + ex["--"]) / max(ex.sum(), 1e-12)),
                **{f"top_{k}": int(top_or[k]) for k in ORIENTATIONS},
                **{f"background_{k}": int(self.orientation.loc[k, "background"]) for k in ORIENTATIONS}}


@numba.njit(cache=True)
def _best_site_kernel(codes, fwd, rev, starts):  # pragma: no cover - compiled
    """Best log-odds window per row over ``starts`` and both strands: (score, start, strand)."""
    n = codes.shape[0]
    w = fwd.shape[0]
    score = np.full(n, -np.inf)
    start = np.zeros(n, np.int64)
    strand = np.ones(n, np.int64)
    for r in range(n):
        for k in range(starts.size):
            p = starts[k]
            a = 0.0
            b = 0.0
            for j in range(w):
                c = codes[r, p + j]
                a += fwd[j, c]
                b += rev[j, c]
            if a > score[r]:
                score[r], start[r], strand[r] = a, p, 1
            if b > score[r]:
                score[r], start[r], strand[r] = b, p, -1
    return score, start, strand


def best_sites(codes: np.ndarray, matrix: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's best site of a log-odds ``matrix`` ``(w, 4)`` among the start positions
    ``starts`` on both strands: ``(score, start, strand)``, each ``(N,)``; ``strand`` is +1 when
    the forward window scores highest (ties go to +), −1 for the reverse complement. A window
    holding an N scores no site."""
    codes = np.ascontiguousarray(np.minimum(np.asarray(codes), 4), dtype=np.uint8)
    m = np.asarray(matrix, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64)
    if codes.ndim != 2 or m.ndim != 2 or m.shape[1] != 4:
        raise InputError(f"codes (N, L) and a (w, 4) matrix expected, got {codes.shape} and {m.shape}")
    if starts.size == 0 or starts.min() < 0 or starts.max() + m.shape[0] > codes.shape[1]:
        raise InputError(f"start positions must leave a {m.shape[0]} bp window inside {codes.shape[1]} bp")
    fwd = np.hstack([m, np.full((len(m), 1), _N_SCORE)])
    rev = np.hstack([m[::-1, ::-1], np.full((len(m), 1), _N_SCORE)])
    return _best_site_kernel(codes, np.ascontiguousarray(fwd), np.ascontiguousarray(rev), starts)


def _woolf(a: float, b: float, c: float, d: float) -> tuple[float, float, float]:
    if min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    lor = np.log(a * d / (b * c))
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return float(np.exp(lor)), float(np.exp(lor - 1.96 * se)), float(np.exp(lor + 1.96 * se))


def co_occurrence(counts) -> tuple[float, float, float, float]:
    """Odds ratio, Woolf 95 % interval and Fisher's exact two-sided p of a 2 × 2 table
    ``[[top both, top not], [background both, background not]]``."""
    from scipy.stats import fisher_exact

    (a, b), (c, d) = np.asarray(counts, dtype=np.float64)
    if a + b == 0 or c + d == 0:
        return (float("nan"),) * 4
    orr, lo, hi = _woolf(a, b, c, d)
    return orr, lo, hi, float(fisher_exact([[a, b], [c, d]]).pvalue)


def matched_background(score: np.ndarray, top: np.ndarray, gc: np.ndarray, *, bins: int = GC_BINS,
                       seed: int = 0) -> np.ndarray:
    """Indices of rows with ``score`` at or below its median (outside ``top``), drawn per GC
    quantile bin as many as ``top`` has there (all of the bin's pool when it is short)."""
    edges = np.unique(np.quantile(gc, np.linspace(0, 1, bins + 1)[1:-1]))
    gbin = np.searchsorted(edges, gc, side="right")
    pool = (score <= np.median(score)) & ~top
    rng = np.random.default_rng(seed)
    picked = []
    for g in np.unique(gbin[top]):
        cand = np.flatnonzero(pool & (gbin == g))
        want = int((gbin[top] == g).sum())
        picked.append(rng.choice(cand, min(want, cand.size), replace=False) if cand.size else cand)
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def _motif_pairs(model) -> list[tuple[int, int, int]]:
    m = len(model.motifs)
    return [(j, int(a), int(b)) for j, (a, b) in enumerate(model.interactions.pairs) if a < m and b < m]


def interaction_anatomy(model, codes: np.ndarray, train: np.ndarray, *, top_fraction: float = TOP_FRACTION,
                        p_site: float = P_SITE, seed: int = 0, max_pairs: int | None = None,
                        energies: np.ndarray | None = None) -> list[PairAnatomy]:
    """The anatomy (module docstring) of every motif × motif interaction of a fitted
    :class:`~cisgram.models.iq.IQModel`, on its training regions.

    Parameters
    ----------
    model
        A fitted IQ model (``cisgram.load(run).model``).
    codes
        ``(N, L)`` uint8 base codes of the model's length (the run's regions).
    train
        ``(N,)`` boolean mask of the training regions; only these are read.
    energies
        The model's normalised energies of ``codes[train]`` when already at hand.

    Returns
    -------
    list of PairAnatomy
        Ranked by mean |contribution| in the top set; ``[]`` without motif × motif terms.
    """
    if not 0 < top_fraction < 1:
        raise InputError(f"top_fraction must be in (0, 1), got {top_fraction}")
    train = np.asarray(train, dtype=bool)
    if train.shape != (len(codes),) or not train.any():
        raise InputError(f"train must be a boolean mask of {len(codes)} regions with at least one True")
    pairs = _motif_pairs(model)
    if not pairs:
        return []
    tc = np.asarray(codes)[train]
    E = model.energies(tc) if energies is None else np.asarray(energies)
    inter = model.interactions
    sel = [j for j, _, _ in pairs]
    x = Interactions(inter.pairs[sel], inter.colmax[sel], inter.lo[sel], inter.hi[sel]).apply(E)  # (n, K)
    k0 = 4 * (len(model.motifs) + len(model.covariates))
    beta = model.coef[:, [k0 + j for j in sel]]  # (T, K)
    lead = np.argmax(np.abs(beta), axis=0)
    signed = x * beta[lead, np.arange(len(sel))]
    contrib = np.max(np.abs(x[:, None, :] * beta[None]), axis=1)  # (n, K)
    order = np.argsort(-np.array([np.sort(c)[-max(1, int(round(top_fraction * len(c)))):].mean() for c in contrib.T]),
                       kind="stable")
    if max_pairs is not None:
        order = order[:max_pairs]
    ms = MotifSet(model.motifs)
    mats = log_odds_matrices(ms)
    thr = pvalue_thresholds(ms, p_site)
    gc = np.nan_to_num(gc_content(tc))  # an all-N region counts as GC 0
    rows = np.flatnonzero(train)
    names = model.motif_names
    site_cache: dict[int, tuple] = {}

    def sites(i: int):
        if i not in site_cache:
            w = mats[i].shape[0]
            starts = np.arange(tc.shape[1] - w + 1)
            site_cache[i] = best_sites(tc, mats[i], starts[model.grid.index(starts) >= 0])
        return site_cache[i]

    out = []
    for k in order:
        j, a, b = pairs[k]
        c = contrib[:, k]
        cut = np.quantile(c, 1 - top_fraction)
        top = (c >= cut) & (c > 0)
        bg = matched_background(c, top, gc, seed=seed)
        idx = np.concatenate([np.flatnonzero(top), bg])
        coef = {t: float(v) for t, v in zip(model.targets, beta[:, k], strict=True)}
        anat = _pair(names, a, b, coef, float(cut), idx, top, signed[:, k], gc, sites(a), sites(b),
                     (float(thr[a]), float(thr[b])), rows, (mats[a].shape[0], mats[b].shape[0]))
        anat.mean_top_contribution = float(c[top].mean()) if top.any() else 0.0
        out.append(anat)
    return out


def _pair(names, a, b, coef, cut, idx, top, signed, gc, sa, sb, thr, rows, widths) -> PairAnatomy:
    n_top = int(top.sum())
    t = pd.DataFrame({"row": rows[idx], "set": np.where(np.arange(idx.size) < n_top, "top", "background"),
                      "contribution": signed[idx], "gc": gc[idx],
                      "score_a": sa[0][idx], "start_a": sa[1][idx], "strand_a": sa[2][idx],
                      "score_b": sb[0][idx], "start_b": sb[1][idx], "strand_b": sb[2][idx]})
    t["site_a"] = t["score_a"] > thr[0]
    t["site_b"] = t["score_b"] > thr[1]
    t["both"] = t["site_a"] & t["site_b"]
    centre_a = t["start_a"] + (widths[0] - 1) / 2
    centre_b = t["start_b"] + (widths[1] - 1) / 2
    t["spacing"] = (centre_b - centre_a) * t["strand_a"]
    t["overlap"] = t["spacing"].abs() < (widths[0] + widths[1]) / 2  # the two windows share bases
    t["orientation"] = np.where(t["strand_a"] > 0, "+", "-").astype(object) + np.where(t["strand_b"] > 0, "+", "-")
    both = t[t["both"]]
    spacing = np.unique(both["spacing"].to_numpy())
    per = {s: both.loc[both["set"] == s, "spacing"].value_counts() for s in ("top", "background")}
    orient = pd.DataFrame({s: both.loc[both["set"] == s, "orientation"].value_counts().reindex(ORIENTATIONS, fill_value=0)
                           for s in ("top", "background")}).astype(int)
    a_both = int(both["set"].eq("top").sum())
    c_both = int(both["set"].eq("background").sum())
    n_bg = idx.size - n_top
    counts = np.array([[a_both, n_top - a_both], [c_both, n_bg - c_both]])
    orr, lo, hi, p = co_occurrence(counts)
    tb = both[both["set"] == "top"]
    exp_spacing, exp_orient = independent_placement(
        tb["start_a"].to_numpy() + (widths[0] - 1) / 2, tb["strand_a"].to_numpy(),
        tb["start_b"].to_numpy() + (widths[1] - 1) / 2, tb["strand_b"].to_numpy())
    orient["top expected"] = exp_orient
    return PairAnatomy(
        pair=f"{names[a]}*{names[b]}", motif_a=names[a], motif_b=names[b], coef=coef, top_threshold=cut,
        mean_top_contribution=0.0, site_thresholds=thr,
        sites=t, spacing=spacing, spacing_top=per["top"].reindex(spacing, fill_value=0).to_numpy(),
        spacing_background=per["background"].reindex(spacing, fill_value=0).to_numpy(), orientation=orient,
        counts=counts, odds_ratio=orr, ci_low=lo, ci_high=hi, p_value=p, spacing_expected=exp_spacing)


def independent_placement(centre_a, strand_a, centre_b, strand_b) -> tuple[pd.Series, np.ndarray]:
    """The null of no grammar among ``n`` regions' best sites: every pairing of A's site in region
    ``i`` with B's site in another region ``j`` (both positions and strands kept, so the
    motifs' own positional preferences stay), averaged to ``n`` regions. Returns the expected
    count per A-relative spacing (a Series indexed by spacing) and per strand class of
    :data:`ORIENTATIONS`."""
    ca, sa, cb, sb = (np.asarray(v, dtype=np.float64) for v in (centre_a, strand_a, centre_b, strand_b))
    n = ca.size
    if n < 2:
        return pd.Series(dtype=np.float64), np.zeros(len(ORIENTATIONS))
    off = ~np.eye(n, dtype=bool)
    vals, cnt = np.unique(((cb[None, :] - ca[:, None]) * sa[:, None])[off], return_counts=True)
    cls = (2 * (sa[:, None] < 0) + (sb[None, :] < 0))[off]  # ++ +- -+ -- as 0..3
    return pd.Series(cnt / (n - 1), index=vals), np.bincount(cls, minlength=4) / (n - 1)


def anatomy_table(anatomies: list[PairAnatomy]) -> pd.DataFrame:
    """One row per pair: :meth:`PairAnatomy.summary`, in the given (ranked) order."""
    return pd.DataFrame([a.summary() for a in anatomies])


__all__ = ["ORIENTATIONS", "P_SITE", "TOP_FRACTION", "PairAnatomy", "anatomy_table", "best_sites", "co_occurrence",
           "independent_placement", "interaction_anatomy", "matched_background"]
