"""Run directories: the one place that writes and opens them, for every family.

A run directory holds ``config.json`` (what was asked, enough to rerun it: paths resolved, plus
each path as it was given), ``split.json``, ``predictions.parquet`` (region, target, observed,
predicted, split), the model's own files (``model.safetensors`` + ``model.json``; a GET run's
``lora.safetensors`` + ``lora.json``; a baseline's ``targets/<name>/``) and, written last,
``metrics.json``::

    {"family": ..., "train"|"val"|"test": {target: {pearson, spearman, r2, pearson_r2, n,
                                                    r2_val_calibrated}},
     "val_calibration": {target: {intercept, slope, n}}}

(regression runs; ``r2_val_calibrated`` is R² after the least-squares line of
``val_calibration``, fitted on validation rows: :func:`validation_lines`), so a directory with ``metrics.json`` is complete (:func:`write_run` removes an earlier run's
metrics first). The families that train networks hold ``checkpoint/`` while they train
(:func:`begin_run`, :func:`end_run`: each fit's last completed epoch, for ``--resume``); a
directory with it is unfinished, whatever else it holds, and :func:`load` refuses it.
``report.html`` is rendered from what the workflow returned (:mod:`cisgram.report`), after the
run is complete.

:func:`load` opens any of them (``cisgram.load``): IQ, baseline, CNN, GET (with its LoRA adapter),
tfbind and ChromBPNet runs, each as a :class:`Run` whose :meth:`Run.predict` follows the model protocol:
sequences as strings, ``(N, L)`` uint8 codes or ``(N, 4, L)`` one-hot, of the length the model
was trained on (an :class:`~cisgram.errors.InputError` names both lengths; ``recentre=True``
cuts the centre out of longer ones), or regions (recentred to the model's width).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from cisgram.checkpoints import LATEST, is_rank_zero
from cisgram.data.targets import TrainingData, track_covariates
from cisgram.errors import InputError
from cisgram.files import atomic_path, write_json
from cisgram.genome import Genome, as_codes
from cisgram.inference import predict
from cisgram.intervals import read_regions, resize
from cisgram.metrics import classification_metrics, regression_metrics

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CHECKPOINTS = "checkpoint"
REQUEST = "run.json"


# ------------------------------------------------------------------------------------ writing


def path_entries(**paths) -> dict:
    """``{name: absolute path, name + "_given": the path as given}`` for each path (``None`` and
    non-path values such as ``jaspar:`` addresses are kept as they are, without ``_given``), so a
    run does not depend on the directory it was trained in."""
    out: dict = {}
    for name, value in paths.items():
        if value is None or (isinstance(value, str) and ":" in value and not Path(value).exists()):
            out[name] = value
            continue
        out[name] = str(Path(value).expanduser().resolve())
        out[f"{name}_given"] = str(value)
    return out


def predictions_table(data: TrainingData, pred: np.ndarray) -> pd.DataFrame:
    """DESIGN's ``predictions.parquet``: one row per region and target with a finite observed value."""
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
    score = classification_metrics if task == "classification" else regression_metrics
    lines = validation_lines(preds) if task == "regression" else {}

    def scored(t: str, g: pd.DataFrame) -> dict:
        m = score(g["observed"], g["predicted"])
        if t in lines:
            a, b = lines[t]["intercept"], lines[t]["slope"]
            m["r2_val_calibrated"] = regression_metrics(g["observed"], a + b * g["predicted"].to_numpy())["r2"]
        return m

    def table(p: pd.DataFrame) -> dict:
        return {s: {t: scored(t, g) for t, g in p[p["split"] == s].groupby("target", sort=False)} for s in SPLITS}

    out: dict = {"family": family, **table(preds)}
    if lines:
        out["val_calibration"] = lines
    if subsets:
        out["subsets"] = {name: table(preds[mask]) for name, mask in subsets.items()}
    return out


def validation_lines(preds: pd.DataFrame) -> dict[str, dict]:
    """Per target the least-squares line ``observed ≈ intercept + slope × predicted`` on the
    validation rows of a predictions table (``{"intercept", "slope", "n"}``; targets with fewer
    than 3 finite validation pairs are left out; a constant prediction gets slope 0). Applied to
    every split it gives ``r2_val_calibrated``: the R² a linear recalibration fitted on
    validation rows (never test rows) would reach, so ``r2_val_calibrated − r2`` on test is the
    part of the R² lost to calibration (shift and scale) rather than to ranking."""
    out: dict[str, dict] = {}
    val = preds[preds["split"] == "val"]
    for t, g in val.groupby("target", sort=False):
        y, p = g["observed"].to_numpy(dtype=np.float64), g["predicted"].to_numpy(dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(p)
        y, p = y[ok], p[ok]
        if y.size < 3:
            continue
        vp = float(np.var(p))
        b = float(np.mean((p - p.mean()) * (y - y.mean())) / vp) if vp > 0 else 0.0
        out[str(t)] = {"intercept": float(y.mean() - b * p.mean()), "slope": b, "n": int(y.size)}
    return out


def start_run(out: str | os.PathLike) -> Path:
    """The run directory, created; an earlier run's ``metrics.json`` there is removed first, so
    it cannot outlive a failure of this one."""
    d = Path(out)
    if (d / "metrics.json").exists():
        log.info("overwriting the run in %s", d)
        (d / "metrics.json").unlink()
    d.mkdir(parents=True, exist_ok=True)
    return d


def begin_run(out: str | os.PathLike, request: dict, *, resume: bool = False) -> Path:
    """Open the run directory ``out`` for a training run that keeps checkpoints (``cisgram train
    cnn | get``, ``pretrain get``, ``tfbind``) and return its ``checkpoint/`` directory, where
    each fit keeps its last completed epoch (``checkpoint/<stage>/``,
    :func:`cisgram.training.fit`) beside ``run.json`` (``request``: the options that shape the
    run's numbers). The directory is there from the start until :func:`end_run`, after
    ``metrics.json``: while it is, :func:`load` refuses the run as unfinished.

    A run in ``out`` with a completed epoch continues with ``resume`` (the same ``request``, else
    an :class:`InputError` naming what differs) and is an :class:`InputError` without it; one
    stopped before its first epoch ended starts again. A finished run is overwritten without
    ``resume`` (its ``metrics.json`` removed first) and an :class:`InputError` with it. Extra
    processes of a distributed run (not rank 0) only get the path."""
    d = Path(out)
    ck = d / CHECKPOINTS
    if not is_rank_zero():
        return ck
    request = json.loads(json.dumps(request, default=str))
    if ck.is_dir() and any(ck.rglob(LATEST)):
        if not resume:
            raise InputError("an unfinished run is in this directory", path=d,
                             hint="resume it with --resume, or choose another --out")
        before = _flat(json.loads((ck / REQUEST).read_text()) if (ck / REQUEST).is_file() else request)
        now = _flat(request)
        diff = [f"{k}: {before.get(k)!r} then, {now.get(k)!r} now"
                for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
        if diff:
            raise InputError(f"--resume with other options than the interrupted run ({'; '.join(diff)})", path=d,
                             hint="resume with the options the run was started with, or choose another --out")
        log.info("resuming the run in %s", d)
        return ck
    if resume and not ck.is_dir() and (d / "metrics.json").is_file():
        raise InputError("this run is finished: there is nothing to resume", path=d,
                         hint="drop --resume to train it again (it is overwritten), or choose another --out")
    start_run(d)
    shutil.rmtree(ck, ignore_errors=True)
    ck.mkdir()
    write_json(ck / REQUEST, request)
    return ck


def _flat(d: dict, prefix: str = "") -> dict:
    """Nested dictionaries as one, keys joined by dots (what differs between two requests)."""
    out: dict = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def request_paths(**paths) -> dict:
    """``{name: absolute path}`` of each path (a run's request compares them however given);
    a value that is not a path (a table, a genome object) as ``<type>``."""
    given = {k: v if v is None or isinstance(v, str | os.PathLike) else f"<{type(v).__name__}>" for k, v in paths.items()}
    return {k: v for k, v in path_entries(**given).items() if not k.endswith("_given")}


def end_run(d: str | os.PathLike) -> None:
    """Remove the run's ``checkpoint/`` directory: called once ``metrics.json`` is written (it is
    renamed first, so that a process killed while removing it leaves no half checkpoint)."""
    ck, gone = Path(d) / CHECKPOINTS, Path(d) / f".{CHECKPOINTS}.removed"
    if ck.is_dir():
        shutil.rmtree(gone, ignore_errors=True)
        os.replace(ck, gone)
    shutil.rmtree(gone, ignore_errors=True)


def finish_run(d: Path, *, config: dict, split: dict, metrics: dict, predictions: pd.DataFrame | None = None,
               save_model: Callable[[Path], None] | None = None, extra: dict | None = None,
               tables: dict | None = None) -> None:
    """The files every run directory holds, in the order that makes ``metrics.json`` the mark of a
    complete run: ``config.json``, ``split.json``, ``predictions.parquet``, the ``extra`` JSON
    files and ``tables`` (name -> DataFrame, written as TSV), the model (``save_model`` writes it
    into ``d``), and last ``metrics.json``. Every file is written atomically."""
    write_json(d / "config.json", config)
    write_json(d / "split.json", split)
    if predictions is not None:
        with atomic_path(d / "predictions.parquet") as tmp:
            predictions.to_parquet(tmp, index=False)
    for name, obj in (extra or {}).items():
        write_json(d / name, obj)
    for name, frame in (tables or {}).items():
        with atomic_path(d / name) as tmp:
            frame.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    if save_model is not None:
        save_model(d)
    write_json(d / "metrics.json", metrics)


def write_run(out: str | os.PathLike, family: str, config: dict, data: TrainingData, pred: np.ndarray,
              save_model: Callable[[Path], None], extra: dict | None = None, *, task: str = "regression",
              subsets: Callable[[pd.DataFrame], dict[str, np.ndarray]] | None = None) -> tuple[dict, pd.DataFrame]:
    """Write the run directory of a model trained on a dataset's regions (see the module docstring
    and :func:`finish_run`); ``subsets`` maps the predictions table to named row masks scored
    separately (:func:`metrics_table`). Returns the metrics and the predictions table."""
    d = start_run(out)
    preds = predictions_table(data, pred)
    metrics = metrics_table(preds, family, task=task, subsets=subsets(preds) if subsets else None)
    finish_run(d, config={"family": family, **config}, split=data.split_dict, metrics=metrics, predictions=preds,
               save_model=save_model, extra=extra)
    return metrics, preds


# ------------------------------------------------------------------------------------ opening


@dataclass
class Run:
    """An opened run: its ``path``, ``family``, ``config``, ``targets`` and ``model``
    (:class:`~cisgram.models.iq.IQModel`, :class:`~cisgram.models.baselines.BaselineSet`,
    :class:`~cisgram.models.cnn.CNNModel`; :class:`GETRun` and :class:`TFBindRun` for the others).
    """

    path: Path
    family: str
    config: dict
    targets: list[str]
    model: object

    @property
    def length(self) -> int | None:
        """The input width the model was trained on (None where the run does not record it)."""
        return getattr(self.model, "length", None)

    def genome(self, genome=None) -> Genome:
        """``genome`` (a path or :class:`Genome`), default the genome the run was trained on."""
        if isinstance(genome, Genome):
            return genome
        path = genome or self.config.get("genome")
        if not path:
            raise InputError("the run does not name its genome", path=self.path, hint="pass the genome explicitly")
        if not Path(path).exists():
            raise InputError(f"the run's genome {path} is not there", path=self.path, hint="pass the genome explicitly")
        return Genome(path)

    def codes(self, sequences=None, regions=None, genome=None, *, recentre: bool = False) -> tuple[np.ndarray, list[str]]:
        """``(N, L)`` codes and names of ``sequences`` (strings, codes or one-hot; see
        :func:`~cisgram.genome.as_codes`) or ``regions`` (a BED path or table, recentred to the
        model's width on ``genome``, default the training one)."""
        if (sequences is None) == (regions is None):
            raise InputError("give either sequences or regions")
        if sequences is not None:
            codes = as_codes(sequences, length=self.length, recentre=recentre)
            return codes, [str(i) for i in range(len(codes))]
        g = self.genome(genome)
        df = self.windows(regions, g)
        names = [f"{c}:{s}-{e}" for c, s, e in zip(df["chrom"], df["start"], df["end"], strict=True)]
        return g.fetch_codes_batch(df["chrom"].to_numpy(), df["start"].to_numpy(), df["end"].to_numpy()), names

    def windows(self, regions, genome: Genome) -> pd.DataFrame:
        """``regions`` (a BED path or table) recentred to the model's width on ``genome``."""
        df = read_regions(regions, genome=genome) if not isinstance(regions, pd.DataFrame) else regions
        width = self.length or int((df["end"] - df["start"]).iloc[0])
        return resize(df, width, sizes=genome.sizes).reset_index(drop=True)

    def predict(self, sequences=None, *, regions=None, genome=None, recentre: bool = False,
                batch_size: int = 256, device: str = "cpu") -> pd.DataFrame:
        """Predictions for ``sequences`` (strings, ``(N, L)`` codes or ``(N, 4, L)`` one-hot of the
        model's length; ``recentre`` cuts the centre out of longer ones) or ``regions`` (BED path
        or table, recentred to the model's width on ``genome``, default the training genome):
        one row per sequence, one column per target."""
        codes, names = self.codes(sequences, regions, genome, recentre=recentre)
        extra = None
        sources = getattr(self.model, "extra_sources", None)
        if sources:
            if regions is None:
                raise InputError(f"this {self.family} run also reads track covariates ({', '.join(sources)}), which "
                                 "sequences alone do not give", path=self.path, hint="predict on regions instead")
            extra = track_covariates(sources, self.windows(regions, self.genome(genome)))
        out = self.predict_codes(codes, extra, batch_size=batch_size, device=device)
        return pd.DataFrame(out, index=pd.Index(names, name="region"), columns=self.targets)

    def predict_codes(self, codes: np.ndarray, extra: np.ndarray | None = None, *, batch_size: int = 256,
                      device: str = "cpu") -> np.ndarray:
        """``(N, T)`` float64 predictions for ``(N, L)`` codes (and an IQ run's track covariates)."""
        per_item = () if extra is None else (extra,)
        return np.asarray(predict(self.model, codes, *per_item, batch_size=batch_size, device=device), np.float64)

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


class GETSelection(NamedTuple):
    """A GET run opened for one cell type: its region-motif ``data``, the ``cell``, the ``model``
    (LoRA adapter merged when it was trained for that cell: ``adapted``)."""

    data: object
    cell: str
    model: object
    adapted: bool


@dataclass
class GETRun(Run):
    """A ``cisgram train get`` run: ``model`` is the fine-tuned transformer, ``adapter`` the LoRA
    adapter's settings (``lora.json``) when one was trained, for ``adapter["cell"]``. Its inputs
    are windows of region-by-motif features, not sequences."""

    adapter: dict | None = field(default=None)

    @property
    def default_cell(self) -> str:
        """The held-out cell type, else the first training one."""
        return self.config.get("leave_out") or self.config["training_cell_types"][0]

    def model_for(self, cell: str | None = None, *, use_lora: bool = True):
        """``(model, adapted)``: the run's model with its LoRA adapter merged when the adapter was
        trained for ``cell`` (default :attr:`default_cell`) and ``use_lora``."""
        from safetensors.torch import load_file

        from cisgram.models.get import GETModel
        from cisgram.models.lora import apply_lora, load_lora, merge_lora

        cell = cell or self.default_cell
        a = self.adapter
        if not (use_lora and a is not None and a.get("cell") == cell):
            return self.model, False
        base = GETModel.load(self.path)  # a fresh copy: the adapter is merged into it
        net = apply_lora(base.net, int(a["rank"]), float(a["alpha"]), targets=tuple(a["targets"]),
                         trainable=tuple(a["trainable"]))
        load_lora(net, load_file(str(self.path / "lora.safetensors")))
        return GETModel(merge_lora(net).eval(), base.feature_names), True

    def read_data(self, data=None):
        """The region-motif data (default the ``.npz`` the run was trained on), checked against the
        model's features."""
        from cisgram.data.get import RegionMotifData

        source = data if data is not None else self.config.get("data")
        if isinstance(source, RegionMotifData):
            rmd = source
        else:
            if source is None or not Path(source).is_file():
                raise InputError(f"the run's region-motif data {source!r} is not there", path=self.path / "config.json",
                                 hint="give it with --data (the .npz from `cisgram get-data`)")
            rmd = RegionMotifData.read(source)
        if list(self.model.feature_names) != list(rmd.feature_names):
            raise InputError("the data's features are not the model's (another motif set or order)", path=self.path,
                             hint="give the region-motif data the run was trained on")
        return rmd

    def select(self, *, data=None, cell: str | None = None, use_lora: bool = True) -> GETSelection:
        """The run opened for ``cell`` (default :attr:`default_cell`) on ``data``."""
        rmd = self.read_data(data)
        cell = cell or self.default_cell
        rmd.cell_index(cell)
        model, adapted = self.model_for(cell, use_lora=use_lora)
        return GETSelection(rmd, cell, model, adapted)

    def predict(self, X=None, positions=None, *, cell: str | None = None, output: str = "expression",
                batch_size: int = 64, device: str = "cpu", regions=None, **kwargs) -> np.ndarray:
        """``output`` (``"expression"`` ``(N, R, 2)`` or ``"accessibility"`` ``(N, R, 1)``) for
        ``(N, R, F)`` windows of region-by-motif features, with the model of ``cell`` (its LoRA
        adapter when there is one for that cell; default :attr:`default_cell`)."""
        arr = None if X is None or isinstance(X, list | tuple | str) else np.asarray(X)
        if regions is not None or arr is None or arr.ndim != 3 or not np.issubdtype(arr.dtype, np.floating):
            got = "regions" if regions is not None else (f"a {arr.dtype} array of shape {arr.shape}" if arr is not None
                                                         else type(X).__name__)
            raise InputError(f"a GET run predicts from (N, R, F) float windows of region-by-motif features, got {got}",
                             path=self.path, hint="cut windows with cisgram.data.get_windows.tss_windows, or run "
                                                  "`cisgram explain get`")
        model, _ = self.model_for(cell)
        return predict(model, arr, positions, output=output, batch_size=batch_size, device=device)

    def predict_codes(self, codes, extra=None, **kwargs):
        raise InputError("a GET run predicts from windows of region-by-motif features, not from sequence",
                         path=self.path, hint="use run.predict(X) on windows (cisgram.data.get_windows.tss_windows), "
                                              "or `cisgram explain get`")


def tfbind_network_dirs(run: str | os.PathLike) -> dict[str, list[Path]]:
    """The CNN directories of a tfbind run, keyed ``<strategy>:cnn`` / ``<strategy>:cnn-blocked``:
    ``<strategy>/`` (and ``<strategy>/blocked/``) hold the first seed's network, ``seed-<k>/``
    inside them the other seeds' of a seed ensemble (``--seeds``), whose predictions are averaged
    (:class:`StrategyModels`; :func:`cisgram.workflows.tfbind.tfbind_networks` loads them)."""
    run = Path(run)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise InputError("not a tfbind run directory (no config.json)", path=run)
    config = json.loads(config_path.read_text())
    if config.get("family") != "tfbind":
        raise InputError(f"not a tfbind run (family {config.get('family')!r})", path=run)
    out: dict[str, list[Path]] = {}
    for strategy in config["negatives"]:
        for key, d in ((f"{strategy}:cnn", run / strategy), (f"{strategy}:cnn-blocked", run / strategy / "blocked")):
            if (d / "model.safetensors").is_file():
                out[key] = [d, *sorted((p for p in d.glob("seed-*") if (p / "model.safetensors").is_file()),
                                       key=lambda p: int(p.name.split("-")[1]))]
    return out


class StrategyModels:
    """The networks of a tfbind run, one per negative set: one output column each
    (``<strategy>:cnn``), the same input width; a negative set trained as a seed ensemble
    predicts the mean of its members' probabilities, as the run scored its examples."""

    family = "tfbind"
    reads = "sequence"

    def __init__(self, models: dict):
        self.models = {s: list(m) if isinstance(m, list | tuple) else [m] for s, m in models.items()}
        lengths = {m.length for ms in self.models.values() for m in ms}
        if len(lengths) != 1:
            raise InputError(f"the tfbind strategies read different widths: {sorted(lengths)}")
        self.length = lengths.pop()
        self.targets = [f"{s}:cnn" for s in self.models]

    def predict(self, codes: np.ndarray) -> np.ndarray:
        return np.column_stack([np.mean([predict(m, codes)[:, 0] for m in ms], axis=0) for ms in self.models.values()])


@dataclass
class TFBindRun(Run):
    """A ``cisgram tfbind`` run: ``strategies`` maps each negative set to its CNN run; ``model``
    predicts with all of them (:class:`StrategyModels`)."""

    strategies: dict = field(default_factory=dict)


@dataclass
class ChromBPNetRun(Run):
    """A ``cisgram train chrombpnet`` run (:class:`~cisgram.models.bpnet_run.ChromBPNetModel`):
    :meth:`predict` gives each region's predicted log count, :meth:`profiles` the expected counts
    per base of its centred output window; ``bias_free`` uses the accessibility model alone."""

    def predict(self, sequences=None, *, regions=None, genome=None, recentre: bool = False, bias_free: bool = False,
                batch_size: int = 256, device: str = "cpu") -> pd.DataFrame:
        codes, names = self.codes(sequences, regions, genome, recentre=recentre)
        out = predict(self.model, codes, part="bias_free" if bias_free else "full", batch_size=batch_size,
                      device=device)
        return pd.DataFrame(out, index=pd.Index(names, name="region"), columns=self.targets)

    def profiles(self, sequences=None, *, regions=None, genome=None, recentre: bool = False, bias_free: bool = False,
                 batch_size: int = 256, device: str = "cpu") -> np.ndarray:
        """``(N, T, output_len)`` softmax(profile) × exp(log count) over the output window, which
        starts ``(length - output_len) // 2`` bases into each input window."""
        codes, _ = self.codes(sequences, regions, genome, recentre=recentre)
        out = predict(self.model, codes, output="profile", part="bias_free" if bias_free else "full",
                      batch_size=batch_size, device=device)
        return out.reshape(len(codes), self.model.n_outputs, self.model.output_len)


def require_finished(d: Path) -> None:
    """An :class:`InputError` when ``d`` (or the tfbind run holding it) is a run still being
    trained or stopped before it finished (:func:`begin_run`)."""
    if (d / CHECKPOINTS).is_dir() or (d.parent / CHECKPOINTS / REQUEST).is_file():
        raise InputError("unfinished run: resume it with --resume", path=d,
                         hint="run the command that made it again with --resume (training goes on from the "
                              "last completed epoch), or train it again without --resume")


def _read_config(d: Path) -> dict:
    require_finished(d)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise InputError("not a run directory (no config.json)", path=d, hint="give a directory from `cisgram train`")
    try:
        return json.loads(cfg_path.read_text())
    except ValueError as e:
        raise InputError(f"unreadable config.json ({e})", path=cfg_path) from None


def _open_iq(d: Path, config: dict) -> Run:
    from cisgram.models.iq import IQModel

    model = IQModel.load(d)
    return Run(d, "iq", config, list(model.targets), model)


def _open_baseline(d: Path, config: dict) -> Run:
    from cisgram.models.baselines import BaselineSet

    model = BaselineSet.load(d)
    return Run(d, "baseline", config, list(model.targets), model)


def _open_cnn(d: Path, config: dict) -> Run:
    from cisgram.models.cnn import CNNModel

    model = CNNModel.load(d)
    return Run(d, "cnn", config, list(model.targets), model)


def _open_get(d: Path, config: dict) -> GETRun:
    from cisgram.models.get import GETModel

    cells = [*config.get("training_cell_types", []), *([config["leave_out"]] if config.get("leave_out") else [])]
    adapter = None
    if (d / "lora.json").is_file() and (d / "lora.safetensors").is_file():
        adapter = json.loads((d / "lora.json").read_text())
    return GETRun(d, "get", config, cells, GETModel.load(d), adapter=adapter)


def _open_tfbind(d: Path, config: dict) -> TFBindRun:
    strategies = {s: _open_cnn(d / s, _read_config(d / s)) for s in config.get("negatives", [])
                  if (d / s / "model.safetensors").is_file()}
    if not strategies:
        raise InputError("this tfbind run holds no trained network", path=d)
    from cisgram.models.cnn import CNNModel

    members = tfbind_network_dirs(d)
    model = StrategyModels({s: [r.model, *(CNNModel.load(p) for p in members[f"{s}:cnn"][1:])]
                            for s, r in strategies.items()})
    return TFBindRun(d, "tfbind", config, model.targets, model, strategies=strategies)


def _open_chrombpnet(d: Path, config: dict) -> ChromBPNetRun:
    from cisgram.models.bpnet_run import ChromBPNetModel

    model = ChromBPNetModel.load(d)
    return ChromBPNetRun(d, "chrombpnet", config, list(model.targets), model)


_OPENERS: dict[str, Callable[[Path, dict], Run]] = {
    "iq": _open_iq, "baseline": _open_baseline, "cnn": _open_cnn, "get": _open_get, "tfbind": _open_tfbind,
    "chrombpnet": _open_chrombpnet,
}


def load(path: str | os.PathLike, *, family: str | None = None) -> Run:
    """Open a run directory written by ``cisgram train``, ``cisgram tfbind`` (or a strategy's
    directory inside one). With ``family`` a run of another family is an :class:`InputError`
    saying which it is, before anything else is read."""
    d = Path(path)
    config = _read_config(d)
    if family is not None and config.get("family") != family:
        raise InputError(f"this needs a {family.upper() if family == 'get' else family} run; this is a "
                         f"{config.get('family')} run", path=d, hint=f"give a directory from `cisgram train {family}`")
    family = config.get("family")
    if family == "calibrated":
        raise InputError("this is a calibrated run: predictions of a ChromBPNet run mapped onto a dataset's target, "
                         "with no model of its own", path=d, hint=f"load its source run ({config.get('run')})")
    if family == "get-pretrained":
        raise InputError("this is a pre-trained GET model: its expression head has not been trained", path=d,
                         hint="fine-tune it first: cisgram train get --init DIR (or --lora --lora-base pretrained)")
    opener = _OPENERS.get(family)
    if opener is None:
        raise InputError(f"unknown model family {family!r} in config.json", path=d / "config.json",
                         hint=f"cisgram opens {', '.join(_OPENERS)} runs")
    return opener(d, config)
