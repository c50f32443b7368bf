"""The IQ motif pipeline (``specs/iceqream.md`` §3, §5): from a motif database to a few distilled
binding models, for one target or several at once with a shared motif set.

    energies of every database motif → correlation screen → two L1 screens → complete-linkage
    clustering on 1 − r (≤ max_motifs clusters) → distillation (one PWM + spatial profile per
    cluster, learned against the cluster's partial response of every target it serves) → fit →
    simplification (< 1.75 bits, then greedy leave-one-out ΔR² < 5e-4 on training rows) →
    optional de-novo motifs on the residual → optional interactions → refit and calibrate.

Deviations from IceQream, each deliberate:

- the two screens use an L1 path (FISTA on the fractional cross-entropy of standardised energies)
  and keep the motifs still non-zero where the path first reaches ``3 × max_motifs`` of them, in
  place of glmnet at λ = 1e-5 followed by |β| ≥ 0.003: with 879 (not 22k) motifs an unpenalised fit
  selects nothing, and this keeps the screen's intent (drop motifs that add nothing) with a stated
  size;
- distillation is gradient ascent (:mod:`cisgram.models.iq_distill`) seeded from the cluster's
  representative PWM (cropped/padded to 15 columns); if the learned PWM does not beat the
  representative's own r² against the partial response, the representative is kept with its
  learned spatial profile, so distillation never loses to its seed;
- leave-one-out filtering fits on all training rows (at most ``filter_rows``, seeded), never on
  validation or test rows; with several targets a motif is removed only when every target loses
  less than the threshold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from cisgram.data.covariates import apply_scale, fit_scale, sequence_covariates
from cisgram.errors import InputError
from cisgram.metrics import pearson, pearson_columns
from cisgram.models import iq_distill as distill
from cisgram.models import iq_fusion as fusion
from cisgram.models import iq_kmer
from cisgram.models.iq import (
    BASES,
    Interactions,
    IQModel,
    fit_logistic,
    linear_covariates,
    logistic_bases,
    sigmoid,
)
from cisgram.motifs.features import Bins, apply_energy_norm, fit_energy_norm, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet

log = logging.getLogger(__name__)


@dataclass
class IQConfig:
    """Every constant of the pipeline (IceQream's defaults unless noted)."""

    max_motifs: int = 30
    cor_threshold: float = 0.05
    screen_factor: int = 3  # L1 screens keep about screen_factor × max_motifs motifs (ours)
    pwm_width: int = 15
    distill_steps: int = 100
    distill_lr: float = 0.1
    distill_rows: int = 4000
    distill: str = "refine"  # "refine" | "kmer" | "both": how a multi-member cluster learns its PWM (iq_kmer)
    kmer_seeds: int = 3  # gapped 8-mer seeds grown per cluster (distill "kmer" / "both")
    kmer_rows: int = 10000  # training rows the k-mer screen reads and the winner is grown again on (ours; iq_kmer)
    bits_threshold: float = 1.75
    r2_threshold: float = 5e-4
    filter: bool = True
    filter_rows: int = 20000
    n_denovo: int = 0
    interactions: bool = False
    interaction_threshold: float = 0.001
    covariates: bool = True
    seed: int = 0
    calibrate: str = "train"  # rows of the σ(link) -> target line: "train" or "val" (ours; :func:`_calibration`)
    # several targets (:mod:`.iq_fusion`): "off" (default, chosen on validation: the split lowered the
    # mean validation r of the chr22 three-cell-line run, 0.548 -> 0.535), "groups" (ours) or
    # "singletons" (IceQream); and IceQream's min-diff filter of the clustering rows (< 0: off, default)
    coherence_split: str = "off"
    coherence_threshold: float = 0.6  # split a cluster whose targets' partial responses correlate below this
    min_diff: float = -1.0  # IceQream: 0.1 (cluster on training rows with |target| > min_diff in some target)


CALIBRATIONS = ("train", "val")


@dataclass
class Fitted:
    """What :func:`fit_iq` returns: the model and the record of every stage."""

    model: IQModel
    stages: list[dict] = field(default_factory=list)
    clusters: list[dict] = field(default_factory=list)
    contributions: dict = field(default_factory=dict)


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    """IceQream's R² (squared Pearson r); a constant side explains nothing (0)."""
    return float(np.nan_to_num(pearson(y, p)) ** 2)


def l1_screen(X: np.ndarray, y: np.ndarray, keep: int, *, iters: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Columns of ``X`` ``(n, F)`` kept by an L1-penalised logistic-link fit of ``y`` in [0, 1]:
    the path λ_max · 0.7^k is followed (FISTA, warm starts) until at least ``keep`` coefficients
    are non-zero. Returns (mask ``(F,)``, raw-scale coefficients ``(F,)`` at that λ)."""
    import torch

    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 1e-12, sd, np.inf)
    Z = torch.from_numpy(((X - mean) / sd).astype(np.float32))
    t = torch.from_numpy(y.astype(np.float32))
    n, f = Z.shape
    lip = 0.25 * float(torch.linalg.matrix_norm(Z, ord=2)) ** 2 / n + 1e-6
    b0 = float(np.log(np.clip(y.mean(), 1e-4, 1 - 1e-4) / (1 - np.clip(y.mean(), 1e-4, 1 - 1e-4))))
    lam_max = float((Z.T @ (t - float(torch.sigmoid(torch.tensor(b0))))).abs().max()) / n
    w = torch.zeros(f)
    b = torch.tensor(b0)
    lam = lam_max
    for _ in range(40):
        lam *= 0.7
        v, vb, wp, tk = w.clone(), b.clone(), w.clone(), 1.0
        for _ in range(iters):
            r = torch.sigmoid(Z @ v + vb) - t
            gw, gb = Z.T @ r / n, r.mean()
            wn = v - gw / lip
            wn = torch.sign(wn) * torch.clamp(wn.abs() - lam / lip, min=0)
            bn = vb - gb / lip
            tn = (1 + np.sqrt(1 + 4 * tk * tk)) / 2
            v = wn + (tk - 1) / tn * (wn - wp)
            vb = bn + (tk - 1) / tn * (bn - b)
            wp, b, tk = wn, bn, tn
        w = wp
        if int((w != 0).sum()) >= min(keep, f):
            break
    wv = w.double().numpy()
    return wv != 0, wv / sd


def _cluster(E: np.ndarray, k: int) -> np.ndarray:
    """Complete-linkage clusters (labels 0..) of the columns of ``E`` on 1 − Pearson r."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    m = E.shape[1]
    if m <= k:
        return np.arange(m)
    r = np.nan_to_num(np.corrcoef(E.T))
    d = np.clip(1 - r, 0, 2)
    np.fill_diagonal(d, 0)
    z = linkage(squareform(d, checks=False), method="complete")
    return fcluster(z, t=k, criterion="maxclust") - 1


def information_bits(probs: np.ndarray) -> float:
    """Total information content Σ_pos (2 − H_pos) in bits."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1)
    return float((2 + (p * np.log2(p)).sum(axis=1)).sum())


class _Design:
    """Energies, covariates and the design of a candidate motif set, with per-target fits."""

    def __init__(self, E: np.ndarray, C: np.ndarray, cov_names: list[str], Y: np.ndarray, rows: list[np.ndarray]):
        self.E, self.C, self.cov_names, self.Y, self.rows = E, C, cov_names, Y, rows
        self.inter = Interactions()

    def X(self, keep: Sequence[int], inter: Interactions | None = None) -> np.ndarray:
        n = len(self.E)
        parts = [logistic_bases(self.E[:, list(keep)]).reshape(n, -1), logistic_bases(self.C).reshape(n, -1)]
        if inter is not None and len(inter):
            parts.append(inter.apply(self.linear(keep)))
        return np.column_stack(parts)

    def linear(self, keep: Sequence[int]) -> np.ndarray:
        return np.column_stack([self.E[:, list(keep)], self.C[:, linear_covariates(self.cov_names)]])

    def fit(self, keep: Sequence[int], inter: Interactions | None = None, fit_rows=None,
            ridge: Sequence[float] | None = None) -> tuple[list, list[float]]:
        X = self.X(keep, inter)
        fits, r2 = [], []
        for t, rows in enumerate(self.rows):
            fr = rows if fit_rows is None else fit_rows[t]
            f = fit_logistic(X[fr], self.Y[fr, t], **({} if ridge is None else {"ridge": ridge[t]}))
            fits.append(f)
            r2.append(_r2(self.Y[fr, t], sigmoid(X[fr] @ f.coef + f.intercept)))
        return fits, r2


def _check_extra(extra, n: int, taken: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Names and ``(n, K)`` values of the extra covariates, checked against ``n`` regions."""
    if extra is None:
        return [], np.zeros((n, 0))
    names, values = list(extra[0]), np.asarray(extra[1], dtype=np.float64)
    values = values.reshape(n, -1) if values.size == n * len(names) else values
    if not names or values.shape != (n, len(names)):
        raise InputError(f"extra covariates: {len(names)} name(s) and values of shape {values.shape} for {n} regions")
    if len(set(names)) != len(names) or set(names) & set(taken):
        raise InputError(f"extra covariate names must be new and distinct: {', '.join(names)}")
    if not np.isfinite(values).all():
        raise InputError("extra covariates have missing or infinite values")
    return names, values


def _calibration(p: np.ndarray, y: np.ndarray) -> list[float]:
    """The least-squares line from σ(link) to the target on the calibration rows (training rows,
    or validation rows with ``IQConfig(calibrate="val")``), as the model's ``[lo, hi, ylo, yhi]``
    (``y = ylo + (p - lo) / (hi - lo) (yhi - ylo)`` with lo, hi = 0, 1).
    IceQream maps the range of σ(link) onto the range of the target, which leans on the two most
    extreme regions: on the chr22 dAP target it shifted the training predictions by 0.08 and
    halved their R² (0.18 against 0.36 with this line; Pearson r is the same either way).
    On training rows the line is close to the identity (the logistic fit already matches their
    mean); a negative held-out R² comes from held-out blocks whose target level differs
    (``docs/iq.md``, "Calibration and R² on held-out blocks"), which only validation rows can see."""
    vp = float(np.var(p))
    b = float(np.cov(p, y, bias=True)[0, 1] / vp) if vp > 0 else 0.0
    a = float(np.mean(y) - b * np.mean(p))
    return [0.0, 1.0, a, a + b]


MIN_CALIBRATION_ROWS = 30  # validation regions with a value a validation-fitted calibration needs


def _check_calibration(calibrate: str, val: np.ndarray | None, Y: np.ndarray, targets: Sequence[str]) -> None:
    """``calibrate`` is one of :data:`CALIBRATIONS`; ``"val"`` needs validation rows, at least
    :data:`MIN_CALIBRATION_ROWS` with a value per target."""
    if calibrate not in CALIBRATIONS:
        raise InputError(f"calibrate must be one of {', '.join(CALIBRATIONS)}; got {calibrate!r}")
    if calibrate != "val":
        return
    for t, name in enumerate(targets):
        k = 0 if val is None else int((val & np.isfinite(Y[:, t])).sum())
        if k < MIN_CALIBRATION_ROWS:
            raise InputError(f"calibrating on validation rows needs at least {MIN_CALIBRATION_ROWS} validation regions "
                             f"with a value; target {name!r} has {k}", hint="calibrate on training rows (--calibrate train)")


def _raw_energies(codes, motifs: list[Motif], grid: Bins, spatial: np.ndarray | None) -> np.ndarray:
    """Raw (natural-log) energies ``(N, M)``: the one scan of these motifs."""
    return motif_energy(codes, MotifSet(motifs), grid=grid, weights=np.asarray(spatial) if spatial is not None else None).energy


def _normalised(raw: np.ndarray, motifs: list[Motif], train: np.ndarray):
    """[0, 10] energies with the statistics of training rows (per motif, so any subset or
    concatenation of columns normalises as if scanned alone)."""
    norm = fit_energy_norm(raw[train], [m.name for m in motifs])
    return apply_energy_norm(raw, norm), norm


def _database_energies(codes: np.ndarray, db: MotifSet, grid: Bins, train: np.ndarray) -> np.ndarray:
    """[0, 10] energies ``(N, M)`` of every database motif, in float32 and normalised in place:
    one array of 4 bytes per region × motif is the screen's whole footprint (it was three float64
    ones: raw, the training rows' copy and the result)."""
    raw = motif_energy(codes, db, grid=grid, dtype=np.float32).energy
    norm = fit_energy_norm(raw, db.names, rows=train)
    return apply_energy_norm(raw, norm, out=raw)


SCREEN_COLUMNS = 64  # motifs per block of the correlation screen


def _screen_correlation(E: np.ndarray, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each column of ``E[rows]`` with ``y``, ``SCREEN_COLUMNS`` columns at a time in
    float64, so no copy of the training rows of the whole matrix is made."""
    return np.concatenate([pearson_columns(E[np.ix_(rows, np.arange(a, min(a + SCREEN_COLUMNS, E.shape[1])))]
                                           .astype(np.float64), y)
                           for a in range(0, E.shape[1], SCREEN_COLUMNS)])


def _unique(name: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "._-:" else "_" for c in name) or "motif"
    out, k = base, 2
    while out in taken:
        out, k = f"{base}.{k}", k + 1
    taken.add(out)
    return out


def fit_iq(codes: np.ndarray, Y: np.ndarray, train: np.ndarray, database: MotifSet, *, targets: Sequence[str],
           config: IQConfig | None = None, extra: tuple[Sequence[str], np.ndarray] | None = None,
           extra_sources: dict | None = None, val: np.ndarray | None = None,
           target_params: Sequence[dict] | None = None,
           progress: Callable[[str], None] | None = None) -> Fitted:
    """Run the pipeline on ``codes`` ``(N, L)`` and targets ``Y`` ``(N, T)`` in [0, 1] (NaN where a
    region is not modelled for that target); only ``train`` rows ``(N,)`` are ever used to fit,
    screen, cluster, distil, filter or scale. ``extra`` = (names, raw values ``(N, K)``) adds
    covariates that do not come from sequence (IceQream's additional features, e.g. a track's
    signal over each region): scaled to [0, 10] on training rows and given the four dose-response
    bases like GC; ``extra_sources`` (name -> description) is stored with the model. ``val`` rows
    (never fitted on) choose the final fit's ridge penalty per target (:func:`_choose_ridge`);
    without them the final fit is IceQream's near-unpenalised one. ``config.calibrate="val"``
    fits the calibration line (:func:`_calibration`) on ``val`` rows instead of training rows.
    ``target_params`` (one dict per target, ``TrainingData.target_params``) give the min-diff
    filter the no-difference point of min–max scaled dAP targets (:func:`fusion.references`)."""
    cfg = config or IQConfig()
    say = progress or (lambda msg: None)
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    n, L = codes.shape
    if Y.shape != (n, len(targets)):
        raise InputError(f"targets have shape {Y.shape}; expected ({n}, {len(targets)})")
    train = np.asarray(train, dtype=bool)
    if val is not None:
        val = np.asarray(val, dtype=bool)
        if val.shape != train.shape or (val & train).any():
            raise InputError("validation rows must be a mask of the regions that shares no row with train")
    rows = [np.flatnonzero(train & np.isfinite(Y[:, t])) for t in range(Y.shape[1])]
    for t, r in enumerate(rows):
        if r.size < 50:
            raise InputError(f"target {targets[t]!r} has {r.size} training regions with a value; need at least 50")
    _check_calibration(cfg.calibrate, val, Y, targets)
    iq_kmer.options(cfg)  # refuses an unknown cfg.distill before any work
    if cfg.coherence_split not in fusion.SPLIT_MODES:
        raise InputError(f"coherence split must be one of {', '.join(fusion.SPLIT_MODES)}; got {cfg.coherence_split!r}")
    if np.nanmin(Y) < 0 or np.nanmax(Y) > 1:
        raise InputError("IQ targets must lie in [0, 1] (access probabilities or min-max scaled dAP)")
    db = MotifSet([m for m in database if m.width <= L])
    if len(db) == 0:
        raise InputError(f"no motif of the database fits in {L} bp regions")
    grid = Bins.default(L)
    stages: list[dict] = []
    clock = time.perf_counter()

    def stage(name: str, **kw):
        nonlocal clock
        now = time.perf_counter()
        stages.append({"stage": name, "seconds": round(now - clock, 3), **kw})
        clock = now
        say(f"{name}: " + ", ".join(f"{k} {v}" for k, v in kw.items()))

    # covariates and database energies
    cov_raw, cov_names = sequence_covariates(codes) if cfg.covariates else (np.zeros((n, 0)), [])
    extra_names, extra_values = _check_extra(extra, n, cov_names)
    cov_raw, cov_names = np.column_stack([cov_raw, extra_values]), [*cov_names, *extra_names]
    if cov_names:
        cov_scale = fit_scale(cov_raw, train)
        C = apply_scale(cov_raw, cov_scale)
    else:
        cov_scale, C = {"lo": [], "hi": [], "q": [0.05, 0.95], "top": 10.0}, np.zeros((n, 0))
    E_db = _database_energies(codes, db, grid, train)
    stage("database energies", motifs=len(db), regions=n)

    # screens, per target
    kept: dict[int, dict[int, float]] = {}
    for t, r in enumerate(rows):
        y = Y[r, t]
        cor = np.abs(np.nan_to_num(_screen_correlation(E_db, r, y)))
        thr = cfg.cor_threshold
        passed = np.flatnonzero(cor >= thr)
        while passed.size < cfg.max_motifs and thr > 1e-3:
            thr /= 2
            passed = np.flatnonzero(cor >= thr)
        if passed.size == 0:
            passed = np.argsort(-cor)[: cfg.max_motifs]
        m1, _ = l1_screen(E_db[np.ix_(r, passed)], y, cfg.screen_factor * cfg.max_motifs)
        s1 = passed[m1]
        m2, beta = l1_screen(np.column_stack([E_db[np.ix_(r, s1)], C[r]]), y, len(s1) + C.shape[1])
        sel = np.flatnonzero(m2[: len(s1)])
        kept[t] = {int(s1[i]): float(beta[i]) for i in sel}
        stage(f"screens {targets[t]}", correlation=int(passed.size), l1_first=int(s1.size), l1_second=len(kept[t]))
    pool = sorted(set().union(*[set(k) for k in kept.values()]))
    if not pool:
        raise InputError("no database motif survived the screens", hint="check the target and the motif database")

    # clustering over the pooled motifs (training rows)
    zero, scale = fusion.references(target_params or [None] * len(targets))
    fuse_rows = (np.flatnonzero(fusion.min_diff_rows(Y, train, cfg.min_diff, zero=zero, scale=scale))
                 if len(targets) > 1 else np.flatnonzero(train))
    labels = _cluster(E_db[np.ix_(fuse_rows, pool)], min(len(pool), cfg.max_motifs))
    stage("clustering", motifs=len(pool), clusters=int(labels.max()) + 1, rows=int(fuse_rows.size))
    if len(targets) > 1:  # IceQream §5: split clusters whose targets' partial responses disagree
        labels, split = fusion.split_incoherent(labels, pool, E_db, kept, fuse_rows, threshold=cfg.coherence_threshold,
                                                mode=cfg.coherence_split, names=db.names)
        stage("coherence split", **split)

    # distillation
    motifs, spatial, clusters, taken = [], [], [], set()
    for c in range(int(labels.max()) + 1):
        members = [pool[i] for i in np.flatnonzero(labels == c)]
        cols, weight = [], {}
        for t in range(len(targets)):
            mine = [m for m in members if m in kept[t]]
            if mine:
                resp = np.full(n, np.nan)  # training rows, and validation rows for iq_kmer's choice
                fill = rows[t] if val is None else np.union1d(rows[t], np.flatnonzero(val & np.isfinite(Y[:, t])))
                resp[fill] = sum(kept[t][m] * E_db[fill, m] for m in mine)
                cols.append(resp)
            for m in mine:
                weight[m] = max(weight.get(m, 0.0), abs(kept[t][m]) * E_db[rows[t], m].std())
        rep = max(members, key=lambda m: weight.get(m, 0.0))
        full = np.column_stack(cols)
        response = np.where(train[:, None], full, np.nan)
        rep_motif = db[rep]
        kw = dict(steps=cfg.distill_steps, lr=cfg.distill_lr, max_rows=cfg.distill_rows, seed=cfg.seed)
        fixed = distill.learn_binding_model(codes, response, grid, rep_motif.probs, learn_pwm=False, **kw)
        chosen, how, seed = fixed, "spatial only", ""
        if len(members) > 1 and cfg.distill != "kmer":
            learned = distill.learn_binding_model(codes, response, grid, distill.crop(rep_motif.probs, cfg.pwm_width), **kw)
            if learned.r2 > fixed.r2_start:
                chosen, how = learned, "distilled"
        if len(members) > 1 and cfg.distill != "refine":
            pick = iq_kmer.learn_from_kmers(codes, response, grid, validation=None if val is None else np.where(
                val[:, None], full, np.nan), incumbent=(how, chosen) if cfg.distill == "both" else None, **iq_kmer.options(cfg))
            chosen, how, seed = pick.learned, pick.how, pick.seed
        label = rep_motif.alt_name or rep_motif.name
        name = _unique(label, taken)
        motifs.append(Motif(name, "", chosen.probs, source="iq"))
        spatial.append(chosen.spatial)
        clusters.append({"name": name, "representative": rep_motif.name, "representative_alt": rep_motif.alt_name,
                         "members": [db[m].name for m in members], "how": how, "seed": seed, "r2_representative": fixed.r2_start,
                         "r2_learned": chosen.r2, "responses": len(cols)})
    stage("distillation", clusters=len(motifs), distilled=sum(c["how"] == "distilled" for c in clusters),
          kmer=sum(c["how"] == "kmer" for c in clusters))

    raw = _raw_energies(codes, motifs, grid, spatial)
    E, norm = _normalised(raw, motifs, train)
    design = _Design(E, C, cov_names, Y, rows)
    keep = list(range(len(motifs)))
    fits, r2 = design.fit(keep)
    stage("fit", motifs=len(keep), r2_train=[round(v, 4) for v in r2])

    # simplification (and the contributions at the end) refit on at most filter_rows training rows
    rng = np.random.default_rng(cfg.seed)
    fr = [r if r.size <= cfg.filter_rows else np.sort(rng.choice(r, cfg.filter_rows, replace=False)) for r in rows]
    if cfg.filter and len(keep) > 1:
        weak = [i for i in keep if information_bits(motifs[i].probs) < cfg.bits_threshold]
        keep = [i for i in keep if i not in weak] or keep[:1]
        _, base = design.fit(keep, fit_rows=fr)
        loss = {}
        for i in keep:
            _, r2_wo = design.fit([j for j in keep if j != i], fit_rows=fr)
            loss[i] = max(b - w for b, w in zip(base, r2_wo, strict=True))
        removed = []
        for i in sorted(loss, key=loss.get):
            if loss[i] >= cfg.r2_threshold or len(keep) <= 1:
                continue
            trial = [j for j in keep if j != i]
            if not removed:
                keep, removed = trial, [i]
                _, base = design.fit(keep, fit_rows=fr)
                continue
            _, r2_wo = design.fit(trial, fit_rows=fr)
            if max(b - w for b, w in zip(base, r2_wo, strict=True)) < cfg.r2_threshold:
                keep, base = trial, r2_wo
                removed.append(i)
        stage("simplification", low_information=[motifs[i].name for i in weak], removed=[motifs[i].name for i in removed],
              motifs=len(keep))

    # de novo motifs on the residual
    for k in range(cfg.n_denovo):
        fits, _ = design.fit(keep)
        X = design.X(keep)
        resid = np.full((n, len(targets)), np.nan)
        for t, r in enumerate(rows):
            resid[r, t] = Y[r, t] - sigmoid(X[r] @ fits[t].coef + fits[t].intercept)
        word, _, seed_p = distill.kmer_seed(codes, resid, seed=cfg.seed + k)
        learned = distill.learn_binding_model(codes, resid, grid, seed_p, steps=cfg.distill_steps, lr=cfg.distill_lr,
                                              max_rows=cfg.distill_rows, seed=cfg.seed + k)
        name = _unique(f"denovo{k + 1}_{word}", taken)
        motifs.append(Motif(name, "", learned.probs, source="iq"))
        spatial.append(learned.spatial)
        clusters.append({"name": name, "representative": word, "representative_alt": "", "members": [], "how": "de novo", "seed": word,
                         "r2_representative": learned.r2_start, "r2_learned": learned.r2, "responses": len(targets)})
        raw = np.column_stack([raw, _raw_energies(codes, motifs[-1:], grid, spatial[-1:])])
        E, norm = _normalised(raw, motifs, train)
        design = _Design(E, C, cov_names, Y, rows)
        keep.append(len(motifs) - 1)
        stage(f"de novo {k + 1}", seed=word, r2_residual=round(learned.r2, 4))

    # keep the chosen motifs only (their columns; no second scan)
    motifs = [motifs[i] for i in keep]
    spatial = np.array([spatial[i] for i in keep])
    clusters = [clusters[i] for i in keep]
    E, norm = _normalised(raw[:, keep], motifs, train)
    design = _Design(E, C, cov_names, Y, rows)
    keep = list(range(len(motifs)))
    inter = Interactions()
    if cfg.interactions:
        inter = _interactions(design, keep, cfg.interaction_threshold)
        stage("interactions", pairs=len(inter))
    ridge = _choose_ridge(design, keep, inter, val, targets, stage) if val is not None else None
    fits, r2 = design.fit(keep, inter, ridge=ridge)
    X = design.X(keep, inter)
    cal_rows = rows if cfg.calibrate == "train" else [np.flatnonzero(val & np.isfinite(Y[:, t])) for t in range(len(targets))]
    calib = [_calibration(sigmoid(X[r] @ fits[t].coef + fits[t].intercept), Y[r, t]) for t, r in enumerate(cal_rows)]
    model = IQModel(motifs, spatial, grid, norm, list(cov_names), cov_scale, inter, list(targets),
                    np.array([f.coef for f in fits]), np.array([f.intercept for f in fits]), np.array(calib),
                    {"config": asdict(cfg), "clusters": clusters}, extra_names, dict(extra_sources or {}))
    stage("final fit", motifs=len(motifs), r2_train=[round(v, 4) for v in r2])
    sets = fusion.trajectory_sets(clusters, {targets[t]: {db[m].name for m in k} for t, k in kept.items()}, targets)
    model.info["trajectory_sets"] = sets  # IceQream's models (per target) and models_full
    if len(targets) > 1:
        stage("trajectory sets", **sets)
    contributions: dict[str, dict[str, float]] = {t: {} for t in targets}
    if len(keep) > 1:
        _, base = design.fit(keep, inter, fit_rows=fr)
        for i in keep:
            _, r2_wo = design.fit([j for j in keep if j != i], fit_rows=fr)
            for t in range(len(targets)):
                contributions[targets[t]][motifs[i].name] = base[t] - r2_wo[t]
    stage("contributions", motifs=len(keep))
    return Fitted(model, stages, clusters, contributions)


RIDGE_GRID = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3)


def _choose_ridge(design: _Design, keep, inter, val: np.ndarray, targets, stage) -> list[float] | None:
    """Per target the ridge penalty of the final fit (on standardised columns) with the best
    validation Pearson r among :data:`RIDGE_GRID`, fitted on training rows (ours: IceQream fits
    with λ = 1e-5 whatever the data; with ~1,000 training regions, as for the chr22 dAP target,
    that overfits the 30-motif design and a penalty chosen on validation raised held-out r by
    about 0.04). ``None`` when a target has fewer than 30 validation rows with a value."""
    X = design.X(keep, inter)
    chosen, scores = [], []
    for t in range(len(targets)):
        v = np.flatnonzero(val & np.isfinite(design.Y[:, t]))
        if v.size < 30:
            return None
        rows = design.rows[t]
        r = []
        for lam in RIDGE_GRID:
            f = fit_logistic(X[rows], design.Y[rows, t], ridge=lam)
            p = X[v] @ f.coef + f.intercept
            rv = pearson(p, design.Y[v, t])
            r.append(-1.0 if np.ptp(p) == 0 else rv)  # a constant prediction ranks last
        chosen.append(RIDGE_GRID[int(np.nanargmax(r))])
        scores.append([round(float(x), 4) for x in r])
    stage("ridge", chosen=chosen, validation_r=scores)
    return chosen


def _interactions(design: _Design, keep: list[int], threshold: float) -> Interactions:
    """Anchors from a linear-feature logistic fit (|coef| > threshold, dinucleotides excluded),
    each anchor paired with every other linear feature once, capped at 10 × features by the
    largest |r| with any target (training rows)."""
    lin = design.linear(keep)
    f = lin.shape[1]
    anchors = set()
    for t, r in enumerate(design.rows):
        fit = fit_logistic(lin[r], design.Y[r, t])
        anchors |= {int(i) for i in np.flatnonzero(np.abs(fit.coef) > threshold)}
    pairs = sorted({(min(a, b), max(a, b)) for a in anchors for b in range(f) if a != b})
    if not pairs:
        return Interactions()
    pairs = np.array(pairs, dtype=np.int64)
    train_rows = np.unique(np.concatenate(design.rows))
    train = np.zeros(len(lin), dtype=bool)
    train[train_rows] = True
    cand = Interactions.fit(lin, pairs, train)
    vals = cand.apply(lin)
    score = np.zeros(len(pairs))
    for t, r in enumerate(design.rows):
        score = np.maximum(score, np.abs(np.nan_to_num(pearson_columns(vals[r], design.Y[r, t]))))
    cap = 10 * f
    top = np.sort(np.argsort(-score)[:cap])
    return Interactions.fit(lin, pairs[top], train)


__all__ = ["BASES", "Fitted", "IQConfig", "fit_iq", "information_bits", "l1_screen"]
