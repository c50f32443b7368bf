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

from cisgram.errors import InputError
from cisgram.evaluate import regression_metrics
from cisgram.files import atomic_path, atomic_write

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class TrainingData:
    """A dataset's regions, sequences and targets: ``codes`` ``(R, L)``, ``Y`` ``(R, T)`` in
    [0, 1] (NaN where a target does not model the region), ``split`` ``(R,)`` labels."""

    regions: pd.DataFrame
    codes: np.ndarray
    Y: np.ndarray
    split: np.ndarray
    targets: list[str]
    target_params: list[dict]
    genome: str
    split_dict: dict


def training_data(dataset: str | os.PathLike, targets: Sequence[str], *, vs: str | None = None,
                  genome: str | os.PathLike | None = None, min_tss_distance: float = 5000.0) -> TrainingData:
    """Load a dataset from ``cisgram prepare`` with one column per target (``vs`` makes each
    target the dAP ``target − vs`` on distal regions) and the sequences of its regions."""
    from cisgram.data.dataset import dataset_info, dataset_target, read_dataset
    from cisgram.genome import Genome

    if not targets:
        raise InputError("no target given", hint="pass --target CONDITION (one or more)")
    if len(set(targets)) != len(targets):
        raise InputError(f"a target is given twice: {', '.join(targets)}")
    adata = read_dataset(dataset)
    info = dataset_info(adata)
    gpath = str(genome or info["inputs"]["genome"])
    if not Path(gpath).exists():
        raise InputError(f"the dataset's genome {gpath} is not there", path=dataset, hint="pass --genome")
    cols, names, params = [], [], []
    split = adata.var["split"].astype(str).to_numpy()
    for t in targets:
        tg = dataset_target(adata, t, vs=vs, min_tss_distance=min_tss_distance)
        cols.append(np.where(tg.mask, tg.y, np.nan))
        names.append(tg.name)
        params.append(tg.params)
    v = adata.var
    g = Genome(gpath)
    widths = (v["end"] - v["start"]).unique()
    if len(widths) != 1:
        raise InputError("the dataset's regions have different widths", path=dataset)
    codes = g.fetch_codes_batch(v["chrom"].to_numpy(), v["start"].to_numpy(), v["end"].to_numpy())
    regions = v[["chrom", "start", "end"]].reset_index()
    return TrainingData(regions, codes, np.column_stack(cols), split, names, params, gpath, info["split"])


def _write_json(path: Path, obj) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=1, default=float)


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
    from cisgram.evaluate import classification_metrics

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
    _write_json(d / "config.json", {"family": family, **config})
    _write_json(d / "split.json", data.split_dict)
    with atomic_path(d / "predictions.parquet") as tmp:
        preds.to_parquet(tmp, index=False)
    for name, obj in (extra or {}).items():
        _write_json(d / name, obj)
    save_model(d)
    if report is not None:
        report(d / "report.html", preds, metrics)
    _write_json(d / "metrics.json", metrics)
    return metrics


# ------------------------------------------------------------------------------------ families


def track_covariates(tracks: dict[str, str], regions: pd.DataFrame) -> np.ndarray:
    """``(N, K)`` extra covariates of an IQ model: per track ``log(1 + mean signal)`` of a bigWig
    over each region (``chrom, start, end``; bases without data count as 0)."""
    from cisgram.tracks import bigwig_coverage

    cols = [np.log1p(np.clip(bigwig_coverage(path, regions, "mean"), 0, None)) for path in tracks.values()]
    return np.column_stack(cols) if cols else np.zeros((len(regions), 0))


def _parse_tracks(tracks) -> dict[str, str]:
    """``NAME=FILE.bw`` strings (or a dict) -> ``{name: path}``, each file checked."""
    out: dict[str, str] = {}
    for item in (tracks.items() if isinstance(tracks, dict) else (str(t).split("=", 1) for t in tracks or ())):
        item = list(item)
        if len(item) != 2 or not item[0] or not item[1]:
            raise InputError(f"a track covariate is NAME=FILE.bw, got {'='.join(item)!r}")
        name, path = str(item[0]).strip(), str(item[1]).strip()
        if name in out:
            raise InputError(f"track covariate {name!r} is given twice")
        if not Path(path).is_file():
            raise InputError("track covariate file not found", path=path)
        out[f"track:{name}"] = path
    return out


def train_iq(dataset, targets: Sequence[str], out, *, vs: str | None = None, motifs: str = "jaspar:2024/CORE/vertebrates",
             config=None, genome=None, tracks=None, progress: Callable[[str], None] | None = None) -> dict:
    """``cisgram train iq``: the IQ pipeline on a dataset's training regions; returns the metrics.
    ``tracks`` (``NAME=FILE.bw`` strings or ``{name: path}``) add covariates: log(1 + mean signal)
    of each bigWig over each region (IceQream's additional features, e.g. an epigenomic mark)."""
    from cisgram.models.iq_train import IQConfig, fit_iq
    from cisgram.motifs.pwm import load_motifs
    from cisgram.report import iq_report

    cfg = config or IQConfig()
    track_paths = _parse_tracks(tracks)
    data = training_data(dataset, targets, vs=vs, genome=genome)
    db = load_motifs(motifs)
    extra = track_covariates(track_paths, data.regions) if track_paths else None
    fitted = fit_iq(data.codes, data.Y, data.split == "train", db, targets=data.targets, config=cfg,
                    extra=(list(track_paths), extra) if track_paths else None, extra_sources=track_paths,
                    val=data.split == "val", progress=progress)
    pred = fitted.model.predict(data.codes, extra)
    conf = {"dataset": str(dataset), "targets": list(targets), "vs": vs, "motifs": motifs, "genome": data.genome,
            "target_params": data.target_params, "iq": fitted.model.info["config"], "tracks": track_paths}
    return write_run(out, "iq", conf, data, pred, fitted.model.save,
                     lambda path, preds, metrics: iq_report(path, fitted, data, preds, metrics, db),
                     {"pipeline.json": {"stages": fitted.stages, "clusters": fitted.clusters,
                                        "contributions": fitted.contributions}})


def train_baseline(dataset, targets: Sequence[str], out, *, kind: str, vs: str | None = None,
                   motifs: str = "jaspar:2024/CORE/vertebrates", genome=None, seed: int = 0) -> dict:
    """``cisgram train baseline``: one baseline per target on the same split, one run directory."""
    from cisgram.models.baselines import fit_baseline
    from cisgram.motifs.pwm import load_motifs
    from cisgram.report import baseline_report

    data = training_data(dataset, targets, vs=vs, genome=genome)
    db = load_motifs(motifs) if kind == "motif-lasso" else None
    models, pred = [], np.full(data.Y.shape, np.nan)
    for t in range(len(data.targets)):
        m = fit_baseline(kind, data.codes, data.Y[:, t], data.split == "train", data.split == "val", motifs=db, seed=seed)
        models.append(m)
        pred[:, t] = m.predict(data.codes)

    def save(d: Path) -> None:
        for name, m in zip(data.targets, models, strict=True):
            m.save(d / "targets" / name)
        _write_json(d / "model.json", {"family": "baseline", "kind": kind, "targets": data.targets})

    conf = {"dataset": str(dataset), "targets": list(targets), "vs": vs, "kind": kind, "seed": seed, "genome": data.genome,
            "motifs": motifs if kind == "motif-lasso" else None, "target_params": data.target_params}
    return write_run(out, "baseline", conf, data, pred, save,
                     lambda path, preds, metrics: baseline_report(path, kind, preds, metrics))


def train_cnn(dataset, out, *, arch: str = "deepsea", task: str = "regression", signal: str = "logcounts",
              targets: Sequence[str] = (), vs: str | None = None, length: int = 1000, background: float = 1.0,
              jitter: int = 20, rc: bool = True, arch_params: dict | None = None, config=None, genome=None,
              device: str = "cpu", progress: Callable[[str], None] | None = None) -> dict | None:
    """``cisgram train cnn``: a sequence CNN on a dataset's peaks (and GC-matched background
    windows, :mod:`cisgram.data.seqtargets`), windows of ``length`` bp cut from the genome on the
    fly with ``±jitter`` shifts and strand flips (``rc``) in training. Returns the metrics, or
    None in the extra processes of a distributed run (only the first one writes the run)."""
    import torch

    from cisgram.data.seqtargets import sequence_targets
    from cisgram.data.windows import SequenceWindows
    from cisgram.models.cnn import CNNModel, build
    from cisgram.report import cnn_report
    from cisgram.training import TrainConfig, fit

    cfg = config or TrainConfig(task=task)
    if cfg.task != task:
        raise ValueError("config.task and task differ")
    if length < 50:
        raise InputError(f"--length {length} is too short for a sequence model", hint="use 200 bp or more")
    data = sequence_targets(dataset, task=task, signal=signal, targets=targets, vs=vs, background=background,
                            genome=genome, seed=cfg.seed, progress=progress)
    train = data.split == "train"
    T = len(data.targets)
    if task == "regression":
        mean, std = np.nanmean(data.Y[train], 0), np.nanstd(data.Y[train], 0)
        std = np.where(std > 0, std, 1.0)
    else:
        mean, std = np.zeros(T), np.ones(T)
    Ys = ((data.Y - mean) / std).astype(np.float32)
    centre = ((data.regions["start"] + data.regions["end"]) // 2).to_numpy()
    chrom = data.regions["chrom"].to_numpy()

    def windows(mask, shuffle_aug: bool):
        return SequenceWindows(data.genome, chrom[mask], centre[mask], length, Ys[mask],
                               jitter=jitter if shuffle_aug else 0, rc=rc and shuffle_aug, seed=cfg.seed)

    spec = {"arch": arch, "n_tasks": T, "length": length, **(arch_params or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        try:
            net = build(spec)
        except (TypeError, ValueError) as e:
            raise InputError(f"cannot build a {arch!r} network: {e}") from None
    if task == "classification":  # start from the base rate, not from 1/2
        rate = np.clip(np.nanmean(data.Y[train], 0), 1e-3, 1 - 1e-3)
        with torch.no_grad():
            net.output.bias.copy_(torch.as_tensor(np.log(rate / (1 - rate)), dtype=torch.float32))
    if progress:
        progress(f"training a {arch} network on {int(train.sum()):,} regions ({len(data.targets)} task(s), "
                 f"{length} bp windows)")
    result = fit(net, windows(train, True), windows(data.split == "val", False), cfg)
    if not result.is_global_zero:
        return None
    model = CNNModel(result.net, spec, task, data.targets, mean, std)
    pred = model.predict(windows(np.ones(len(Ys), bool), False), device=device)
    conf = {"dataset": str(dataset), "arch": arch, "task": task, "signal": signal if task == "regression" else None,
            "targets": list(targets), "vs": vs, "length": length, "background": background, "jitter": jitter,
            "rc": rc, "genome": data.genome, "target_params": data.target_params, "spec": spec,
            "training": cfg.to_dict()}
    kinds = dict(zip(data.regions["region"], data.regions["kind"], strict=True))

    def subsets(preds: pd.DataFrame) -> dict[str, np.ndarray]:
        kind = preds["region"].map(kinds).to_numpy()
        return {"peaks": kind == "peak"} if task == "regression" and (kind == "background").any() else {}

    history = {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "seconds": result.seconds,
               "world_size": result.world_size, "epochs": result.history}
    logos = _attribution_logos(model, windows, data, pred, device=device)
    return write_run(out, "cnn", conf, data, pred, model.save,
                     lambda path, preds, metrics: cnn_report(path, arch, task, preds, metrics, history, logos),
                     {"history.json": history}, task=task, subsets=subsets)


def _attribution_logos(model, windows, data: TrainingData, pred: np.ndarray, *, n: int = 3, width: int = 60,
                       device: str = "cpu") -> list[tuple[str, np.ndarray]]:
    """Input × gradient (first target) of the ``n`` highest-predicted test regions, each cut to
    its most important ``width`` bp: ``[(title, contributions (width, 4))]`` for the run report."""
    from cisgram.interpret.attribution import input_x_gradient

    test = np.flatnonzero(data.split == "test")
    if test.size == 0:
        return []
    top = test[np.argsort(-pred[test, 0], kind="stable")[:n]]
    mask = np.zeros(len(data.split), bool)
    mask[top] = True
    ds = windows(mask, False)  # in row order
    X = np.stack([ds[i][0].numpy() for i in range(len(ds))])
    A = input_x_gradient(model, X, target=0, device=device)
    out = []
    for row, a in zip(np.flatnonzero(mask), A, strict=True):
        imp = np.abs(a).sum(0)
        w = min(width, imp.size)
        lo = int(np.argmax(np.convolve(imp, np.ones(w), mode="valid")))
        out.append((f"{data.regions['region'].iat[row]} (prediction {pred[row, 0]:.3g}), +{lo}", a[:, lo:lo + w].T))
    return out


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
                             path=self.path, hint="use run.model.predict(X) on windows (cisgram.data.getdata."
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
