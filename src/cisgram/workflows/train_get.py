"""``cisgram train get``: GET's region transformer predicting per-strand transcription initiation
from the motifs and accessibility of a window of regions, trained as GET trains it, from scratch,
after in-run pre-training or from a ``cisgram pretrain get`` model, over several seeds, with
LoRA adaptation, five baselines on the same entries and a run directory (``specs/get.md`` §3, §8).

What :func:`train_get` does
---------------------------
1. **Data.** A :class:`~cisgram.data.get.RegionMotifData` (``.npz`` path or object). The
   *training cell types* are ``cells`` (default: every cell type with targets but ``leave_out``).
2. **Start.** A new network (``config``), or ``init``: the network of a ``cisgram pretrain get``
   directory (:func:`~cisgram.workflows.pretrain_get.load_pretrained`, whose features must be the
   data's), or with ``pretrain=True`` masked-region pre-training inside the run
   (:func:`~cisgram.workflows.pretrain_get.masked_pretraining`, every cell type's inputs).
3. **Fine-tuning** of the whole network on sliding windows over the training blocks of the
   training cell types with GET's loss (``training``, a :class:`~cisgram.training.GETTraining`:
   Poisson loss over every region and strand, non-TSS entries as zeros; optionally the ATAC head
   on the accessibility target; AdamW β 0.9/0.95 without decay on 1-D parameters and tokens,
   per-step warm-up and cosine). Early stopping on the loss of the focus entries of windows
   centred on the validation TSS regions.
4. **Evaluation** on windows centred on each validation and test TSS region, at the focus region
   on its TSS strand(s) (:func:`~cisgram.workflows.get_entries.evaluate_entries`): training cell
   types on held-out blocks, ``leave_out`` on held-out blocks of a cell type never trained on.
   With the ATAC head trained, it is scored on every test region
   (``metrics["accessibility"]``).
5. **Baselines** on the same entries (:func:`~cisgram.models.get_baselines.fit_baselines` for
   ``mean`` — the other cell types' observed values at the entry —, ``linear``,
   ``random_forest``, ``mlp`` from the focus region's features), and ``cnn``, GET's CNN
   baseline (:class:`~cisgram.models.get_cnn.RegionCNN`) trained on the same windows with the
   same loss and optimiser.
6. **LoRA** (``lora=True`` with ``leave_out``): rank-``r`` adapters on a copy of the fine-tuned
   network (``lora_base="finetuned"``) or of the pre-trained one (``"pretrained"``, GET's
   adaptation of a foundation model to a new cell type), trained on the held-out cell type's
   training blocks; the base is checked bit-identical afterwards.
7. **Seeds** (``seeds=N``): steps 2-6 for seeds ``seed … seed + N − 1``. The run's predictions
   and metrics are the seed-averaged ensemble's; ``metrics["seeds"]`` holds each model's
   per-seed metrics with mean ± sd; ``seeds.parquet`` the per-seed predictions. The first seed's
   network is the run's model (``model.safetensors``, what ``cisgram explain get`` reads).

The run directory
-----------------
``config.json``, ``split.json``, ``history.json`` (per-stage epochs of the first seed, all seeds
under ``"seeds"``), ``predictions.parquet`` (``region, cell, target, strand, observed,
predicted, split, model, held_out``), ``seeds.parquet`` (the same with ``seed``, several seeds
only), ``accessibility.parquet`` (ATAC head), ``model.safetensors`` + ``model.json``,
``lora.safetensors`` + ``lora.json`` (with LoRA), ``report.html`` and, last, ``metrics.json``::

    {"family": "get", "leave_out": ..., "held_out": {cell: "blocks" | "cell type and blocks"},
     "val": {cell: {pearson, spearman, r2, pearson_r2, n}}, "test": {...}, "subsets": {"expressed": ...},
     "baselines": {"mean" | "linear" | "random_forest" | "mlp" | "cnn": {"val", "test", "subsets"}},
     "lora": null | {..., "base_unchanged", "test", "before"},
     "accessibility": null | {"target", "test": {cell: {...}}},
     "seeds": {"n", "values", "models": {model: {"val" | "test": {cell: {metric: {mean, sd, values}}}}}}}

Pitfalls
--------
- On chr22 a test split holds a few dozen TSS regions per cell type: correlations over ~50
  entries carry a standard error of about ±0.05-0.1; compare models on seed means.
- ``n_regions`` must fit the training segments (sliding windows) and the chromosomes (TSS
  windows).
- Poisson rates are softplus outputs on ``log10(1 + signal)`` targets, as GET.
- Tiny matrices: torch's default of one thread per core can be many times slower than one
  thread on a busy machine; the caller (the CLI's ``--threads``) chooses.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cisgram.data.get import RegionMotifData
from cisgram.data.get_windows import MASK_RATIO, RegionWindows, tss_windows
from cisgram.errors import InputError
from cisgram.files import atomic_path
from cisgram.metrics import regression_metrics
from cisgram.models.get import GETConfig, GETModel, RegionTransformer
from cisgram.models.get_baselines import BASELINES as FEATURE_BASELINES
from cisgram.models.get_baselines import fit_baselines
from cisgram.models.get_cnn import RegionCNN, RegionCNNConfig
from cisgram.results import GETResult
from cisgram.training import GETTraining, fit, get_loss
from cisgram.workflows.get_entries import (
    accessibility_predictions,
    ensemble,
    evaluate_entries,
    lora_finetune,
    report_gene_by_motif,
    scores,
    seed_spread,
    write_adapter,
)
from cisgram.workflows.pretrain_get import (
    data_request,
    history,
    load_data,
    load_pretrained,
    masked_pretraining,
    resolve_config,
    split_blocks,
)
from cisgram.workflows.rundir import begin_run, end_run, finish_run, path_entries, request_paths, start_run

log = logging.getLogger(__name__)

FAMILY = "get"
BASELINES = (*FEATURE_BASELINES, "cnn")
LORA_BASES = ("finetuned", "pretrained")
COLUMNS = ["region", "cell", "target", "strand", "observed", "predicted", "split", "model", "held_out"]


@dataclass
class Plan:
    """Who trains, who is scored, and against what."""

    train_cells: list[str]
    eval_cells: list[str]
    with_targets: list[str]
    held: dict
    baselines: list[str]
    base: GETModel | None = None
    stages: dict = field(default_factory=dict)


@dataclass
class SeedFit:
    """One seed's networks, predictions and history."""

    net: RegionTransformer
    adapted: torch.nn.Module | None
    lora_base: RegionTransformer | None
    table: pd.DataFrame
    atac: pd.DataFrame | None
    history: dict
    timings: dict


def _plan(data: RegionMotifData, leave_out, cells, lora: bool, lora_base: str, has_base: bool, baselines,
          lora_rank, seeds) -> Plan:
    """Check the request; an :class:`InputError` naming the problem."""
    with_targets = [c for c, ok in zip(data.cell_types, data.has_targets, strict=True) if ok]
    if leave_out is not None:
        data.cell_index(leave_out)
        if leave_out not in with_targets:
            raise InputError(f"cell type {leave_out!r} has no targets, so it cannot be evaluated when held out",
                             hint=f"cell types with targets: {', '.join(with_targets)}")
    if cells:
        for c in cells:
            data.cell_index(c)
        bad = [c for c in cells if c not in with_targets or c == leave_out]
        if bad:
            raise InputError(f"cannot fine-tune on {', '.join(bad)}: no targets, or held out",
                             hint=f"cell types with targets: {', '.join(with_targets)}")
        train_cells = list(dict.fromkeys(cells))
    else:
        train_cells = [c for c in with_targets if c != leave_out]
    if not train_cells:
        raise InputError("no cell type with targets is left to train on",
                         hint="hold out a cell type only when at least two have initiation tracks")
    if lora and leave_out is None:
        raise InputError("LoRA adapts a model to a held-out cell type: give leave_out (--leave-out)")
    if lora_base not in LORA_BASES:
        raise InputError(f"unknown LoRA base {lora_base!r}", hint=f"choose one of {', '.join(LORA_BASES)}")
    if lora and lora_base == "pretrained" and not has_base:
        raise InputError("LoRA from the pre-trained base needs one: give init (--init) or pretrain (--pretrain)")
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise InputError(f"unknown baseline(s) {', '.join(unknown)}", hint=f"choose from {', '.join(BASELINES)}")
    if int(lora_rank) < 1 or int(seeds) < 1:
        raise InputError(f"lora_rank and seeds must be positive integers, got {lora_rank!r} and {seeds!r}")
    eval_cells = [*train_cells, *([leave_out] if leave_out else [])]
    held = {c: "cell type and blocks" if c == leave_out else "blocks" for c in eval_cells}
    return Plan(train_cells, eval_cells, with_targets, held, [b for b in BASELINES if b in set(baselines)])


def _fit_seed(data: RegionMotifData, cfg: GETConfig, plan: Plan, s: int, *, R: int, stride, training: GETTraining,
              tcs: dict, pretrain: bool, lora: bool, lora_base: str, lora_rank: int, lora_alpha: float,
              leave_out, device: str, say: Callable[[str], None], checkpoints: Path, resume: bool) -> SeedFit:
    """Steps 2-6 of the module docstring for seed ``s``; each fit keeps its last completed epoch
    in ``checkpoints/seed<s>-<stage>`` (and with ``resume`` goes on from it)."""
    hist, timings, features = {}, {}, list(data.feature_names)
    keep = {stage: {"checkpoint": checkpoints / f"seed{s}-{stage}", "resume": resume}
            for stage in ("pretrain", "finetune", "cnn", "lora")}
    train_ds = RegionWindows(data, plan.train_cells, split="train", n_regions=R, stride=stride, seed=s)
    val_ds = tss_windows(data, plan.train_cells, split="val", n_regions=R)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s)
        net = copy.deepcopy(plan.base.net).train() if plan.base is not None else RegionTransformer(cfg)
    if pretrain:
        t0 = time.perf_counter()
        net, hist["pretrain"] = masked_pretraining(net, data, R, tcs["pretrain"], training, stride=stride, seed=s,
                                                   say=say, **keep["pretrain"])
        timings["pretrain"] = time.perf_counter() - t0
    start = copy.deepcopy(net).cpu() if (plan.base is not None or pretrain) else None
    t0 = time.perf_counter()
    say(f"seed {s}: fine-tuning on {len(train_ds):,} windows of {R} regions ({', '.join(plan.train_cells)}"
        f"{'; held out: ' + leave_out if leave_out else ''})")
    res = fit(net, train_ds, val_ds, tcs["finetune"], loss=training.loss(), **keep["finetune"])
    net, hist["finetune"] = res.net, history(res)
    timings["finetune"] = time.perf_counter() - t0
    model = GETModel(net, features)
    t0 = time.perf_counter()
    entries = evaluate_entries(model, data, plan.eval_cells, R, device=device)
    tables = [entries.assign(model="get")]
    fitted = fit_baselines(data, plan.train_cells, seed=s, which=[b for b in plan.baselines if b != "cnn"],
                           mean_cells=plan.with_targets)
    for name, (predict_fn, info) in fitted.items():
        plan.stages.setdefault("baselines", {})[name] = info
        tables.append(entries.assign(predicted=np.asarray(predict_fn(entries), dtype=np.float64), model=name))
    if "cnn" in plan.baselines:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            cnn = RegionCNN(RegionCNNConfig(n_features=data.n_features))
        cres = fit(cnn, train_ds, val_ds, tcs["finetune"], loss=get_loss(zero_labels=training.zero_labels),
                   **keep["cnn"])
        hist["cnn"] = history(cres)
        plan.stages.setdefault("baselines", {})["cnn"] = {**cres.net.config.to_dict(), "best_epoch": cres.best_epoch}
        tables.append(evaluate_entries(GETModel(cres.net, features), data, plan.eval_cells, R,
                                       device=device).assign(model="cnn"))
    timings["evaluation_and_baselines"] = time.perf_counter() - t0
    atac = None
    if training.atac_target != "none":
        atac = accessibility_predictions(model, data, plan.eval_cells, R, device=device)
    adapted = lbase = None
    if lora:
        t0 = time.perf_counter()
        lbase = start if lora_base == "pretrained" else net
        say(f"seed {s}: LoRA (rank {lora_rank}, from the {lora_base} model) on {leave_out}'s training blocks")
        adapted, lres = lora_finetune(lbase, data, leave_out, tcs["lora"], n_regions=R, stride=stride, rank=lora_rank,
                                      alpha=lora_alpha, seed=s, loss=training.loss(), **keep["lora"])
        hist["lora"] = history(lres)
        tables.append(evaluate_entries(GETModel(adapted, features), data, [leave_out], R,
                                       device=device).assign(model="get_lora"))
        if lora_base == "pretrained":
            tables.append(evaluate_entries(GETModel(lbase, features), data, [leave_out], R,
                                           device=device).assign(model="get_pretrained"))
        timings["lora"] = time.perf_counter() - t0
    return SeedFit(net, adapted, lbase, pd.concat(tables, ignore_index=True), atac, hist, timings)


def _parquet(path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _atac_metrics(atac: pd.DataFrame | None, target: str) -> dict | None:
    if atac is None:
        return None
    return {"target": target, "test": {c: regression_metrics(g["observed"], g["predicted"])
                                       for c, g in atac.groupby("cell", sort=False)}}


def _metrics(plan: Plan, fits: list[SeedFit], preds: pd.DataFrame, atac, training: GETTraining, leave_out,
             seeds_used: list[int]) -> dict:
    names = list(dict.fromkeys(preds["model"]))
    per_seed = {n: [scores(f.table[f.table["model"] == n]) for f in fits] for n in names}
    return {"family": FAMILY, "leave_out": leave_out, "training_cell_types": plan.train_cells, "held_out": plan.held,
            **scores(preds[preds["model"] == "get"]),
            "baselines": {n: scores(preds[preds["model"] == n]) for n in plan.baselines},
            "lora": None, "accessibility": _atac_metrics(atac, training.atac_target),
            "seeds": {"n": len(fits), "values": seeds_used,
                      "models": {n: seed_spread(v) for n, v in per_seed.items()}}}


def train_get(
    data,
    out: str | os.PathLike,
    *,
    leave_out: str | None = None,
    cells: Sequence[str] | None = None,
    init: str | os.PathLike | None = None,
    config: str | GETConfig = "small",
    config_overrides: dict | None = None,
    n_regions: int = 100,
    stride: int | None = None,
    pretrain: bool = False,
    lora: bool = False,
    lora_rank: int = 8,
    lora_alpha: float = 16.0,
    lora_base: str = "finetuned",
    max_epochs: int = 30,
    patience: int = 5,
    pretrain_epochs: int | None = None,
    lora_epochs: int | None = None,
    baselines: Sequence[str] = BASELINES,
    seeds: int = 1,
    training: GETTraining | None = None,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
    progress_bar: bool = False,
    resume: bool = False,
) -> GETResult:
    """Train, evaluate and compare GET on region-motif data; write a run directory to ``out``
    and return its result (see the module docstring).

    Parameters
    ----------
    data
        A :class:`~cisgram.data.get.RegionMotifData` or its ``.npz`` path.
    out
        The run directory (an earlier run's ``metrics.json`` there is removed first).
    leave_out
        A cell type with targets to hold out of fine-tuning entirely (zero-shot evaluation).
    cells
        The cell types to fine-tune on (default: every one with targets but ``leave_out``); e.g.
        one cell type the pre-trained model never saw the expression of.
    init
        A ``cisgram pretrain get`` directory to start from (its configuration replaces
        ``config``; ``config_overrides`` may change only dropout-like fields).
    config, config_overrides
        ``"small"``, ``"paper"`` (GET's 12 × 768 model) or a :class:`~cisgram.models.get.GETConfig`;
        fields to change, e.g. ``{"dropout": 0.1}``.
    n_regions, stride
        Regions per window (``R``); regions between training windows (default ``R // 2``).
    pretrain, pretrain_epochs
        Masked-region pre-training inside the run first (``pretrain_epochs``, default ``max_epochs``).
    lora, lora_rank, lora_alpha, lora_epochs, lora_base
        Adapt the fine-tuned (``"finetuned"``) or the pre-trained (``"pretrained"``) network to
        ``leave_out`` with LoRA.
    baselines
        Which of :data:`BASELINES` to fit and score (default all five).
    seeds
        Train this many seeds (``seed``, ``seed + 1``, …) and report the ensemble and mean ± sd.
    training
        :class:`~cisgram.training.GETTraining` (default GET's settings).
    max_epochs, patience, batch_size, lr, weight_decay, seed, device, progress, progress_bar
        Training (AdamW, early stopping on the validation loss), the device, one line per stage
        and Lightning's progress bar.
    resume
        Continue an interrupted run in ``out``: every fit (per seed: pre-training, fine-tuning,
        the CNN baseline, LoRA) keeps its last completed epoch in ``out/checkpoint/seed<s>-<stage>/``
        until the run is written; a resumed run gets the finished fits' weights back from there,
        goes on with the interrupted one from its last completed epoch and recomputes the rest
        (evaluation, the feature baselines), ending as an uninterrupted run would.

    Raises
    ------
    InputError
        Unknown or target-less ``leave_out`` or ``cells``, no training cell type, LoRA without
        ``leave_out`` (or from a pre-trained base without one), a pre-trained model of other
        features, a configuration of another width, windows that fit no segment.
    """
    say = progress or (lambda msg: None)
    training = training or GETTraining()
    data, source = load_data(data)
    base = load_pretrained(init, data) if init is not None else None
    cfg, cfg_name = resolve_config(config, data.n_features, config_overrides, base=base.config if base else None)
    if base is not None and config_overrides:
        net = RegionTransformer(cfg)  # the same shapes, other dropout
        net.load_state_dict(base.net.state_dict())
        base = GETModel(net, base.feature_names)
    plan = _plan(data, leave_out, cells, lora, lora_base, base is not None or pretrain, baselines, lora_rank, seeds)
    plan.base = base
    R = int(n_regions)
    accelerator = "cpu" if device == "cpu" else ("gpu" if str(device).startswith("cuda") else "auto")
    common = dict(patience=patience, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                  accelerator=accelerator, progress=progress_bar)
    seeds_used = [int(seed) + k for k in range(int(seeds))]
    checkpoints = begin_run(out, {
        "command": "train get", "data": data_request(source), **request_paths(init=init), "leave_out": leave_out,
        "cells": plan.train_cells, "config": cfg.to_dict(), "n_regions": R, "stride": stride, "pretrain": pretrain,
        "lora": lora, "lora_rank": lora_rank, "lora_alpha": lora_alpha, "lora_base": lora_base, "baselines": plan.baselines,
        "seeds": seeds_used, "max_epochs": max_epochs, "pretrain_epochs": pretrain_epochs, "lora_epochs": lora_epochs,
        "training": training.to_dict(), "optimiser": training.config(max_epochs=max_epochs, seed=seed, **common).resumable(),
    }, resume=resume)
    fits = []
    for s in seeds_used:
        tcs = {stage: training.config(max_epochs=e or max_epochs, seed=s, **common)
               for stage, e in (("pretrain", pretrain_epochs), ("finetune", max_epochs), ("lora", lora_epochs))}
        fits.append(_fit_seed(data, cfg, plan, s, R=R, stride=stride, training=training, tcs=tcs, pretrain=pretrain,
                              lora=lora, lora_base=lora_base, lora_rank=lora_rank, lora_alpha=lora_alpha,
                              leave_out=leave_out, device=device, say=say, checkpoints=checkpoints, resume=resume))
    preds = ensemble([f.table for f in fits])
    preds["held_out"] = preds["cell"].map(plan.held)
    preds["target"] = preds["cell"]
    preds = preds[COLUMNS]
    atac = ensemble([f.atac.assign(strand="", model="get") for f in fits]) if fits[0].atac is not None else None
    metrics = _metrics(plan, fits, preds, atac, training, leave_out, seeds_used)
    conf = {"family": FAMILY, **path_entries(data=source, init=init), "leave_out": leave_out,
            "training_cell_types": plan.train_cells, "config_name": cfg_name, "config": cfg.to_dict(), "n_regions": R,
            "stride": stride, "pretrain": bool(pretrain), "mask_ratio": MASK_RATIO, "lora": bool(lora),
            "lora_rank": int(lora_rank), "lora_alpha": float(lora_alpha), "lora_base": lora_base,
            "max_epochs": max_epochs, "pretrain_epochs": pretrain_epochs, "lora_epochs": lora_epochs,
            "patience": patience, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "seed": seed,
            "seeds": seeds_used, "device": device, "training": training.to_dict(),
            "optimiser": training.config(max_epochs=max_epochs, seed=seed, **common).to_dict(),
            "baselines": plan.stages.get("baselines", {}), "n_features": data.n_features,
            "data_params": {k: data.params.get(k) for k in ("tss_window", "accessibility", "clip", "threshold",
                                                             "motifs", "version")}}
    d = start_run(out)
    for stale in ("lora.safetensors", "lora.json", "seeds.parquet", "accessibility.parquet"):
        (d / stale).unlink(missing_ok=True)  # an earlier run's files do not belong to this one
    first = fits[0]
    if lora:
        metrics["lora"] = write_adapter(d, first.lora_base, first.adapted, preds[preds["model"] == "get_lora"],
                                        preds[(preds["model"] == "get") & (preds["cell"] == leave_out)], leave_out,
                                        lora_rank, lora_alpha, lora_base)
    if len(fits) > 1:
        _parquet(d / "seeds.parquet", pd.concat([f.table.assign(seed=s) for f, s in zip(fits, seeds_used,
                                                                                               strict=True)]))
    if atac is not None:
        _parquet(d / "accessibility.parquet", atac.drop(columns=["strand", "model"]))
    model = GETModel(first.net, list(data.feature_names))
    hist = {**first.history, "timings": first.timings, "seeds": {str(s): {"history": f.history, "timings": f.timings}
                                                                  for f, s in zip(fits, seeds_used, strict=True)}}
    finish_run(d, config=conf, split=split_blocks(data), metrics=metrics, predictions=preds, save_model=model.save,
               extra={"history.json": hist})
    end_run(d)
    return GETResult(d, FAMILY, conf, metrics, preds, history=hist, accessibility=atac,
                     gene_by_motif=report_gene_by_motif(model, data, plan.eval_cells[-1], R, device))
