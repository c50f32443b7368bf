"""Access probability (AP), log CPM, sequence covariates and differential targets.

Pure numpy: no file I/O. Matrices are ``(R, C)`` float64, R regions by C conditions, and every
normalisation parameter is **fitted on the training regions only** (a boolean ``train`` mask),
stored in a JSON-safe object, and reapplied unchanged to validation/test regions and to new
regions later.

Access probability (IceQream, ``specs/iceqream.md`` section 1, steps 4-7)
---------------------------------------------------------------------------
:func:`fit_access` turns region counts ``x`` (coverage summed over each region) into AP in
[0, 1]:

4. **Regional (punctured-window) correction.** ``m`` = the marginal track summed over the region,
   ``M`` = over a window around it (+-10 kb), ``B = M - m``. With ``floor = quantile(B_train,
   minimal_quantile)`` (0.1), ``f = max(B / floor, 1)`` and each row is multiplied by ``1 / f``:
   regions in busy neighbourhoods are down-weighted, the quietest 10% are left alone. Then each
   column is divided by its sum over training regions (``column_totals``), so training columns
   sum to 1. Result: stage ``"regional"``. Without window sums, ``f = 1``.
5. **Constitutive regions**: ``log2(x + 1e-5) >= const_threshold`` (-16) in *every* condition, on
   the ``"regional"`` values; or a user flag.
6. **Constitutive normalisation** (``norm_quant = scaling_quant = 1``): ``S_c`` = sum of column c
   over training constitutive regions, ``R`` = mean of ``S_c`` (or ``S_anchor``); column c is
   divided by ``S_c / R``; everything is divided by the training maximum (``global_max``) and
   capped at 1; then multiplied by ``rescale`` = the maximum of the training ``"regional"``
   matrix (with an anchor: of the anchor column). Result: stage ``"const"``.
7. **Probability**: ``prob1_thresh`` = the ``const_quantile`` (0.9) quantile of all training
   constitutive values (all conditions pooled); ``p = min(x / prob1_thresh, 1)``; then each
   column is min-max scaled with its training min and max and clipped to [0, 1]. Stage ``"ap"``.

Where this deviates from IceQream, on purpose:

* Every statistic (``scale``, ``floor``, column sums, ``S_c``, maxima, quantiles, column min/max)
  is taken over training regions only and stored in :class:`AccessParams`;
  :func:`apply_access` reuses them. IceQream scales the test set on its own statistics.
  Held-out regions can therefore fall outside the training range; the caps and the final clip
  keep AP in [0, 1].
* The marginal track is **scale-free**: ``sum_c coverage_c / scale_c`` with ``scale_c`` the
  condition's total over training regions, instead of a plain sum over conditions. In a plain
  sum the deepest condition decides the background. With this one, multiplying one condition's
  coverage by k changes no AP.
* When ``quantile(B_train, minimal_quantile)`` is 0 (sparse data, many empty windows), the floor
  is the smallest positive training background instead (logged), since ``B / 0`` is undefined.
* A column whose training min equals its max is left as ``p`` instead of divided by zero.

Pitfalls: the threshold rule depends on how many training regions there are, because columns
sum to 1 (-16 suits ~10^5 regions; with a few hundred, every region with signal passes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from cisgram.errors import InputError, few

__all__ = [
    "AccessParams",
    "AccessResult",
    "DifferentialTarget",
    "apply_access",
    "apply_log_cpm",
    "condition_target",
    "differential_target",
    "fit_access",
    "log_cpm",
    "punctured_background",
]

log = logging.getLogger(__name__)

CONST_PSEUDOCOUNT = 1e-5  # log2(x + 1e-5) in the constitutive rule (IceQream)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _matrix(x, what: str, shape: tuple[int, ...] | None = None, *, nonneg: bool = True) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise InputError(f"{what} must be a 2-D (regions x conditions) matrix, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise InputError(f"{what} has shape {a.shape} but counts have shape {shape}",
                         hint="give one row per region and one column per condition, in the same order")
    if not np.isfinite(a).all():
        raise InputError(f"{what} holds NaN or infinite values", hint="replace missing coverage with 0")
    if nonneg and (a < 0).any():
        raise InputError(f"{what} holds negative values; coverage must be >= 0")
    return a


def _vector(x, what: str, n: int, dtype=np.float64) -> np.ndarray:
    a = np.asarray(x)
    if a.shape != (n,):
        raise InputError(f"{what} must have shape ({n},), one value per region, got {a.shape}")
    return a.astype(dtype, copy=False)


def train_mask(train, n: int) -> np.ndarray:
    t = np.asarray(train)
    if t.shape != (n,):
        raise InputError(f"train mask must have shape ({n},), one flag per region, got {t.shape}")
    if t.dtype != bool:
        raise InputError(f"train mask must be boolean, got dtype {t.dtype}",
                         hint="pass e.g. split_labels == 'train'")
    if not t.any():
        raise InputError("the train mask is empty: no training region to fit on",
                         hint="check the split; at least one region must be 'train'")
    return t


def _condition_names(conditions, n: int) -> list[str]:
    if conditions is None:
        return [f"condition_{i}" for i in range(n)]
    names = [str(c) for c in conditions]
    if len(names) != n:
        raise InputError(f"{len(names)} condition name(s) for {n} column(s) of counts")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise InputError(f"duplicated condition name(s): {few(dup, 8, sort=False)}")
    return names


def _index(conditions: Sequence[str], name: str, what: str = "condition") -> int:
    conditions = list(conditions)
    if name not in conditions:
        raise InputError(f"unknown {what} {name!r}; the conditions are: {few(conditions, 20, sort=False)}")
    return conditions.index(name)


def _zero_columns(totals: np.ndarray, names: Sequence[str], where: str) -> None:
    zero = [names[i] for i in np.flatnonzero(~(totals > 0))]
    if zero:
        raise InputError(f"zero-coverage condition {zero[0]}: no signal {where}"
                         + (f" (also {few(zero[1:], 8, sort=False)})" if len(zero) > 1 else ""),
                         hint="drop the condition, or check its track and chromosome names")


# --------------------------------------------------------------------------------------------
# access probability
# --------------------------------------------------------------------------------------------


@dataclass
class AccessParams:
    """Everything :func:`apply_access` needs to reapply a fitted AP transformation.

    All fields are JSON-safe (str, float, lists); :meth:`to_dict` / :meth:`from_dict` round-trip.
    Per-condition lists follow ``conditions``.
    """

    conditions: list[str]
    scale: list[float]  # per-condition totals over train regions (scale-free marginal track)
    background_floor: float | None  # quantile(B_train, minimal_quantile); None: no regional correction
    column_totals: list[float]  # per-condition sums over train after the regional correction
    constitutive_threshold: float  # log2 threshold of the constitutive rule
    const_totals: list[float]  # S_c over train constitutive regions
    reference: float  # R = mean of S_c, or S of the anchor
    global_max: float  # max over train of the constitutive-normalised matrix (norm_quant = 1)
    rescale: float  # max of the train "regional" matrix (or of its anchor column)
    prob1_thresh: float  # const_quantile quantile of train constitutive values after step 6
    col_min: list[float]  # per-condition min over train of min(x / prob1_thresh, 1)
    col_max: list[float]
    minimal_quantile: float
    const_quantile: float
    anchor: str | None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AccessParams:
        names = {f.name for f in fields(cls)}
        missing, extra = sorted(names - set(d)), sorted(set(d) - names)
        if missing or extra:
            raise InputError("not a set of access parameters"
                             + (f"; missing {few(missing, 8, sort=False)}" if missing else "")
                             + (f"; unexpected {few(extra, 8, sort=False)}" if extra else ""))
        out = dict(d)
        for k in ("scale", "column_totals", "const_totals", "col_min", "col_max"):
            out[k] = [float(v) for v in d[k]]
        out["conditions"] = [str(c) for c in d["conditions"]]
        for k in ("constitutive_threshold", "reference", "global_max", "rescale", "prob1_thresh",
                  "minimal_quantile", "const_quantile"):
            out[k] = float(d[k])
        out["background_floor"] = None if d["background_floor"] is None else float(d["background_floor"])
        n = len(out["conditions"])
        if any(len(out[k]) != n for k in ("scale", "column_totals", "const_totals", "col_min", "col_max")):
            raise InputError("access parameters are inconsistent: per-condition lists differ in length")
        return cls(**out)


@dataclass
class AccessResult:
    """AP and every intermediate stage, all ``(R, C)`` float64.

    ``stages``: ``"raw"`` (counts as given), ``"regional"`` (after the punctured-window correction
    and per-condition sum normalisation), ``"const"`` (after constitutive normalisation), ``"ap"``.
    ``background`` is the punctured background ``B`` per region (None without window sums).
    """

    ap: np.ndarray
    stages: dict[str, np.ndarray]
    constitutive: np.ndarray
    background: np.ndarray | None
    params: AccessParams


def punctured_background(peak_sums, window_sums, scale) -> np.ndarray:
    """The punctured background ``B = M - m`` of each region, on a scale-free marginal track.

    The marginal track is ``sum_c coverage_c / scale_c``, so multiplying one condition's
    coverage (and its scale) by k changes nothing. ``m`` is its sum over the region, ``M`` over
    the window around it (which contains the region).

    Parameters
    ----------
    peak_sums, window_sums
        ``(R, C)`` coverage over each region and over its window.
    scale
        ``(C,)`` positive per-condition totals (:func:`fit_access` uses the sum over training
        regions).

    Returns
    -------
    np.ndarray
        ``(R,)`` float64, >= 0. Tiny negatives from rounding are clipped to 0; a window holding
        clearly less than its region raises :class:`InputError`.
    """
    x = _matrix(peak_sums, "peak sums")
    w = _matrix(window_sums, "window sums", x.shape)
    s = np.asarray(scale, dtype=np.float64)
    if s.shape != (x.shape[1],):
        raise InputError(f"scale must have shape ({x.shape[1]},), one value per condition, got {s.shape}")
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise InputError("scale must be finite and positive for every condition")
    short = w < x - 1e-6 * np.maximum(x, 1.0)
    if short.any():
        r, c = np.argwhere(short)[0]
        raise InputError(
            f"window sum smaller than the region's own count (region {r}, condition {c}: "
            f"{w[r, c]:g} < {x[r, c]:g}) in {int(short.sum())} cell(s)",
            hint="window sums must cover the region plus its flanks (e.g. +-10 kb around it)",
        )
    b = (w / s).sum(axis=1) - (x / s).sum(axis=1)
    return np.maximum(b, 0.0)


def _background_floor(b_train: np.ndarray, q: float) -> float:
    floor = float(np.quantile(b_train, q))
    if floor > 0:
        return floor
    pos = b_train[b_train > 0]
    if pos.size == 0:
        raise InputError(
            "the regional background is 0 for every training region: window sums equal region counts",
            hint="compute window sums over +-10 kb around each region, or pass none to skip the correction",
        )
    log.info("background quantile %.3g is 0; using the smallest positive background %.4g as floor", q, pos.min())
    return float(pos.min())


def _regional_factor(b: np.ndarray | None, floor: float | None) -> np.ndarray | None:
    if b is None:
        return None
    return np.maximum(b / floor, 1.0)


def _constitutive_rule(regional: np.ndarray, threshold: float) -> np.ndarray:
    return (np.log2(regional + CONST_PSEUDOCOUNT) >= threshold).all(axis=1)


def _const_normalised(regional: np.ndarray, const_totals: np.ndarray, reference: float) -> np.ndarray:
    return regional * (reference / const_totals)


def _const_stage(normed: np.ndarray, global_max: float, rescale: float) -> np.ndarray:
    return np.minimum(normed / global_max, 1.0) * rescale


def _prob_stage(const: np.ndarray, prob1: float) -> np.ndarray:
    return np.minimum(const / prob1, 1.0)


def _minmax(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    rng = hi - lo
    flat = ~(rng > 0)
    out = (p - lo) / np.where(flat, 1.0, rng)
    out = np.where(flat, p, out)  # a flat training column is left as p (already in [0, 1])
    return np.clip(out, 0.0, 1.0)


def _flag(constitutive, n: int) -> np.ndarray:
    f = np.asarray(constitutive)
    if f.shape != (n,):
        raise InputError(f"constitutive flag must have shape ({n},), one per region, got {f.shape}")
    if f.dtype != bool:
        raise InputError(f"constitutive flag must be boolean, got dtype {f.dtype}")
    return f


def fit_access(
    counts,
    train,
    *,
    window_sums=None,
    constitutive=None,
    conditions: Sequence[str] | None = None,
    minimal_quantile: float = 0.1,
    const_threshold: float = -16.0,
    const_quantile: float = 0.9,
    anchor: str | None = None,
) -> AccessResult:
    """Fit the AP transformation (module docstring, steps 4-7) on ``train`` rows; apply to all.

    Parameters
    ----------
    counts
        ``(R, C)`` coverage summed over each region, >= 0.
    train
        ``(R,)`` bool; the rows every statistic is taken from.
    window_sums
        ``(R, C)`` coverage over the +-10 kb window around each region (including it). None: no
        regional correction (``f = 1``).
    constitutive
        ``(R,)`` bool, the user's constitutive flag; overrides the threshold rule.
    conditions
        C names (default ``condition_0``, ...).
    minimal_quantile, const_threshold, const_quantile
        IceQream's ``minimal_quantile`` (0.1), ``const_threshold`` (log2, -16) and
        ``const_quantile`` (0.9).
    anchor
        A condition whose constitutive total is the reference (IceQream's ``anchor_cell_type``).

    Raises
    ------
    InputError
        Shape mismatches, an empty train mask, a condition with no training signal, no
        constitutive training region, an unknown anchor.
    """
    x = _matrix(counts, "counts")
    n, c = x.shape
    train = train_mask(train, n)
    names = _condition_names(conditions, c)
    if not 0.0 <= minimal_quantile <= 1.0:
        raise InputError(f"minimal_quantile must be in [0, 1], got {minimal_quantile}")
    if not 0.0 < const_quantile <= 1.0:
        raise InputError(f"const_quantile must be in (0, 1], got {const_quantile}")
    a = None if anchor is None else _index(names, anchor, "anchor condition")

    # step 4: regional correction, then per-condition sum normalisation
    scale = x[train].sum(axis=0)
    _zero_columns(scale, names, "in any training region")
    b = floor = None
    if window_sums is not None:
        w = _matrix(window_sums, "window_sums", x.shape)
        b = punctured_background(x, w, scale)
        floor = _background_floor(b[train], minimal_quantile)
    f = _regional_factor(b, floor)
    corrected = x if f is None else x / f[:, None]
    column_totals = corrected[train].sum(axis=0)
    _zero_columns(column_totals, names, "in any training region after the regional correction")
    regional = corrected / column_totals

    # step 5: constitutive regions
    if constitutive is None:
        const = _constitutive_rule(regional, const_threshold)
        if not const[train].any():
            top = np.log2(regional[train] + CONST_PSEUDOCOUNT).min(axis=1).max()
            raise InputError(
                f"no constitutive region: no training region has log2(x + 1e-5) >= {const_threshold:g} "
                f"in every condition (the best reaches {top:.2f})",
                hint="lower const_threshold, or pass a constitutive flag for known constitutive regions",
            )
    else:
        const = _flag(constitutive, n)
        if not const[train].any():
            raise InputError("no constitutive region: the constitutive flag marks no training region",
                             hint="flag some training regions, or omit the flag to use the threshold rule")
    tc = train & const

    # step 6: constitutive normalisation
    s = regional[tc].sum(axis=0)
    empty = [names[i] for i in np.flatnonzero(~(s > 0))]
    if empty:
        raise InputError(f"condition {empty[0]} has no signal in any constitutive training region",
                         hint="flag other constitutive regions, or raise const_threshold")
    reference = float(s[a]) if a is not None else float(s.mean())
    normed = _const_normalised(regional, s, reference)
    global_max = float(normed[train].max())
    rescale = float(regional[train, a].max()) if a is not None else float(regional[train].max())
    if not rescale > 0:
        raise InputError(f"anchor condition {anchor} has no signal in any training region")
    const_stage = _const_stage(normed, global_max, rescale)

    # step 7: probability
    prob1 = float(np.quantile(const_stage[tc], const_quantile))
    if not prob1 > 0:
        raise InputError(f"the {const_quantile:g} quantile of constitutive signal is 0",
                         hint="raise const_quantile or choose constitutive regions with signal")
    p = _prob_stage(const_stage, prob1)
    col_min, col_max = p[train].min(axis=0), p[train].max(axis=0)
    ap = _minmax(p, col_min, col_max)

    params = AccessParams(
        conditions=names,
        scale=scale.tolist(),
        background_floor=floor,
        column_totals=column_totals.tolist(),
        constitutive_threshold=float(const_threshold),
        const_totals=s.tolist(),
        reference=reference,
        global_max=global_max,
        rescale=rescale,
        prob1_thresh=prob1,
        col_min=col_min.tolist(),
        col_max=col_max.tolist(),
        minimal_quantile=float(minimal_quantile),
        const_quantile=float(const_quantile),
        anchor=anchor,
    )
    log.info(
        "access: %d regions (%d train) x %d conditions; %d constitutive train regions; "
        "AP = 1 at log2 %.2f of the const stage%s",
        n, int(train.sum()), c, int(tc.sum()), np.log2(prob1),
        "" if floor is None else f"; background floor {floor:.4g}, {int((f[train] > 1).sum())} train rows down-weighted",
    )
    stages = {"raw": x, "regional": regional, "const": const_stage, "ap": ap}
    return AccessResult(ap=ap, stages=stages, constitutive=const, background=b, params=params)


def apply_access(counts, params: AccessParams, *, window_sums=None, constitutive=None) -> AccessResult:
    """Apply fitted :class:`AccessParams` to any regions, with no refitting.

    ``window_sums`` is required exactly when the params were fitted with a regional correction.
    The returned ``constitutive`` flag is the user's when given, else the threshold rule on the
    ``"regional"`` values; it does not change the transformation.
    """
    x = _matrix(counts, "counts")
    n, c = x.shape
    if c != len(params.conditions):
        raise InputError(f"counts have {c} column(s) but the access parameters were fitted on "
                         f"{len(params.conditions)} condition(s): {few(params.conditions, 8, sort=False)}")
    b = None
    if params.background_floor is not None:
        if window_sums is None:
            raise InputError("these access parameters include a regional correction: pass window_sums")
        w = _matrix(window_sums, "window_sums", x.shape)
        b = punctured_background(x, w, np.asarray(params.scale))
    elif window_sums is not None:
        raise InputError("window_sums given, but these access parameters were fitted without a regional "
                         "correction", hint="refit with window_sums, or drop them here")
    f = _regional_factor(b, params.background_floor)
    corrected = x if f is None else x / f[:, None]
    regional = corrected / np.asarray(params.column_totals)
    const = (_constitutive_rule(regional, params.constitutive_threshold) if constitutive is None
             else _flag(constitutive, n))
    normed = _const_normalised(regional, np.asarray(params.const_totals), params.reference)
    const_stage = _const_stage(normed, params.global_max, params.rescale)
    p = _prob_stage(const_stage, params.prob1_thresh)
    ap = _minmax(p, np.asarray(params.col_min), np.asarray(params.col_max))
    stages = {"raw": x, "regional": regional, "const": const_stage, "ap": ap}
    return AccessResult(ap=ap, stages=stages, constitutive=const, background=b, params=params)


# --------------------------------------------------------------------------------------------
# log CPM
# --------------------------------------------------------------------------------------------


def log_cpm(counts, train, *, per: float = 1e5, max_scale: bool = False, totals=None) -> tuple[np.ndarray, dict]:
    """GET's ``log10(count / total * per + 1)`` per condition.

    ``total`` is each column's sum over **all** regions given (the library size over the region
    set), or ``totals`` when passed (to reuse a dataset's library sizes). With ``max_scale``,
    each column is then divided by its maximum over ``train`` regions.

    Returns the ``(R, C)`` values and JSON-safe params ``{"totals", "per", "max"}`` (``max`` is
    None without ``max_scale``); :func:`apply_log_cpm` reapplies them.
    """
    x = _matrix(counts, "counts")
    train = train_mask(train, x.shape[0])
    if not per > 0:
        raise InputError(f"per must be positive, got {per}")
    tot = x.sum(axis=0) if totals is None else _vector(totals, "totals", x.shape[1])
    params = {"totals": [float(t) for t in tot], "per": float(per), "max": None}
    vals = _log_cpm(x, params)
    if max_scale:
        mx = vals[train].max(axis=0)
        _zero_columns(mx, [f"column {i}" for i in range(x.shape[1])], "in any training region")
        params["max"] = mx.tolist()
        vals = vals / mx
    return vals, params


def apply_log_cpm(counts, params: dict) -> np.ndarray:
    """Reapply :func:`log_cpm`'s params (library sizes and, if fitted, train maxima) to any regions."""
    x = _matrix(counts, "counts")
    if len(params["totals"]) != x.shape[1]:
        raise InputError(f"counts have {x.shape[1]} column(s) but log CPM params have {len(params['totals'])}")
    vals = _log_cpm(x, params)
    return vals if params.get("max") is None else vals / np.asarray(params["max"], dtype=np.float64)


def _log_cpm(x: np.ndarray, params: dict) -> np.ndarray:
    tot = np.asarray(params["totals"], dtype=np.float64)
    _zero_columns(tot, [f"column {i}" for i in range(tot.size)], "(library size is 0)")
    return np.log10(x / tot * params["per"] + 1.0)


# --------------------------------------------------------------------------------------------
# sequence covariates and [0, 10] scaling
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------


@dataclass
class DifferentialTarget:
    """dAP between two conditions on distal regions, and its training-scaled target.

    ``mask``: ``(R,)`` bool, the regions modelled (``|tss_distance| > min_tss_distance``).
    ``dap``: ``AP(b) - AP(a)``, NaN outside ``mask``. ``y``: dAP min-max scaled with the min and
    max over training rows in ``mask``, clipped to [0, 1]; NaN outside ``mask``. ``params``:
    ``{"a", "b", "min", "max", "min_tss_distance"}``.
    """

    mask: np.ndarray
    dap: np.ndarray
    y: np.ndarray
    params: dict


def differential_target(
    ap, conditions: Sequence[str], a: str, b: str, tss_distance, train, *, min_tss_distance: float = 5000.0
) -> DifferentialTarget:
    """IceQream's trajectory target ``dAP = AP(b) - AP(a)`` on distal regions, ``y = minmax(dAP)``.

    Regions within ``min_tss_distance`` of a TSS (``|d| <= min_tss_distance``) and regions with a
    NaN distance are excluded. Unlike IceQream, the min and max come from training rows only, so
    validation and test targets are on the same scale as training.
    """
    m = _matrix(ap, "ap", nonneg=False)
    names = [str(c) for c in conditions]
    if len(names) != m.shape[1]:
        raise InputError(f"{len(names)} condition name(s) for {m.shape[1]} column(s) of ap")
    ia, ib = _index(names, a), _index(names, b)
    if ia == ib:
        raise InputError(f"the two conditions of a differential target must differ (got {a!r} twice)")
    d = _vector(tss_distance, "tss_distance", m.shape[0])
    train = train_mask(train, m.shape[0])
    with np.errstate(invalid="ignore"):
        mask = np.abs(d) > min_tss_distance
    fit = mask & train
    if not fit.any():
        raise InputError(f"no training region lies more than {min_tss_distance:g} bp from a TSS",
                         hint="lower min_tss_distance or check the TSS annotation")
    dap = np.where(mask, m[:, ib] - m[:, ia], np.nan)
    lo, hi = float(dap[fit].min()), float(dap[fit].max())
    if not hi > lo:
        raise InputError(f"dAP between {b!r} and {a!r} is constant ({lo:g}) over the training regions",
                         hint="choose two conditions that differ")
    y = np.where(mask, np.clip((dap - lo) / (hi - lo), 0.0, 1.0), np.nan)
    params = {"a": a, "b": b, "min": lo, "max": hi, "min_tss_distance": float(min_tss_distance)}
    return DifferentialTarget(mask=mask, dap=dap, y=y, params=params)


def condition_target(ap, conditions: Sequence[str], name: str) -> np.ndarray:
    """The ``(R,)`` AP column of condition ``name``; an unknown name lists the conditions."""
    m = np.asarray(ap, dtype=np.float64)
    names = [str(c) for c in conditions]
    if m.ndim != 2 or m.shape[1] != len(names):
        raise InputError(f"ap has shape {m.shape} but {len(names)} condition name(s) were given")
    return m[:, _index(names, name)].copy()
