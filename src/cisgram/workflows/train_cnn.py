"""``cisgram train cnn``: a sequence CNN on a dataset's peaks (and GC-matched background windows),
into a run directory with ``history.json``; returns a :class:`~cisgram.results.CNNResult` (drawn
by :func:`cisgram.report.cnn.cnn_report`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from cisgram.data.targets import SequenceTargets, sequence_targets
from cisgram.data.windows import SequenceWindows
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.interpret.attribution import input_x_gradient
from cisgram.models.cnn import CNNModel, build
from cisgram.results import CNNResult
from cisgram.training import TrainConfig, fit
from cisgram.workflows.rundir import begin_run, end_run, path_entries, request_paths, write_run


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

    spec = {"arch": arch, "n_tasks": T, "length": length, **(arch_params or {})}
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
    metrics, preds = write_run(out, "cnn", conf, data, pred, model.save, {"history.json": history}, task=task,
                               subsets=subsets)
    end_run(out)
    logos = attribution_logos(model, windows, data, pred, device=device)
    return CNNResult(out, "cnn", {"family": "cnn", **conf}, metrics, preds, arch=arch, task=task, history=history,
                     logos=logos)


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
