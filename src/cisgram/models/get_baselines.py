"""The feature baselines GET is compared with on the same TSS entries (``cisgram train get``):
``mean`` (the other training cell types' observed values at the entry), ridge (``linear``),
random forest and an MLP on the focus region's features plus a strand indicator, fitted on the
training-block entries of the training cell types (:func:`fit_baselines`). See
:mod:`cisgram.workflows.train_get` for why the features are used as the model sees them."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cisgram.data.get import STRANDS, RegionMotifData
from cisgram.errors import InputError

BASELINES = ("mean", "linear", "random_forest", "mlp")


RIDGE_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


MLP_ALPHAS = (0.1, 1.0, 10.0)


# --------------------------------------------------------------------------------------------
# Baselines on the focus region's features
# --------------------------------------------------------------------------------------------
def _entries(data: RegionMotifData, cells: Sequence[str], split: str) -> pd.DataFrame:
    """Every TSS entry of ``split`` for ``cells``: ``row, cell, strand, observed``."""
    rows = np.flatnonzero(data.split == split)
    parts = []
    for cell in cells:
        c = data.cell_index(cell)
        for s, strand in enumerate(STRANDS):
            r = rows[data.has_tss[rows, s]]
            parts.append(pd.DataFrame({"row": r, "cell": cell, "strand": strand, "observed": data.targets[c, r, s]}))
    return pd.concat(parts, ignore_index=True)


def _design(data: RegionMotifData, entries: pd.DataFrame) -> np.ndarray:
    """``(n, F + 1)``: the focus region's features in the entry's cell type, then the strand
    (0 for ``+``, 1 for ``-``)."""
    X = np.zeros((len(entries), data.n_features + 1), dtype=np.float32)
    for cell, idx in entries.groupby("cell", sort=False).indices.items():
        X[idx, :-1] = data.features(cell, entries["row"].to_numpy()[idx])
    X[:, -1] = (entries["strand"].to_numpy() == "-").astype(np.float32)
    return X


def _fit_mlp(Xtr, ytr, Xva, yva, seed: int, *, max_epochs: int = 200, patience: int = 10):
    """The MLP of the penalty and epoch with the lowest validation MSE (Adam, one epoch per
    ``partial_fit``): ``(model, info)``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    best = (np.inf, None, MLP_ALPHAS[0], 0)
    for alpha in MLP_ALPHAS:
        mlp = MLPRegressor(hidden_layer_sizes=(64,), alpha=alpha, learning_rate_init=1e-3, batch_size=64,
                           random_state=seed)
        wait, mine = 0, np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for epoch in range(max_epochs):
                mlp.partial_fit(Xtr, ytr)
                err = float(np.mean((mlp.predict(Xva) - yva) ** 2)) if len(yva) else -float(epoch)
                if err < mine - 1e-9:
                    mine, wait = err, 0
                    if err < best[0]:
                        best = (err, copy.deepcopy(mlp), alpha, epoch + 1)
                else:
                    wait += 1
                    if wait >= patience:
                        break
    err, model, alpha, epochs = best
    return model, {"hidden": [64], "alpha": alpha, "epochs": epochs, "val_mse": err}


def fit_baselines(data: RegionMotifData, train_cells: Sequence[str], *, seed: int = 0,
                  which: Sequence[str] = BASELINES, mean_cells: Sequence[str] | None = None) -> dict:
    """Fit the feature baselines ``which`` (default all of :data:`BASELINES`) on the
    training-block TSS entries of ``train_cells`` (the validation entries of the same cell types
    choose the ridge and MLP penalties and the MLP's epochs). ``mean`` averages the observed
    values of ``mean_cells`` (default ``train_cells``) other than the entry's own cell type.
    Returns ``{name: (predict(entries) -> (n,), info dict)}`` in the order of :data:`BASELINES`."""
    from sklearn.ensemble import RandomForestRegressor

    train_cells = list(train_cells)
    tr, va = _entries(data, train_cells, "train"), _entries(data, train_cells, "val")
    if len(tr) < 3:
        raise InputError(f"only {len(tr)} training TSS entries: too few for the baselines")
    Xtr, ytr = _design(data, tr), tr["observed"].to_numpy(np.float64)
    Xva, yva = _design(data, va), va["observed"].to_numpy(np.float64)

    unknown = sorted(set(which) - set(BASELINES))
    if unknown:
        raise InputError(f"unknown baseline(s) {', '.join(unknown)}", hint=f"choose from {', '.join(BASELINES)}")
    out: dict = {}
    train_idx = np.array([data.cell_index(c) for c in (train_cells if mean_cells is None else mean_cells)])

    def mean(entries: pd.DataFrame) -> np.ndarray:
        rows = entries["row"].to_numpy()
        s = (entries["strand"].to_numpy() == "-").astype(int)
        pred = np.full(len(entries), np.nan)
        for cell, idx in entries.groupby("cell", sort=False).indices.items():
            others = train_idx[train_idx != data.cell_index(cell)]
            if others.size:
                pred[idx] = data.targets[others][:, rows[idx], s[idx]].mean(axis=0)
        return pred

    if "mean" in which:
        out["mean"] = (mean, {"reading": "mean of the other training cell types' targets at the same entry"})
    if "linear" in which:
        out["linear"] = _fit_ridge(data, Xtr, ytr, Xva, yva)
    if "random_forest" in which:
        forest = RandomForestRegressor(n_estimators=10, max_depth=10, random_state=seed, n_jobs=1).fit(Xtr, ytr)
        out["random_forest"] = (lambda e: forest.predict(_design(data, e)), {"n_estimators": 10, "max_depth": 10})
    if "mlp" in which:
        mlp, mlp_info = _fit_mlp(Xtr, ytr, Xva, yva, seed)
        out["mlp"] = (lambda e: mlp.predict(_design(data, e)), mlp_info)
    return out


def _fit_ridge(data, Xtr, ytr, Xva, yva):
    from scipy.linalg import LinAlgWarning
    from sklearn.linear_model import Ridge

    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # tiny penalties on more columns than entries
        for a in RIDGE_ALPHAS:
            m = Ridge(alpha=a).fit(Xtr, ytr)
            errors[a] = float(np.mean((m.predict(Xva) - yva) ** 2)) if len(yva) else 0.0
        alpha = min(RIDGE_ALPHAS, key=lambda a: (errors[a], -a))
        ridge = Ridge(alpha=alpha).fit(Xtr, ytr)
    return (lambda e: ridge.predict(_design(data, e)),
            {"model": "ridge", "alpha": alpha, "val_mse": {str(k): v for k, v in errors.items()}})
