"""Run directories: train a model on a dataset, write everything DESIGN §1 asks for, open it again.

A run directory holds ``config.json`` (what was asked, enough to rerun it), ``split.json``,
``metrics.json`` (``{"family", "train"|"val"|"test": {target: {pearson, spearman, r2, pearson_r2,
n}}}``), ``predictions.parquet`` (region, target, observed, predicted, split), ``report.html``,
and the model's own ``model.safetensors`` + ``model.json``. Every file is written atomically; the
model files go last but one and ``metrics.json`` last, so a directory with metrics is complete.

:func:`load` opens any run; :meth:`Run.predict` scores new sequences or regions.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.targets import TrainingData, track_covariates
from cisgram.errors import InputError
from cisgram.files import atomic_path, write_json
from cisgram.metrics import regression_metrics

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")




def _predictions(data: TrainingData, pred: np.ndarray) -> pd.DataFrame:
    parts = []
    for t, name in enumerate(data.targets):
        ok = np.isfinite(data.Y[:, t])
        parts.append(pd.DataFrame({"region": data.regions["region"].to_numpy()[ok], "target": name,
                                   "observed": data.Y[ok, t], "predicted": pred[ok, t], "split": data.split[ok]}))
    return pd.concat(parts, ignore_index=True)


def metrics_table(preds: pd.DataFrame, family: str, *, task: str = "regression",
                  subsets: dict[str, np.ndarray] | None = None) -> dict:
    """DESIGN's ``metrics.json`` from a predictions table (classification adds ``auroc`` and
    ``auprc``). ``subsets`` (name -> boolean mask over the table's rows) adds the same metrics
    on parts of it under ``"subsets": {name: {split: ...}}``."""
    from cisgram.metrics import classification_metrics

    score = classification_metrics if task == "classification" else regression_metrics

    def table(p: pd.DataFrame) -> dict:
        return {s: {t: score(g["observed"], g["predicted"]) for t, g in p[p["split"] == s].groupby("target", sort=False)}
                for s in SPLITS}

    out: dict = {"family": family, **table(preds)}
    if subsets:
        out["subsets"] = {name: table(preds[mask]) for name, mask in subsets.items()}
    return out


def write_run(out: str | os.PathLike, family: str, config: dict, data: TrainingData, pred: np.ndarray,
              save_model: Callable[[Path], None], report: Callable[[Path, pd.DataFrame, dict], None] | None = None,
              extra: dict | None = None, *, task: str = "regression",
              subsets: Callable[[pd.DataFrame], dict[str, np.ndarray]] | None = None) -> dict:
    """Write a run directory (see the module docstring); returns the metrics. ``subsets`` maps
    the predictions table to named row masks scored separately (:func:`metrics_table`)."""
    d = Path(out)
    if (d / "metrics.json").exists():  # an earlier run's metrics must not outlive a failure of this one
        log.info("overwriting the run in %s", d)
        (d / "metrics.json").unlink()
    d.mkdir(parents=True, exist_ok=True)
    preds = _predictions(data, pred)
    metrics = metrics_table(preds, family, task=task, subsets=subsets(preds) if subsets else None)
    write_json(d / "config.json", {"family": family, **config})
    write_json(d / "split.json", data.split_dict)
    with atomic_path(d / "predictions.parquet") as tmp:
        preds.to_parquet(tmp, index=False)
    for name, obj in (extra or {}).items():
        write_json(d / name, obj)
    save_model(d)
    if report is not None:
        report(d / "report.html", preds, metrics)
    write_json(d / "metrics.json", metrics)
    return metrics


# ------------------------------------------------------------------------------------ families


# ------------------------------------------------------------------------------------ opening runs


@dataclass
class Run:
    """An opened run: ``family``, ``config``, ``targets`` and ``model`` (an :class:`IQModel`, a
    :class:`CNNModel`, one :class:`BaselineModel` per target, or a :class:`GETModel` whose
    ``targets`` are the run's cell types; its input is region-by-motif windows, not sequence)."""

    path: Path
    family: str
    config: dict
    targets: list[str]
    model: object

    @property
    def length(self) -> int | None:
        return self.model.length if self.family in ("iq", "cnn") else None

    def codes(self, sequences=None, regions=None, genome=None) -> tuple[np.ndarray, list[str]]:
        """``(N, L)`` codes and names of ``sequences`` (strings or codes) or ``regions`` (a BED
        path or table, recentred to the model's width on ``genome``, default the training one)."""
        from cisgram.genome import Genome, encode

        if (sequences is None) == (regions is None):
            raise InputError("give either sequences or regions")
        if sequences is not None:
            if isinstance(sequences, np.ndarray):
                return np.asarray(sequences, dtype=np.uint8), [str(i) for i in range(len(sequences))]
            seqs = list(sequences)
            if not seqs or len({len(s) for s in seqs}) != 1:
                raise InputError("sequences must be a non-empty list of strings of one length")
            return np.stack([encode(s) for s in seqs]), [str(i) for i in range(len(seqs))]
        g = Genome(genome or self.config["genome"])
        df = self._windows(regions, g)
        names = [f"{c}:{s}-{e}" for c, s, e in zip(df["chrom"], df["start"], df["end"], strict=True)]
        return g.fetch_codes_batch(df["chrom"].to_numpy(), df["start"].to_numpy(), df["end"].to_numpy()), names

    def _windows(self, regions, genome) -> pd.DataFrame:
        """``regions`` (a BED path or table) recentred to the model's width on ``genome``."""
        from cisgram.intervals import read_regions, resize

        df = read_regions(regions, genome=genome) if not isinstance(regions, pd.DataFrame) else regions
        width = self.length or int((df["end"] - df["start"]).iloc[0])
        return resize(df, width, sizes=genome.sizes).reset_index(drop=True)

    def predict(self, sequences=None, *, regions=None, genome=None) -> pd.DataFrame:
        """Predictions for ``sequences`` (strings of the model's length, or ``(N, L)`` codes) or
        ``regions`` (BED path or table, recentred to the model's width on ``genome``, default
        the training genome): one row per sequence, one column per target."""
        codes, names = self.codes(sequences, regions, genome)
        extra = None
        if self.family == "iq" and self.model.extra:
            if regions is None:
                raise InputError(f"this IQ run also reads track covariates ({', '.join(self.model.extra)}), which "
                                 "sequences alone do not give", path=self.path, hint="predict on regions instead")
            from cisgram.genome import Genome

            extra = track_covariates(self.model.extra_sources, self._windows(regions, Genome(genome or self.config["genome"])))
        return pd.DataFrame(self.predict_codes(codes, extra), index=pd.Index(names, name="region"), columns=self.targets)

    def predict_codes(self, codes: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        if self.family == "get":
            raise InputError("a GET run predicts from windows of region-by-motif features, not from sequence",
                             path=self.path, hint="use run.model.predict(X) on windows (cisgram.data.get."
                                                  "tss_windows), or `cisgram explain get`")
        if self.family == "iq":
            return self.model.predict(codes, extra)
        if self.family == "cnn":
            return self.model.predict(codes)
        return np.column_stack([m.predict(codes) for m in self.model])

    def score_edits(self, codes: np.ndarray, edits: Sequence[tuple[int, int, str]]) -> pd.DataFrame:
        """Each edit ``(row, position, base)`` applied alone to ``codes[row]``; one batched predict
        of the references and the edited copies. Columns: row, position, base, and per target
        ``ref:<t>``, ``alt:<t>``, ``delta:<t>``."""
        codes = np.asarray(codes, dtype=np.uint8)
        if not edits:
            raise InputError("no edit given")
        alt = np.empty((len(edits), codes.shape[1]), np.uint8)
        for i, (r, p, b) in enumerate(edits):
            if not (0 <= r < len(codes) and 0 <= p < codes.shape[1]) or str(b).upper() not in "ACGTN" or len(str(b)) != 1:
                raise InputError(f"edit {i} ({r}, {p}, {b!r}) is outside the sequences or not a base")
            alt[i] = codes[r]
            alt[i, p] = "ACGTN".index(str(b).upper())
        rows = np.array([e[0] for e in edits])
        both = self.predict_codes(np.concatenate([codes[rows], alt]))
        ref, new = both[: len(edits)], both[len(edits):]
        out = pd.DataFrame({"row": rows, "position": [e[1] for e in edits], "base": [str(e[2]).upper() for e in edits]})
        for t, name in enumerate(self.targets):
            out[f"ref:{name}"], out[f"alt:{name}"], out[f"delta:{name}"] = ref[:, t], new[:, t], new[:, t] - ref[:, t]
        return out


def load(path: str | os.PathLike) -> Run:
    """Open a run directory written by ``cisgram train``."""
    d = Path(path)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise InputError("not a run directory (no config.json)", path=d, hint="give a directory from `cisgram train`")
    config = json.loads(cfg_path.read_text())
    family = config.get("family")
    if family == "iq":
        from cisgram.models.iq import IQModel

        model = IQModel.load(d)
        return Run(d, family, config, list(model.targets), model)
    if family == "baseline":
        from cisgram.models.baselines import BaselineModel

        mj = json.loads((d / "model.json").read_text())
        return Run(d, family, config, mj["targets"], [BaselineModel.load(d / "targets" / t) for t in mj["targets"]])
    if family == "cnn":
        from cisgram.models.cnn import CNNModel

        model = CNNModel.load(d)
        return Run(d, family, config, list(model.targets), model)
    if family == "get":
        from cisgram.models.get import GETModel

        cells = [*config.get("training_cell_types", []), *([config["leave_out"]] if config.get("leave_out") else [])]
        return Run(d, family, config, cells, GETModel.load(d))
    raise InputError(f"unknown model family {family!r} in config.json", path=cfg_path)
