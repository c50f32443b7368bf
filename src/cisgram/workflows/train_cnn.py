"""``cisgram train cnn``: a sequence CNN on a dataset's peaks (and GC-matched background windows),
into a run directory with ``history.json``; returns a :class:`~cisgram.results.CNNResult` (drawn
by :func:`cisgram.report.cnn.cnn_report`).

Besides the shared metrics, each split and target of ``metrics.json`` holds
``most_common_share`` (the share of its rows on the single most common predicted value, exact
float equality) and ``dead_share`` (the share whose output layer reads only zeros on both
strands: a dense layer with every ReLU off, which outputs its bias whatever the sequence);
a ``most_common_share`` above 1 % is logged as a warning (:func:`output_floor`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from cisgram.data.targets import SequenceTargets, sequence_targets
from cisgram.data.windows import SequenceWindows
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.interpret.attribution import input_x_gradient
from cisgram.metrics import most_common_share
from cisgram.models.cnn import CNNModel, build, new_spec
from cisgram.results import CNNResult
from cisgram.training import TrainConfig, fit
from cisgram.workflows.rundir import (
    begin_run,
    end_run,
    finish_run,
    metrics_table,
    path_entries,
    predictions_table,
    request_paths,
    start_run,
)

log = logging.getLogger(__name__)

#: a split whose most common predicted value holds more than this share of its rows is warned about
FLOOR_SHARE = 0.01


def train_cnn(dataset, out, *, arch: str = "deepsea", task: str = "regression", signal: str = "logcounts",
              targets: Sequence[str] = (), vs: str | None = None, length: int = 1000, background: float = 1.0,
              jitter: int = 20, rc: bool = True, arch_params: dict | None = None, config=None, genome=None,
              device: str = "cpu", progress: Callable[[str], None] | None = None,
              resume: bool = False) -> CNNResult | None:
    """A sequence CNN on a dataset's peaks (and GC-matched background windows,
    :mod:`cisgram.data.targets`), windows of ``length`` bp cut from the genome on the fly with
    ``±jitter`` shifts and strand flips (``rc``) in training. Returns the result, or None in the
    extra processes of a distributed run (only the first one writes the run).

    The last completed epoch is kept in ``out/checkpoint/`` until the run is written; ``resume``
    continues an interrupted run from there (:func:`~cisgram.workflows.rundir.begin_run`)."""
    cfg = config or TrainConfig(task=task)
    if cfg.task != task:
        raise ValueError("config.task and task differ")
    if length < 50:
        raise InputError(f"--length {length} is too short for a sequence model", hint="use 200 bp or more")
    checkpoints = begin_run(out, {"command": "train cnn", **request_paths(dataset=dataset, genome=genome), "arch": arch,
                                  "task": task, "signal": signal, "targets": list(targets), "vs": vs, "length": length,
                                  "background": background, "jitter": jitter, "rc": rc, "arch_params": arch_params,
                                  "training": cfg.resumable()}, resume=resume)
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

    spec = new_spec(arch, T, length, **(arch_params or {}))
    try:
        net = build(spec, seed=cfg.seed)
    except ValueError as e:
        msg = str(e)
        raise InputError(msg if msg.startswith("cannot build") else f"cannot build a {arch!r} network: {msg}") from None
    if task == "classification":  # start from the base rate, not from 1/2
        rate = np.clip(np.nanmean(data.Y[train], 0), 1e-3, 1 - 1e-3)
        with torch.no_grad():
            net.output.bias.copy_(torch.as_tensor(np.log(rate / (1 - rate)), dtype=torch.float32))
    if progress:
        progress(f"training a {arch} network on {int(train.sum()):,} regions ({len(data.targets)} task(s), "
                 f"{length} bp windows)")
    result = fit(net, windows(train, True), windows(data.split == "val", False), cfg, checkpoint=checkpoints / "cnn",
                 resume=resume)
    if not result.is_global_zero:
        return None
    model = CNNModel(result.net, spec, task, data.targets, mean, std)
    with model.recording_silence() as silent:
        pred = predict(model, windows(np.ones(len(Ys), bool), False), device=device)
    conf = {**path_entries(dataset=dataset, genome=data.genome), "arch": arch, "task": task,
            "signal": signal if task == "regression" else None, "targets": list(targets), "vs": vs, "length": length,
            "background": background, "jitter": jitter, "rc": rc, "target_params": data.target_params, "spec": spec,
            "training": cfg.to_dict()}
    kinds = dict(zip(data.regions["region"], data.regions["kind"], strict=True))

    def subsets(preds: pd.DataFrame) -> dict[str, np.ndarray]:
        kind = preds["region"].map(kinds).to_numpy()
        return {"peaks": kind == "peak"} if task == "regression" and (kind == "background").any() else {}

    history = {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "seconds": result.seconds,
               "world_size": result.world_size, "epochs": result.history}
    d = start_run(out)
    preds = predictions_table(data, pred)
    metrics = metrics_table(preds, "cnn", task=task, subsets=subsets(preds))
    output_floor(metrics, preds, dict(zip(data.regions["region"], np.concatenate([np.zeros(0, bool), *silent]),
                                          strict=True)))
    finish_run(d, config={"family": "cnn", **conf}, split=data.split_dict, metrics=metrics, predictions=preds,
               save_model=model.save, extra={"history.json": history})
    end_run(out)
    logos = attribution_logos(model, windows, data, pred, device=device)
    return CNNResult(out, "cnn", {"family": "cnn", **conf}, metrics, preds, arch=arch, task=task, history=history,
                     logos=logos)


def output_floor(metrics: dict, preds: pd.DataFrame, dead: dict[str, bool]) -> dict[tuple[str, str], float]:
    """Add ``most_common_share`` and ``dead_share`` (``dead``: region -> its output layer read only
    zeros, :meth:`~cisgram.models.cnn.CNNModel.recording_silence`) to each split's entry of each
    target in ``metrics`` (in place), log a warning for every split and target whose
    ``most_common_share`` is above :data:`FLOOR_SHARE`, and return those shares."""
    flagged = {}
    for (split, target), g in preds.groupby(["split", "target"], sort=False):
        m = metrics.get(split, {}).get(target)
        if m is None:
            continue
        m["most_common_share"] = share = most_common_share(g["predicted"].to_numpy())
        m["dead_share"] = float(g["region"].map(dead).eq(True).mean())
        if share > FLOOR_SHARE:
            flagged[split, target] = share
            log.warning("%s, %s: %.1f %% of the rows get one predicted value (%.1f %% with the output layer "
                        "reading only zeros): the network cannot tell those sequences apart", split, target,
                        100 * share, 100 * m["dead_share"])
    return flagged


def attribution_logos(model, windows, data: SequenceTargets, pred: np.ndarray, *, n: int = 3, width: int = 60,
                      device: str = "cpu") -> list[tuple[str, np.ndarray]]:
    """Input × gradient (first target) of the ``n`` highest-predicted test regions, each cut to
    its most important ``width`` bp: ``[(title, contributions (width, 4))]`` for the run report."""
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
