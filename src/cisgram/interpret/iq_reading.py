"""How each motif of a fitted IQ model reads sequence, measured: through its best site only, or by
integrating many weak sites (issue 23).

An IQ energy is a log-sum over every site of a region, ``E = ln Σ_w Σ_s S[bin(w)] P(w, s)``
(:mod:`cisgram.motifs.features`), so weak sites count. Whether a motif's effect on accessibility
needs that sum is a question the data can answer. For each kept motif, three versions of its
energy column are built from the same weighted site terms ``ln(S[bin(w)] P(w, s))`` (the model's
PWM, its spatial profile, its window, both strands):

(a) **integrated**: the model's own energy (log-sum over every site);
(b) **best site**: the single best weighted site, ``max_{w,s} ln(S P)`` (its log-odds up to the
    constant ``width · ln 4``, which the normalisation removes);
(c) **top-k sites**: the log-sum of the ``k`` best weighted sites (``k`` = :data:`TOP_K`, 3).

Each column is normalised to [0, 10] on training rows as IQ normalises energies
(:func:`cisgram.motifs.features.fit_energy_norm`), put in place of the motif's column in the
model's final design (the other motifs, the covariates, and the interactions, whose scaling is
refitted on training rows because the column changed), and the final logistic fit is refitted on
training rows with the model's own ridge penalty. Each fit is scored on validation rows by
IceQream's R² (squared Pearson r of σ(link) with the target; the model's affine calibration leaves
it unchanged). The three fits are compared by a paired bootstrap over validation regions (the same
resampled regions for all three; :data:`N_BOOT` resamples): ``ΔR² = R²(b) − R²(a)`` and
``R²(c) − R²(a)`` with 95 % percentile intervals. The label:

- ``"strong sites only"`` when the best site is at least as good as the integrated energy (the
  interval of R²(b) − R²(a) does not go below 0);
- ``"integrates weak sites"`` when the integrated energy is better (the interval of R²(a) − R²(b)
  lies above 0);
- ``"undecided"`` otherwise; ``"not measured: …"`` when a target has fewer than
  :data:`MIN_VAL` validation rows.

Pitfalls: on a few hundred validation regions the intervals are wide, and most motifs of a real
run come out undecided; the refit uses the final design only (the motif was distilled and kept
with its integrated energy, which favours (a) slightly); with several targets each target gets its
own measurement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cisgram.errors import InputError
from cisgram.models.iq import Interactions, IQModel, fit_logistic, linear_covariates, logistic_bases, sigmoid
from cisgram.motifs.features import IQ_PSEUDOCOUNT, Bins, apply_energy_norm, fit_energy_norm
from cisgram.results import IQReading

TOP_K = 3  # sites in the top-k version (c)
N_BOOT = 1000  # paired bootstrap resamples of the validation regions
MIN_VAL = 30  # fewer validation rows than this: not measured
FITS = ("integrated", "best site", f"top-{TOP_K} sites")
STRONG, WEAK, UNDECIDED = "strong sites only", "integrates weak sites", "undecided"
_NO_SITE = -1e4  # log term of a site holding an N, or in a bin of weight 0: negligible
ROW_CHUNK = 4096  # regions per slice of the site table


def site_terms(codes: np.ndarray, probs: np.ndarray, spatial: np.ndarray, grid: Bins, *,
               pseudocount: float = IQ_PSEUDOCOUNT) -> np.ndarray:
    """Weighted site terms ``ln(S[bin(w)] P(w, s))`` ``(N, 2 * n_starts)`` of one motif on
    ``codes`` ``(N, L)``: forward strand then reverse, at every start inside ``grid``; their
    log-sum is the motif's raw IQ energy (:func:`cisgram.motifs.features.motif_energy`)."""
    codes = np.minimum(np.ascontiguousarray(codes, dtype=np.uint8), 4)
    p = np.asarray(probs, dtype=np.float64)
    p = (p / p.sum(axis=1, keepdims=True) + pseudocount) / (1 + 4 * pseudocount)
    width = p.shape[0]
    if codes.ndim != 2 or codes.shape[1] < width:
        raise InputError(f"a {width} bp motif needs (N, L >= {width}) codes, got shape {codes.shape}")
    lf = np.column_stack([np.log(p), np.full(width, _NO_SITE)])  # (w, 5): column 4 is N
    lr = np.column_stack([np.log(p[::-1, ::-1]), np.full(width, _NO_SITE)])
    starts = np.arange(codes.shape[1] - width + 1)
    b = grid.index(starts)
    pos, b = starts[b >= 0], b[b >= 0]
    with np.errstate(divide="ignore"):
        logs = np.log(np.asarray(spatial, dtype=np.float64))[b]
    logs = np.where(np.isfinite(logs), logs, _NO_SITE)
    fwd = np.zeros((len(codes), pos.size))
    rev = np.zeros((len(codes), pos.size))
    for j in range(width):
        c = codes[:, pos + j]
        fwd += lf[j][c]
        rev += lr[j][c]
    return np.concatenate([fwd + logs, rev + logs], axis=1)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    mx = x.max(axis=1)
    return mx + np.log(np.exp(x - mx[:, None]).sum(axis=1))


def reading_energies(codes: np.ndarray, probs: np.ndarray, spatial: np.ndarray, grid: Bins, *,
                     top_k: int = TOP_K) -> np.ndarray:
    """Raw (natural-log) energies ``(N, 3)`` of one motif: integrated (all sites), best site, and
    the log-sum of the ``top_k`` best sites, computed ``ROW_CHUNK`` regions at a time."""
    out = np.empty((len(codes), 3))
    for a in range(0, len(codes), ROW_CHUNK):
        t = site_terms(codes[a: a + ROW_CHUNK], probs, spatial, grid)
        k = min(top_k, t.shape[1])
        out[a: a + ROW_CHUNK, 0] = _logsumexp(t)
        out[a: a + ROW_CHUNK, 1] = t.max(axis=1)
        out[a: a + ROW_CHUNK, 2] = _logsumexp(np.partition(t, t.shape[1] - k, axis=1)[:, -k:])
    return out


def _boot_r2(W: np.ndarray, y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Squared Pearson r of ``y`` ``(n,)`` with each column of ``P`` ``(n, F)`` under bootstrap
    count weights ``W`` ``(B, n)``: ``(B, F)`` (0 where a side is constant)."""
    y, P = y - y.mean(), P - P.mean(axis=0)
    s = W.sum(axis=1, keepdims=True)
    my, mp = W @ y[:, None] / s, W @ P / s
    vy = W @ (y * y)[:, None] / s - my ** 2
    vp = W @ (P * P) / s - mp ** 2
    cov = W @ (y[:, None] * P) / s - my * mp
    ok = (vy > 1e-12 * max((y * y).mean(), 1e-300)) & (vp > 1e-12 * np.maximum((P * P).mean(axis=0), 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, cov ** 2 / (vy * vp), 0.0)


def label(low: float, high: float) -> str:
    """The reading from the 95 % interval ``[low, high]`` of R²(best site) − R²(integrated)."""
    if low >= 0:
        return STRONG
    if high < 0:
        return WEAK
    return UNDECIDED


def _not_measured(why: str, n_val: int, top_k: int, n_boot: int) -> IQReading:
    nan = float("nan")
    return IQReading(f"not measured: {why}", dict.fromkeys(_fits(top_k), nan),
                     {f: [nan, nan, nan] for f in _fits(top_k)[1:]}, n_val, n_boot, top_k)


def _fits(top_k: int) -> tuple[str, str, str]:
    return FITS[0], FITS[1], f"top-{top_k} sites"


class _FinalDesign:
    """The model's final design on all regions, with one motif column replaceable."""

    def __init__(self, model: IQModel, codes: np.ndarray, train: np.ndarray, extra: np.ndarray | None):
        self.model, self.train = model, train
        self.E = model.energies(codes)
        cov = model.cov_values(codes, extra)
        self.cov_bases = logistic_bases(cov).reshape(len(cov), -1)
        self.cov_linear = cov[:, linear_covariates(model.covariates)]

    def X(self, i: int, column: np.ndarray) -> np.ndarray:
        E = self.E.copy()
        E[:, i] = column
        parts = [logistic_bases(E).reshape(len(E), -1), self.cov_bases]
        pairs = self.model.interactions.pairs
        if len(pairs):
            lin = np.column_stack([E, self.cov_linear])
            parts.append(Interactions.fit(lin, pairs, self.train).apply(lin))
        return np.column_stack(parts)


def measure_reading(model: IQModel, codes: np.ndarray, Y: np.ndarray, train: np.ndarray, val: np.ndarray, *,
                    extra: np.ndarray | None = None, ridge: Sequence[float] | None = None, top_k: int = TOP_K,
                    n_boot: int = N_BOOT, seed: int = 0, min_val: int = MIN_VAL) -> list[dict[str, IQReading]]:
    """Per motif of ``model`` (in order), per target, an :class:`~cisgram.results.IQReading`: the
    validation R² of the final fit with the motif's energy integrated, best-site only and top-k,
    the paired-bootstrap differences to integrated with 95 % intervals, and the label (module
    docstring).

    ``codes`` ``(N, L)`` and ``Y`` ``(N, T)`` (NaN where a target does not model a region) are the
    regions the model was fitted on, ``train`` and ``val`` boolean masks ``(N,)``; ``extra`` the
    raw values of the model's covariates that do not come from sequence; ``ridge`` the final
    fit's penalty per target (``None``: :func:`~cisgram.models.iq.fit_logistic`'s default, the
    near-unpenalised fit of IceQream)."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(codes), -1)
    train, val = np.asarray(train, dtype=bool), np.asarray(val, dtype=bool)
    if Y.shape[1] != len(model.targets) or train.shape != (len(codes),) or val.shape != (len(codes),):
        raise InputError(f"{len(codes)} regions, targets {Y.shape} and masks {train.shape}/{val.shape} do not match "
                         f"a model of {len(model.targets)} target(s)")
    ridges = [1e-6] * Y.shape[1] if ridge is None else list(ridge)
    rows = [np.flatnonzero(train & np.isfinite(Y[:, t])) for t in range(Y.shape[1])]
    vrows = [np.flatnonzero(val & np.isfinite(Y[:, t])) for t in range(Y.shape[1])]
    measured = [v.size >= min_val for v in vrows]
    out: list[dict[str, IQReading]] = [{} for _ in model.motifs]
    for t, ok in enumerate(measured):
        if not ok:
            why = "no validation rows" if vrows[t].size == 0 else f"{vrows[t].size} validation rows (< {min_val})"
            for per_motif in out:
                per_motif[model.targets[t]] = _not_measured(why, int(vrows[t].size), top_k, n_boot)
    if not any(measured):
        return out
    design = _FinalDesign(model, codes, train, extra)
    rng = np.random.default_rng(seed)
    boots = {t: np.stack([np.bincount(rng.integers(0, v.size, v.size), minlength=v.size) for _ in range(n_boot)])
             .astype(np.float64) for t, v in enumerate(vrows) if measured[t]}
    names = _fits(top_k)
    for i, mot in enumerate(model.motifs):
        raw = reading_energies(codes, mot.probs, model.spatial[i], model.grid, top_k=top_k)
        norm = fit_energy_norm(raw, list(names), rows=train)
        columns = [design.E[:, i], *apply_energy_norm(raw, norm)[:, 1:].T]  # (a) is the model's own column
        Xs = [design.X(i, c) for c in columns]
        for t, r in enumerate(rows):
            if not measured[t]:
                continue
            v, y = vrows[t], Y[:, t]
            first = fit_logistic(Xs[0][r], y[r], ridge=ridges[t])
            fits = [first] + [fit_logistic(X[r], y[r], ridge=ridges[t], init=first) for X in Xs[1:]]
            P = np.column_stack([sigmoid(X[v] @ f.coef + f.intercept) for X, f in zip(Xs, fits, strict=True)])
            point = _boot_r2(np.ones((1, v.size)), y[v], P)[0]
            boot = _boot_r2(boots[t], y[v], P)
            delta = {}
            for j in (1, 2):
                low, high = np.percentile(boot[:, j] - boot[:, 0], [2.5, 97.5])
                delta[names[j]] = [float(point[j] - point[0]), float(low), float(high)]
            out[i][model.targets[t]] = IQReading(label(*delta[names[1]][1:]), dict(zip(names, map(float, point), strict=True)),
                                                 delta, int(v.size), n_boot, top_k)
    return out


def combined_label(readings: dict[str, IQReading]) -> str:
    """One line for a motif over its targets: the label when every target agrees, else
    ``"target: label; …"``."""
    labels = {t: r.label for t, r in readings.items()}
    if len(set(labels.values())) == 1:
        return next(iter(labels.values()))
    return "; ".join(f"{t}: {lab}" for t, lab in labels.items())


__all__ = ["FITS", "N_BOOT", "STRONG", "TOP_K", "UNDECIDED", "WEAK", "combined_label", "label", "measure_reading",
           "reading_energies", "site_terms"]
