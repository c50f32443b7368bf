"""The biophysical accessibility model (IceQream-style): a few PWM + spatial-profile binding
models, their energies normalised to [0, 10], four logistic dose-response bases per motif and per
covariate, optional pairwise interactions, and a logistic link fitted by fractional cross-entropy.

Shapes: ``codes`` ``(N, L)`` uint8 (A=0 … T=3, N=4); ``M`` motifs, ``C`` covariates, ``T`` targets.

Where this deviates from IceQream (``specs/iceqream.md``) and why:

- the fit is an L-BFGS logistic regression on standardised columns with a tiny ridge (1e-6) instead
  of glmnet with λ = 1e-5: the same near-unpenalised fractional-binomial fit, without glmnet's
  non-convergence;
- interactions are built once per unordered pair (IceQream may create A:B and B:A) and their
  min–max statistics come from training rows and are stored, so new regions get the same scale;
- the spatial window is IceQream's 0-based one everywhere (no 1 bp shift between learning and
  inference);
- the calibration is the least-squares line from σ(link) to the target on training rows, or on
  validation rows with ``IQConfig(calibrate="val")`` (IceQream maps the range of σ(link) onto the
  range of the target, which two extreme regions decide), and is stored with the model as
  ``[lo, hi, ylo, yhi]`` = ``[0, 1, a, a + b]``, so every prediction of the run uses it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from cisgram.data.covariates import DINUCLEOTIDES, apply_scale, sequence_covariates
from cisgram.errors import InputError
from cisgram.models.state import load_state, save_state
from cisgram.motifs.features import Bins, EnergyNorm, apply_energy_norm, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet

log = logging.getLogger(__name__)

BASES = ("low-energy", "high-energy", "sigmoid", "higher-energy")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def logistic_bases(x: np.ndarray) -> np.ndarray:
    """IceQream's four dose-response bases of values on [0, 10]: ``(N, K)`` -> ``(N, K, 4)`` in the
    order of :data:`BASES`: 2σ(x/2) − 1, 2σ((x − 10)/2), σ(x − 5), 2σ(x − 10)."""
    x = np.asarray(x, dtype=np.float64)
    return np.stack([2 * sigmoid(0.5 * x) - 1, 2 * sigmoid(0.5 * (x - 10)), sigmoid(x - 5), 2 * sigmoid(x - 10)],
                    axis=-1)


def linear_covariates(names) -> list[int]:
    """Covariates that may enter interactions: all but the dinucleotides (IceQream §2.6)."""
    return [i for i, c in enumerate(names) if c not in DINUCLEOTIDES]


@dataclass
class LogisticFit:
    """Raw-scale coefficients ``coef`` ``(F,)`` and ``intercept`` of ``σ(X @ coef + intercept)``."""

    coef: np.ndarray
    intercept: float
    loss: float


def fit_logistic(X: np.ndarray, y: np.ndarray, *, ridge: float = 1e-6, l1: float = 0.0, max_iter: int = 300,
                 init: LogisticFit | None = None) -> LogisticFit:
    """Logistic-link regression of ``y`` in [0, 1] (fractional targets allowed) on ``X`` ``(N, F)``
    by mean binary cross-entropy, columns standardised inside (constant columns get 0), L-BFGS in
    float64. ``l1`` adds a smoothed L1 penalty on the standardised coefficients."""
    import torch

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise InputError(f"X {X.shape} and y {y.shape} do not match")
    if X.shape[0] == 0:
        raise InputError("no rows to fit")
    if not (np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()):
        raise InputError("the logistic fit needs finite targets in [0, 1]")
    mean, sd = X.mean(axis=0), X.std(axis=0)
    live = sd > 1e-12
    sd = np.where(live, sd, 1.0)
    Z = torch.from_numpy((X - mean) / sd * live)
    t = torch.from_numpy(y)
    w = torch.zeros(X.shape[1] + 1, dtype=torch.float64)
    if init is not None and init.coef.shape == (X.shape[1],):
        w[:-1] = torch.from_numpy(init.coef * sd * live)
        w[-1] = init.intercept + float(init.coef @ mean)
    else:
        m = float(np.clip(y.mean(), 1e-4, 1 - 1e-4))
        w[-1] = np.log(m / (1 - m))
    w.requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = Z @ w[:-1] + w[-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, t) + ridge * (w[:-1] ** 2).sum()
        if l1 > 0:
            loss = loss + l1 * torch.sqrt(w[:-1] ** 2 + 1e-10).sum()
        loss.backward()
        return loss

    loss = float(opt.step(closure).detach())
    ws = w.detach().numpy()
    coef = ws[:-1] / sd * live
    return LogisticFit(coef, float(ws[-1] - coef @ mean), loss)


@dataclass
class Interactions:
    """Pairwise products of linear features (motif energies, then non-dinucleotide covariates),
    each divided by its training column maximum and min–max scaled on training rows to [0, 1]."""

    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))  # (K, 2) indices
    colmax: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.pairs)

    @staticmethod
    def raw(linear: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        return linear[:, pairs[:, 0]] * linear[:, pairs[:, 1]] if len(pairs) else np.zeros((len(linear), 0))

    @classmethod
    def fit(cls, linear: np.ndarray, pairs: np.ndarray, train: np.ndarray) -> Interactions:
        raw = cls.raw(linear, pairs)
        colmax = raw[train].max(axis=0) if len(pairs) else np.zeros(0)
        colmax = np.where(colmax > 0, colmax, 1.0)
        x = raw[train] / colmax
        return cls(np.asarray(pairs, np.int64).reshape(-1, 2), colmax, x.min(axis=0), x.max(axis=0))

    def apply(self, linear: np.ndarray) -> np.ndarray:
        x = self.raw(linear, self.pairs) / self.colmax
        span = self.hi - self.lo
        return np.clip((x - self.lo) / np.where(span > 0, span, 1.0), 0, 1) * (span > 0)


@dataclass
class IQModel:
    """A fitted IQ model: binding models, feature scalings, and one coefficient row per target.

    motifs
        ``M`` binding models (PWM probabilities ``(w, 4)``), with ``spatial`` ``(M, n_bins)``
        non-negative weights over ``grid`` and ``energy_norm`` their [0, 10] reference statistics.
    covariates
        Names of the covariates and their [0, 10] scaling (``cov_scale``, from
        :func:`cisgram.data.covariates.fit_scale`): the sequence ones (GC, dinucleotides) and then the
        ``extra`` ones, which do not come from sequence (e.g. a track's mean signal over each
        region) and must be passed to :meth:`predict`; ``extra_sources`` says where each came from.
    coef, intercept
        ``(T, F)`` and ``(T,)`` on the raw design ``[4 bases × M motifs, 4 × C covariates,
        interactions]``; ``calibration`` ``(T, 4)``: the affine map σ(link) -> target, as ``[lo, hi, ylo, yhi]``.
    """

    motifs: list[Motif]
    spatial: np.ndarray
    grid: Bins
    energy_norm: EnergyNorm
    covariates: list[str]
    cov_scale: dict
    interactions: Interactions
    targets: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    calibration: np.ndarray
    info: dict = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    extra_sources: dict = field(default_factory=dict)

    family = "iq"  # the model protocol (cisgram.models.base)
    reads = "sequence"

    @property
    def motif_names(self) -> list[str]:
        return [m.name for m in self.motifs]

    @property
    def length(self) -> int:
        return self.grid.length

    def feature_names(self) -> list[str]:
        lin = self.motif_names + [self.covariates[i] for i in linear_covariates(self.covariates)]
        return ([f"{n}:{b}" for n in self.motif_names for b in BASES] + [f"{n}:{b}" for n in self.covariates for b in BASES]
                + [f"{lin[a]}*{lin[b]}" for a, b in self.interactions.pairs])

    def _check_codes(self, codes) -> np.ndarray:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != self.length:
            raise InputError(f"the model reads {self.length} bp sequences, got shape {codes.shape}",
                             hint="resize the regions to the model's width (centred)")
        return codes

    def energies(self, codes: np.ndarray, *, batch_size: int = 2000) -> np.ndarray:
        """Normalised energies ``(N, M)`` in [0, 10]."""
        codes = self._check_codes(codes)
        raw = motif_energy(codes, MotifSet(self.motifs), grid=self.grid, weights=self.spatial,
                           batch_size=batch_size).energy
        return apply_energy_norm(raw, self.energy_norm)

    def cov_values(self, codes: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """Scaled covariates ``(N, C)`` in [0, 10]: the sequence ones from ``codes``, the extra ones
        from ``extra`` ``(N, len(self.extra))`` raw values."""
        if not self.covariates:
            return np.zeros((len(codes), 0))
        seq_names = self.covariates[: len(self.covariates) - len(self.extra)]
        parts = []
        if seq_names:
            raw, names = sequence_covariates(codes)
            parts.append(raw[:, [names.index(c) for c in seq_names]])
        if self.extra:
            if extra is None:
                raise InputError(f"this IQ model also reads {len(self.extra)} covariate(s) that do not come from "
                                 f"sequence ({', '.join(self.extra)})",
                                 hint="predict on regions (cisgram.load(run).predict(regions=...)), or pass extra=")
            extra = np.asarray(extra, dtype=np.float64).reshape(len(codes), -1)
            if extra.shape[1] != len(self.extra) or not np.isfinite(extra).all():
                raise InputError(f"extra covariates must be finite, shape ({len(codes)}, {len(self.extra)}); "
                                 f"got {extra.shape}")
            parts.append(extra)
        return apply_scale(np.column_stack(parts), self.cov_scale)

    def design(self, energies: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """The raw design matrix ``(N, F)`` from energies and scaled covariates."""
        n = len(energies)
        lin = np.column_stack([energies, self._linear_cov(cov)])
        return np.column_stack([logistic_bases(energies).reshape(n, -1), logistic_bases(cov).reshape(n, -1),
                                self.interactions.apply(lin)])

    def _linear_cov(self, cov: np.ndarray) -> np.ndarray:
        return cov[:, linear_covariates(self.covariates)]

    def link(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef.T + self.intercept

    def calibrate(self, link: np.ndarray) -> np.ndarray:
        """σ(link) mapped by the stored calibration ``(N, T)`` (an affine map fitted on training or validation rows)."""
        p = sigmoid(link)
        lo, hi, ylo, yhi = self.calibration.T
        return ylo + (p - lo) / np.where(hi > lo, hi - lo, 1.0) * (yhi - ylo)

    def predict(self, codes: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """Calibrated predictions ``(N, T)`` for sequences of the model's length (and, when the model
        has ``extra`` covariates, their raw values ``(N, len(extra))``)."""
        codes = self._check_codes(codes)
        return self.calibrate(self.link(self.design(self.energies(codes), self.cov_values(codes, extra))))

    def partial_response(self, energies: np.ndarray, target: int = 0) -> np.ndarray:
        """Per motif the link contribution Σ_k β_k φ_k(E) ``(N, M)`` (no interactions)."""
        m = len(self.motifs)
        beta = self.coef[target, : 4 * m].reshape(m, 4)
        return np.einsum("nmk,mk->nm", logistic_bases(energies), beta)

    def trajectory_motifs(self, target: str | None = None) -> list[str]:
        """IceQream's per-trajectory sets (``info["trajectory_sets"]``, :mod:`cisgram.models.iq_fusion`):
        the binding models of the clusters where ``target`` had a member (``models``), or with no
        target the whole fused set every target is fitted on (``models_full``). A model saved
        without the sets gives every motif."""
        sets = self.info.get("trajectory_sets") or {}
        if target is None:
            return list(sets.get("models_full", self.motif_names))
        if target not in self.targets:
            raise InputError(f"unknown target {target!r}; the model has {', '.join(self.targets)}")
        return list(sets.get("models", {}).get(target, self.motif_names))

    # ---------------------------------------------------------------- state on disk
    def save(self, directory: str | os.PathLike) -> None:
        widths = [m.width for m in self.motifs]
        arrays = {
            "pwm": np.concatenate([m.probs for m in self.motifs]), "spatial": self.spatial,
            "coef": self.coef, "intercept": self.intercept, "calibration": self.calibration,
            "interaction_pairs": self.interactions.pairs, "interaction_colmax": self.interactions.colmax,
            "interaction_lo": self.interactions.lo, "interaction_hi": self.interactions.hi,
        }
        config = {
            "motifs": [{"name": m.name, "alt_name": m.alt_name, "width": w} for m, w in zip(self.motifs, widths, strict=True)],
            "grid": {"length": self.grid.length, "size": self.grid.size, "n": self.grid.n, "offset": self.grid.offset},
            "energy_norm": self.energy_norm.to_dict(), "covariates": self.covariates, "cov_scale": self.cov_scale,
            "targets": self.targets, "feature_names": self.feature_names(), "info": self.info,
            "extra": self.extra, "extra_sources": self.extra_sources,
        }
        save_state(directory, "iq", arrays, config)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> IQModel:
        a, c = load_state(directory, "iq")
        ends = np.cumsum([m["width"] for m in c["motifs"]])
        pwms = np.split(a["pwm"], ends[:-1])
        motifs = [Motif(m["name"], m["alt_name"], p, source="iq") for m, p in zip(c["motifs"], pwms, strict=True)]
        inter = Interactions(a["interaction_pairs"].astype(np.int64).reshape(-1, 2), a["interaction_colmax"],
                             a["interaction_lo"], a["interaction_hi"])
        return cls(motifs, a["spatial"], Bins(**c["grid"]), EnergyNorm.from_dict(c["energy_norm"]), c["covariates"],
                   c["cov_scale"], inter, c["targets"], a["coef"], a["intercept"], a["calibration"], c.get("info", {}),
                   c.get("extra", []), c.get("extra_sources", {}))
