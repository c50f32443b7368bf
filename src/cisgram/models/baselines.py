"""Simple baselines the interpretable accessibility model is compared against.

Three linear models on hand-made sequence features, all fitted by :func:`fit_baseline`:

- ``"motif-lasso"``: L1-regularised regression (scikit-learn ``Lasso``) on the best log-odds score
  (``max``, either strand) of every motif of a :class:`~cisgram.motifs.pwm.MotifSet`, from
  :func:`cisgram.motifs.scan.scan`. A score that is not finite (no N-free window) is replaced by
  the column minimum over the training rows (0 when none is finite). The PWMs are stored with the
  model, so a loaded model rescans new sequences on its own.
- ``"kmer-ridge"``: ridge regression on canonical k-mer counts (default ``k=6``: 2080 features).
  Both strands are counted with a k-mer and its reverse complement collapsed into one feature;
  each N-free window adds exactly 1 to its canonical k-mer, palindromes included (a two-strand
  count would add 2 for every window, palindromic or not, so this is it halved, uniformly).
- ``"gc"``: a lightly ridged linear regression on GC fraction and the 16 dinucleotide
  frequencies of :func:`cisgram.data.covariates.sequence_covariates`.

Features are standardised with the training rows' mean and sd (sd 0 -> 1). The penalty (per-row
units: ``mean squared error / 2 + alpha * |w|_1`` for the lasso, ``mean squared error +
alpha * |w|^2`` for ridge) is picked from an 8-value log-spaced grid by the Pearson r on the
``val`` rows, and the model fitted on the training rows with it is kept. Deviation: with no
``val`` (or fewer than 10 finite ``val`` rows) the grid is scored on a random 20% of the training
rows drawn with ``seed`` (the project otherwise never splits per region; neighbours may leak into
this choice of penalty, never into a reported score), then refitted on all training rows.
Rows whose target is NaN are ignored everywhere.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cisgram.data.covariates import sequence_covariates
from cisgram.errors import InputError
from cisgram.metrics import pearson
from cisgram.models.state import load_state, save_state
from cisgram.motifs.pwm import Motif, MotifSet
from cisgram.motifs.scan import scan

log = logging.getLogger(__name__)

KINDS = ("motif-lasso", "kmer-ridge", "gc")
GRIDS = {  # alpha grids; the lasso's is a multiple of alpha_max, the penalty that zeroes every weight
    "motif-lasso": np.logspace(-3.5, -0.5, 8),
    "kmer-ridge": np.logspace(-2, 3, 8),
    "gc": np.logspace(-6, -1, 8),
}
MIN_VAL_ROWS = 10
HOLDOUT_FRACTION = 0.2


def _check_codes(codes) -> np.ndarray:
    s = np.asarray(codes)
    if s.ndim != 2 or not np.issubdtype(s.dtype, np.integer):
        raise InputError(f"codes must be 2-D (regions x length) integer base codes, got shape {s.shape} "
                         f"and dtype {s.dtype}", hint="A=0, C=1, G=2, T=3, N=4 as uint8")
    return np.where((s >= 0) & (s <= 3), s, 4).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def canonical_kmers(k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Column of each k-mer's canonical form, shaped ``(4**k,)``, and the canonical names."""
    x = np.arange(4**k, dtype=np.int64)
    rc = np.zeros_like(x)
    for j in range(k):
        rc = rc * 4 + (3 - ((x >> (2 * j)) & 3))
    uniq, col = np.unique(np.minimum(x, rc), return_inverse=True)
    names = tuple("".join("ACGT"[(u >> (2 * (k - 1 - j))) & 3] for j in range(k)) for u in uniq)
    col.setflags(write=False)
    return col, names


def kmer_counts(codes, k: int = 6) -> tuple[np.ndarray, tuple[str, ...]]:
    """Canonical k-mer counts of each region.

    Parameters
    ----------
    codes
        ``(R, L)`` integer base codes A=0, C=1, G=2, T=3; anything else is N.
    k
        k-mer length, 1 to 10.

    Returns
    -------
    counts, names
        ``(R, F)`` float32 and the F canonical k-mers (the lexicographically smaller of each
        k-mer / reverse-complement pair, in ACGT order; ``F = 2080`` for ``k=6``). Each window of
        k bases without N adds 1 to its canonical k-mer (a palindrome too).
    """
    s = _check_codes(codes)
    if not isinstance(k, int | np.integer) or not 1 <= k <= 10:
        raise InputError(f"k must be an integer from 1 to 10, got {k!r}")
    col, names = canonical_kmers(int(k))
    n, length = s.shape
    F, W = len(names), length - k + 1
    out = np.zeros((n, F), dtype=np.float32)
    if W < 1:
        return out, names
    step = max(1, 2**22 // max(W, 1))
    for lo in range(0, n, step):
        blk = s[lo:lo + step]
        m = blk.shape[0]
        n_before = np.pad(np.cumsum(blk > 3, axis=1), ((0, 0), (1, 0)))
        ok = n_before[:, k:] == n_before[:, :W]  # window [i, i+k) holds no N
        b = np.minimum(blk, 3).astype(np.int64)
        idx = np.zeros((m, W), dtype=np.int64)
        for j in range(k):  # rolling base-4 index of every window at once
            idx = idx * 4 + b[:, j:j + W]
        flat = col[idx] + (np.arange(m, dtype=np.int64) * F)[:, None]
        out[lo:lo + m] = np.bincount(flat[ok], minlength=m * F).reshape(m, F)
    return out, names


@dataclass
class BaselineModel:
    """A fitted baseline: ``predict(codes) = ((features(codes) - mean) / sd) @ coef + intercept``.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    params
        JSON-safe settings: ``alpha``, ``alpha_grid``, ``grid_r`` (Pearson r of each grid value),
        ``selected_on`` (``"val"`` or ``"holdout"``), ``n_features``, ``n_train``, ``k``
        (kmer-ridge), ``motif_names`` / ``motif_alt_names`` (motif-lasso).
    arrays
        ``coef`` (F,), ``intercept`` (1,), ``mean`` and ``sd`` (F,); for motif-lasso also ``fill``
        (F,), ``motif_probs`` (sum of widths, 4), ``motif_widths`` (F,) and ``motif_background`` (4,).
    """

    kind: str
    params: dict
    arrays: dict[str, np.ndarray]

    def _motifs(self) -> MotifSet:
        probs = np.split(self.arrays["motif_probs"], np.cumsum(self.arrays["motif_widths"])[:-1])
        motifs = (Motif(n, a, p) for n, a, p in zip(self.params["motif_names"],
                                                    self.params["motif_alt_names"], probs, strict=True))
        return MotifSet(motifs, background=self.arrays["motif_background"])

    def features(self, codes) -> np.ndarray:
        """Raw (unstandardised) features ``(R, F)`` of ``(R, L)`` base codes."""
        s = _check_codes(codes)
        if self.kind == "gc":
            return sequence_covariates(s)[0]
        if self.kind == "kmer-ridge":
            return kmer_counts(s, self.params["k"])[0]
        X = scan(s, self._motifs(), features=("max",)).features["max"]
        fill = self.arrays.get("fill")
        return X if fill is None else np.where(np.isfinite(X), X, fill)

    def predict(self, codes) -> np.ndarray:
        """Predictions ``(R,)`` float64 for ``(R, L)`` base codes."""
        Z = (self.features(codes) - self.arrays["mean"]) / self.arrays["sd"]
        return Z @ self.arrays["coef"] + self.arrays["intercept"][0]

    def save(self, directory) -> None:
        """Write ``model.safetensors`` and ``model.json`` (family ``"baseline"``) into ``directory``."""
        save_state(directory, "baseline", self.arrays, {"kind": self.kind, "params": self.params})

    @classmethod
    def load(cls, directory) -> BaselineModel:
        """Open a model written by :meth:`save`."""
        arrays, config = load_state(directory, "baseline")
        if config.get("kind") not in KINDS:
            raise InputError(f"unknown baseline kind {config.get('kind')!r}; expected one of {KINDS}",
                             path=directory)
        return cls(config["kind"], config["params"], dict(arrays))



class BaselineSet:
    """One fitted :class:`BaselineModel` per target, as a run holds them: ``predict(codes)`` gives
    ``(R, T)``; on disk ``targets/<name>/`` per target and a ``model.json`` naming the kind, the
    targets and the input ``length`` (None in runs written before it was recorded)."""

    family = "baseline"
    reads = "sequence"

    def __init__(self, models: list[BaselineModel], targets: list[str], length: int | None = None):
        if len(models) != len(targets):
            raise InputError(f"{len(models)} baseline models for {len(targets)} targets")
        self.models, self.targets = list(models), list(targets)
        self.length = None if length is None else int(length)

    @property
    def kind(self) -> str:
        return self.models[0].kind

    def predict(self, codes) -> np.ndarray:
        """``(R, T)`` predictions for ``(R, L)`` base codes."""
        return np.column_stack([m.predict(codes) for m in self.models])

    def save(self, directory) -> None:
        from cisgram.files import write_json

        d = Path(directory)
        for name, m in zip(self.targets, self.models, strict=True):
            m.save(d / "targets" / name)
        write_json(d / "model.json", {"family": "baseline", "kind": self.kind, "targets": self.targets,
                                      "length": self.length})

    @classmethod
    def load(cls, directory) -> BaselineSet:
        import json

        d = Path(directory)
        mj = json.loads((d / "model.json").read_text())
        return cls([BaselineModel.load(d / "targets" / t) for t in mj["targets"]], mj["targets"], mj.get("length"))


def _mask(m, n: int, name: str) -> np.ndarray:
    m = np.asarray(m)
    if m.dtype != bool or m.shape != (n,):
        raise InputError(f"{name} must be a boolean mask shaped ({n},), got dtype {m.dtype} and shape {m.shape}")
    return m


def _path(kind: str, Z: np.ndarray, y: np.ndarray, alphas) -> list[tuple[np.ndarray, float]]:
    """``(coef, intercept)`` for each alpha, fitted on the rows given."""
    if kind == "motif-lasso":
        from sklearn.linear_model import Lasso

        fits = [Lasso(alpha=a, max_iter=10_000).fit(Z, y) for a in alphas]
        return [(f.coef_.astype(np.float64), float(f.intercept_)) for f in fits]
    n, zm, ym = len(y), Z.mean(axis=0), y.mean()
    Zc = Z - zm
    if n < Z.shape[1]:  # dual form: (Zc'Zc + n a I)^-1 Zc' = Zc' (Zc Zc' + n a I)^-1
        e, U = np.linalg.eigh(Zc @ Zc.T)
        Uy = U.T @ (y - ym)
        coefs = [Zc.T @ (U @ (Uy / (np.maximum(e, 0) + n * a))) for a in alphas]
    else:
        e, V = np.linalg.eigh(Zc.T @ Zc)
        Vr = V.T @ (Zc.T @ (y - ym))
        coefs = [V @ (Vr / (np.maximum(e, 0) + n * a)) for a in alphas]
    return [(c, float(ym - zm @ c)) for c in coefs]


def fit_baseline(kind: str, codes, y, train, val=None, *, motifs: MotifSet | None = None,
                 k: int = 6, seed: int = 0) -> BaselineModel:
    """Fit one baseline; see the module docstring for the models and the choice of penalty.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    codes
        ``(R, L)`` uint8 base codes of all regions (A=0, C=1, G=2, T=3, N=4).
    y
        ``(R,)`` float targets; NaN marks a region that is not modelled.
    train, val
        Boolean masks ``(R,)``: rows to fit on, rows to choose the penalty on (optional).
    motifs
        The motifs of ``"motif-lasso"`` (required there, ignored otherwise).
    k
        k-mer length of ``"kmer-ridge"``.
    seed
        Seed of the 20% holdout used when ``val`` is missing or too small.
    """
    if kind not in KINDS:
        raise InputError(f"unknown baseline kind {kind!r}; choose from {', '.join(KINDS)}")
    s = _check_codes(codes)
    n = s.shape[0]
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise InputError(f"y has shape {y.shape} but codes hold {n} regions")
    finite = np.isfinite(y)
    tr = _mask(train, n, "train") & finite
    if not tr.any():
        raise InputError("no training rows with a finite target", hint="check the train mask and NaNs in y")
    params: dict = {"n_train": int(tr.sum())}
    arrays: dict[str, np.ndarray] = {}
    if kind == "kmer-ridge":
        params["k"] = int(k)
    elif kind == "motif-lasso":
        if motifs is None:
            raise InputError("motif-lasso needs motifs", hint="pass motifs=load_motifs(...)")
        ms = motifs if isinstance(motifs, MotifSet) else MotifSet(motifs)
        params["motif_names"], params["motif_alt_names"] = list(ms.names), [m.alt_name for m in ms]
        arrays["motif_probs"] = np.concatenate([m.probs for m in ms])
        arrays["motif_widths"] = np.array([m.width for m in ms], dtype=np.int64)
        arrays["motif_background"] = np.array(ms.background, dtype=np.float64)
    model = BaselineModel(kind, params, arrays)
    X = model.features(s).astype(np.float64)
    if kind == "motif-lasso":
        Xt = np.where(np.isfinite(X[tr]), X[tr], np.inf).min(axis=0)
        arrays["fill"] = np.where(np.isfinite(Xt), Xt, 0.0)
        X = np.where(np.isfinite(X), X, arrays["fill"])
    mean, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
    sd[~(sd > 0)] = 1.0
    Z = (X - mean) / sd

    ev = None if val is None else _mask(val, n, "val") & finite
    if ev is not None and ev.sum() >= MIN_VAL_ROWS:
        fit_rows, params["selected_on"] = np.flatnonzero(tr), "val"
    else:
        rows = np.random.default_rng(seed).permutation(np.flatnonzero(tr))
        n_hold = max(1, round(HOLDOUT_FRACTION * rows.size)) if rows.size > 1 else 0
        ev = np.zeros(n, dtype=bool)
        ev[rows[:n_hold]] = True
        fit_rows, params["selected_on"] = np.sort(rows[n_hold:]), "holdout"
    grid = GRIDS[kind]
    if kind == "motif-lasso":  # relative to alpha_max of the training rows (Z[tr] has mean 0)
        grid = grid * max(np.abs(Z[tr].T @ (y[tr] - y[tr].mean())).max() / tr.sum(), 1e-12)
    fits = _path(kind, Z[fit_rows], y[fit_rows], grid)
    r = np.array([pearson(Z[ev] @ c + b, y[ev]) for c, b in fits])
    best = int(np.argmax(np.where(np.isfinite(r), r, -np.inf)))
    if params["selected_on"] == "val":
        coef, intercept = fits[best]
    else:  # refit on all training rows
        coef, intercept = _path(kind, Z[tr], y[tr], grid[best:best + 1])[0]
    log.info("%s: alpha %.3g chosen on %s rows (r = %.3f)", kind, grid[best], params["selected_on"], r[best])
    params.update(alpha=float(grid[best]), alpha_grid=[float(a) for a in grid],
                  grid_r=[float(v) if np.isfinite(v) else None for v in r], n_features=int(X.shape[1]))
    arrays.update(coef=np.asarray(coef, dtype=np.float64), intercept=np.array([intercept]), mean=mean, sd=sd)
    return model
