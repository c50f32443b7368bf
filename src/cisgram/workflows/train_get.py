"""``cisgram train get``: GET's region transformer predicting per-strand transcription initiation
from the motifs and accessibility of a window of regions, with masked-region pre-training,
leave-one-cell-type-out fine-tuning, LoRA adaptation to the held-out cell type, feature
baselines on the same entries, and a run directory (``specs/get.md`` §3, §8).

What :func:`train_get` does
---------------------------
1. **Data.** A :class:`~cisgram.data.get.RegionMotifData` (``.npz`` path or object). The
   *training cell types* are those with targets, ``leave_out`` excepted.
2. **Pre-training** (``pretrain=True``): masked-region reconstruction (half of each window's
   regions replaced by the mask token, :func:`~cisgram.training.masked_mse` on them) on
   sliding windows over the training blocks of **every** cell type, targets or not, with early
   stopping on the validation blocks' masked MSE (windows centred on the validation TSS regions,
   only masked validation regions scored, one fixed mask per window). The held-out cell type's
   *accessibility* on training blocks is therefore seen as input (as GET pre-trains on every cell
   type's chromatin); its *expression* never is.
3. **Fine-tuning** of the whole network (from the pre-trained weights or from scratch) with
   :func:`~cisgram.training.poisson_loss` on the TSS entries of sliding windows over the
   training blocks of the training cell types; early stopping on the Poisson loss of the focus
   entries of windows centred on the validation TSS regions (:func:`~cisgram.data.get_windows.tss_windows`)
   of the training cell types.
4. **Evaluation** on windows centred on each validation and test TSS region: only the focus
   region's entry on its TSS strand(s) is read (:func:`focus_predictions`). Training cell types
   are scored on held-out blocks, ``leave_out`` on held-out blocks of a held-out cell type.
   Metrics (:func:`cisgram.metrics.regression_metrics`) over all TSS entries and, under
   ``subsets.expressed``, over those with a target above 0.
5. **Baselines** on the same entries, from the focus region's ``F`` features plus a strand
   indicator (one model for both strands), fitted on the training-block TSS entries of the
   training cell types:

   - ``mean``: GET's "training-set mean per gene", read as the mean of the *other* training
     cell types' observed targets at the same (region, strand) entry. For ``leave_out`` that is
     every training cell type; for a training cell type the others. It uses measured expression
     of the test gene (in other cell types), which no sequence model sees: it is the reference
     a cell-type-specific model has to beat, not a fair competitor on held-out blocks;
   - ``linear``: ridge regression, its penalty chosen on the validation entries from
     ``1e-3 … 1e5``;
   - ``random_forest``: 10 trees of depth ≤ 10 (scikit-learn);
   - ``mlp``: one hidden layer of 64 ReLU units (scikit-learn, Adam), its L2 penalty (0.1, 1,
     10) and epochs chosen by early stopping on the validation entries.

   The features are used as the model sees them (motif columns divided by their training
   maxima, accessibility in [0, 1]); standardising them instead blows up rare motif columns
   (on chr22 it doubled the ridge's validation error and cost the ridge and the MLP 0.4-0.5
   of test Pearson).
6. **LoRA** (``lora=True`` with ``leave_out``): a copy of the fine-tuned network gets rank-``r``
   adapters on the region embedding and every encoder linear layer
   (:func:`~cisgram.models.lora.apply_lora`; the expression head stays trainable, all else is
   frozen) and is fine-tuned on the held-out cell type's training-block windows, with early
   stopping on its validation TSS windows, then scored on its test entries. The fraction of
   parameters trained and the adapter's size on disk are recorded; the base weights are checked
   bit-identical afterwards.

The run directory
-----------------
``config.json`` (everything to rerun), ``split.json`` (the held-out blocks), ``history.json``
(per-stage epochs), ``predictions.parquet`` (``region, cell, target, strand, observed, predicted,
split, model, held_out``; ``target`` repeats ``cell`` so that every family's tables share
DESIGN's ``target`` column), ``model.safetensors`` + ``model.json`` (the fine-tuned network,
:class:`~cisgram.models.get.GETModel`), ``lora.safetensors`` + ``lora.json`` (the adapter, with
LoRA), ``report.html`` and, last, ``metrics.json``::

    {"family": "get", "leave_out": ..., "held_out": {cell: "blocks" | "cell type and blocks"},
     "val": {cell: {pearson, spearman, r2, pearson_r2, n}}, "test": {cell: {...}},
     "subsets": {"expressed": {"val": {...}, "test": {...}}},
     "baselines": {"mean" | "linear" | "random_forest" | "mlp": {"val", "test", "subsets"}},
     "lora": null | {"cell", "rank", "alpha", "trainable_parameters", "total_parameters",
                     "fraction_trained", "adapter_bytes", "base_unchanged", "test", "subsets",
                     "before": {...the fine-tuned model on the same entries...}}}

Pitfalls
--------
- On one chromosome split into 1 Mb blocks (chr22) a test split holds a few dozen TSS regions
  per cell type: correlations over ~50 entries carry a standard error of about ±0.05-0.1.
- ``n_regions`` must fit the training segments (sliding windows) and the chromosomes (TSS
  windows); there is no positional encoding by default, so the windows of training and
  evaluation need not have the same size, but they do here.
- Poisson rates are softplus outputs on ``log10(1 + signal)`` targets, as GET.
- AdamW decays every parameter (GET exempts 1-D parameters and tokens), and the learning rate
  is flat (GET warms up and follows a cosine): :func:`cisgram.training.fit` as for the CNNs.
- On chr22 (~400 training TSS entries per cell type) the fine-tuned small model overfits within
  a few epochs and the kept epoch varies with the seed (test Pearson spread ±0.05-0.1); it does
  not beat the feature baselines there, and never the other cell types' mean.
- Tiny matrices: torch's default of one thread per core can be many times slower than one
  thread on a machine with other work; the caller (the CLI's ``--threads``) chooses.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from cisgram.data.get import STRANDS, RegionMotifData
from cisgram.data.get_windows import MASK_RATIO, MaskedWindows, RegionWindows, tss_windows
from cisgram.errors import InputError
from cisgram.files import atomic_path, write_json
from cisgram.inference import predict
from cisgram.interpret.jacobian import gene_by_motif
from cisgram.metrics import regression_metrics
from cisgram.models.get import GETConfig, GETModel, RegionTransformer, count_parameters
from cisgram.models.get_baselines import BASELINES, fit_baselines
from cisgram.models.lora import apply_lora, lora_state_dict
from cisgram.results import GETResult
from cisgram.training import TrainConfig, expression_loss, fit, pretrain_loss
from cisgram.workflows.rundir import finish_run, path_entries, start_run

log = logging.getLogger(__name__)


FAMILY = "get"
LORA_TARGETS = ("region_embed", "encoder")
LORA_TRAINABLE = ("expression_head",)
SPLITS_SCORED = ("val", "test")


# --------------------------------------------------------------------------------------------
# Predictions at focus entries
# --------------------------------------------------------------------------------------------
def focus_predictions(model: GETModel, windows: RegionWindows, *, batch_size: int = 64,
                      device: str = "cpu") -> pd.DataFrame:
    """The model's prediction at each window's focus region, on each strand holding a TSS.

    ``windows`` from :func:`~cisgram.data.get_windows.tss_windows`. Returns one row per (window,
    TSS strand): ``row`` (region row in the data), ``region`` (name), ``cell``, ``strand``
    (``+``/``-``), ``observed``, ``predicted``, ``split``.
    """
    data = windows.data
    names = data.regions["name"].to_numpy(dtype=str)
    split = data.split
    parts = []
    for b in DataLoader(windows, batch_size=batch_size, shuffle=False):
        if (b.focus < 0).any():
            raise InputError("focus_predictions needs windows with a focus region (tss_windows)")
        pos = b.positions if model.config.distance_encoding else None
        pred = predict(model, b.x, pos, batch_size=batch_size, device=device)
        k = np.arange(len(b.focus))
        f = b.focus.numpy()
        row = b.first.numpy() + f
        has = b.has_tss.numpy()[k, f]
        obs, pr = b.y.numpy()[k, f], pred[k, f]
        cells = np.asarray(b.cell_name, dtype=object)
        for s, strand in enumerate(STRANDS):
            sel = has[:, s]
            parts.append(pd.DataFrame({"row": row[sel], "region": names[row[sel]], "cell": cells[sel], "strand": strand,
                                       "observed": obs[sel, s], "predicted": pr[sel, s], "split": split[row[sel]]}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["cell", "row", "strand"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def _scores(preds: pd.DataFrame) -> dict:
    """``{"val": {cell: m}, "test": {...}, "subsets": {"expressed": {...}}}`` of one model."""

    def table(p: pd.DataFrame) -> dict:
        return {s: {c: regression_metrics(g["observed"], g["predicted"])
                    for c, g in p[p["split"] == s].groupby("cell", sort=False)} for s in SPLITS_SCORED}

    ok = preds[np.isfinite(preds["predicted"].to_numpy(np.float64))]
    return {**table(ok), "subsets": {"expressed": table(ok[ok["observed"] > 0])}}


# --------------------------------------------------------------------------------------------
# Training stages
# --------------------------------------------------------------------------------------------
def _history(result) -> dict:
    return {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "seconds": result.seconds,
            "epochs": result.history}


def _train_config(*, max_epochs, patience, batch_size, lr, weight_decay, seed, device, progress_bar):
    accelerator = "cpu" if device == "cpu" else ("gpu" if str(device).startswith("cuda") else "auto")
    return TrainConfig(max_epochs=max_epochs, patience=patience, batch_size=batch_size, lr=lr,
                       weight_decay=weight_decay, seed=seed, accelerator=accelerator, progress=progress_bar)


def lora_finetune(net: RegionTransformer, data: RegionMotifData, cell: str, config, *, n_regions: int = 100,
                  stride: int | None = None, rank: int = 8, alpha: float = 16.0, seed: int = 0):
    """Adapt a copy of ``net`` to ``cell`` with LoRA (``net`` is left as it is).

    The copy gets rank-``rank`` adapters on the region embedding and the encoder's linear
    layers, the expression head stays trainable, everything else is frozen; it is trained
    (:func:`cisgram.training.fit` with ``config``, a :class:`~cisgram.training.TrainConfig`) on
    ``cell``'s training-block windows with early stopping on its validation TSS windows.
    Returns ``(adapted network, FitResult)``.
    """
    adapted = apply_lora(copy.deepcopy(net).cpu(), rank, alpha, targets=LORA_TARGETS, trainable=LORA_TRAINABLE)
    train = RegionWindows(data, [cell], split="train", n_regions=n_regions, stride=stride, seed=seed)
    val = tss_windows(data, [cell], split="val", n_regions=n_regions)
    result = fit(adapted, train, val, config, loss=expression_loss)
    return result.net, result


def _base_unchanged(base: RegionTransformer, adapted: torch.nn.Module) -> bool:
    """Every parameter of ``adapted`` that is neither an adapter nor trainable equals ``base``'s
    (LoRA layers hold the base layer under ``.base``)."""
    ref = base.state_dict()
    for name, p in adapted.named_parameters():
        if name.endswith((".lora_A", ".lora_B")) or p.requires_grad:
            continue
        key = name.replace(".base.", ".")
        if key not in ref or not torch.equal(ref[key].cpu(), p.detach().cpu()):
            return False
    return True


def _resolve(config, n_features: int, overrides: dict | None) -> tuple[GETConfig, str]:
    if isinstance(config, GETConfig):
        if config.n_features != n_features:
            raise InputError(f"the GET configuration takes {config.n_features} features per region, the data have "
                             f"{n_features}", hint=f"build it with n_features={n_features}")
        base, name = config, "custom"
    elif config == "small":
        base, name = GETConfig.small(n_features=n_features), config
    elif config == "paper":
        base, name = GETConfig.paper(n_features=n_features), config
    else:
        raise InputError(f"unknown GET configuration {config!r}", hint="use 'small', 'paper' or a GETConfig")
    if overrides:
        if "n_features" in overrides:
            raise InputError("n_features comes from the data and cannot be overridden")
        base = GETConfig.from_dict({**base.to_dict(), **overrides})
    return base, name


def test_gene_by_motif(model: GETModel, data: RegionMotifData, cell: str, R: int, device: str,
                        n: int = 30) -> pd.DataFrame | None:
    """Gene-by-motif (input × gradient, mean over the window) of up to ``n`` test TSS entries of
    ``cell`` with the highest predictions, for the run report; None without test TSS regions."""
    if not data.has_tss[data.split == "test"].any():
        return None
    w = tss_windows(data, [cell], split="test", n_regions=R, require_targets=False)
    ent = [(w.window(i)[1], w.window(i)[2], s) for i in range(len(w)) for s in (0, 1)
           if data.has_tss[w.window(i)[1] + w.window(i)[2], s]]
    X = np.stack([data.features(cell, slice(f, f + R)) for f, _, _ in ent])
    foc = np.array([c for _, c, _ in ent])
    st = np.array([s for _, _, s in ent])
    pred = predict(model, X, device=device)[np.arange(len(ent)), foc, st]
    keep = np.argsort(-pred, kind="stable")[:n]
    g = gene_by_motif(model, X[keep], foc[keep], strand=st[keep], device=device) / R
    cols = ("tss_plus", "tss_minus")
    names = [f"{data.regions[cols[st[k]]].iat[ent[k][0] + ent[k][1]] or data.regions['name'].iat[ent[k][0] + ent[k][1]]}"
             f" ({STRANDS[st[k]]})" for k in keep]
    return pd.DataFrame(g, index=pd.Index(names, name="gene"), columns=list(data.feature_names))


def _load(data) -> tuple[RegionMotifData, str]:
    if isinstance(data, RegionMotifData):
        return data, "<RegionMotifData>"
    if isinstance(data, (str, os.PathLike)):
        return RegionMotifData.read(data), str(data)
    raise InputError(f"train_get needs a region-motif .npz path or RegionMotifData, got {type(data).__name__}")


def _split_blocks(data: RegionMotifData) -> dict:
    seg = data.segments()
    r = data.regions
    blocks = [{"chrom": str(c), "start": int(r["start"].iat[a]), "end": int(r["end"].iat[b - 1]), "split": str(s),
               "regions": int(b - a)} for c, a, b, s in seg[["chrom", "first", "stop", "split"]].itertuples(index=False)]
    return {"kind": "region blocks of the region-motif data", "counts": data.summary()["split"], "blocks": blocks}


def train_get(
    data,
    out: str | os.PathLike,
    *,
    leave_out: str | None = None,
    config: str | GETConfig = "small",
    config_overrides: dict | None = None,
    n_regions: int = 100,
    stride: int | None = None,
    pretrain: bool = False,
    lora: bool = False,
    lora_rank: int = 8,
    lora_alpha: float = 16.0,
    max_epochs: int = 30,
    patience: int = 5,
    pretrain_epochs: int | None = None,
    lora_epochs: int | None = None,
    baselines: Sequence[str] = BASELINES,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
    progress_bar: bool = False,
) -> GETResult:
    """Train, evaluate and compare GET on region-motif data; write a run directory to ``out``
    and return its metrics (see the module docstring).

    Parameters
    ----------
    data
        A :class:`~cisgram.data.get.RegionMotifData` or its ``.npz`` path.
    out
        The run directory (an earlier run's ``metrics.json`` there is removed first).
    leave_out
        A cell type with targets to hold out of fine-tuning entirely (zero-shot evaluation);
        ``None`` trains on every cell type with targets.
    config
        ``"small"``, ``"paper"`` (GET's 12 × 768 model) or a :class:`~cisgram.models.get.GETConfig`
        with the data's ``n_features``.
    config_overrides
        Fields of the configuration to change, e.g. ``{"dropout": 0.1}``.
    n_regions
        Regions per window (``R``) in training and evaluation.
    stride
        Regions between the starts of training windows (default ``R // 2``; each epoch moves
        every window by a random jitter of up to ``stride // 2``). A smaller stride gives more,
        overlapping windows per epoch: more optimiser steps on short chromosomes.
    pretrain
        Masked-region pre-training first (``pretrain_epochs``, default ``max_epochs``).
    lora, lora_rank, lora_alpha, lora_epochs
        Adapt the fine-tuned model to ``leave_out`` with LoRA (needs ``leave_out``).
    baselines
        Which of :data:`BASELINES` to fit and score (default all).
    max_epochs, patience, batch_size, lr, weight_decay, seed
        Training (AdamW, early stopping on the validation loss; windows per batch).
    device
        ``cpu``, ``cuda[:N]`` or ``auto``, for training and predictions.
    progress
        Called with one line per stage.
    progress_bar
        Lightning's progress bar (for the CLI).

    Raises
    ------
    InputError
        Unknown or target-less ``leave_out``, no training cell type left, ``lora`` without
        ``leave_out``, a configuration of another width, windows that fit no segment.
    """
    say = progress or (lambda msg: None)
    data, source = _load(data)
    cfg, cfg_name = _resolve(config, data.n_features, config_overrides)
    train_cells = _check_cells(data, leave_out, lora, baselines, lora_rank)
    R = int(n_regions)
    common = dict(patience=patience, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                  device=device, progress_bar=progress_bar)
    ft_cfg = _train_config(max_epochs=max_epochs, **common)
    history: dict = {}
    timings: dict = {}
    # windows first: bad sizes fail before any training
    train_ds = RegionWindows(data, train_cells, split="train", n_regions=R, stride=stride, seed=seed)
    val_ds = tss_windows(data, train_cells, split="val", n_regions=R)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RegionTransformer(cfg)
    if pretrain:
        t0 = time.perf_counter()
        net, history["pretrain"] = pretrain_masked(net, data, R, _train_config(max_epochs=pretrain_epochs or max_epochs,
                                                                               **common), stride=stride, seed=seed, say=say)
        timings["pretrain"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say(f"fine-tuning on {len(train_ds):,} windows of {R} regions ({', '.join(train_cells)}"
        f"{'; held out: ' + leave_out if leave_out else ''})")
    res = fit(net, train_ds, val_ds, ft_cfg, loss=expression_loss)
    net, history["finetune"] = res.net, _history(res)
    timings["finetune"] = time.perf_counter() - t0
    model = GETModel(net, list(data.feature_names))

    t0 = time.perf_counter()
    eval_cells = [*train_cells, *([leave_out] if leave_out else [])]
    held = {c: "cell type and blocks" if c == leave_out else "blocks" for c in eval_cells}
    entries = evaluate_entries(model, data, eval_cells, R, device=device)
    say(f"scored {len(entries):,} validation and test TSS entries; fitting the baselines")
    tables = [entries.assign(model="get")]
    fitted = fit_baselines(data, train_cells, seed=seed, which=baselines)
    for name, (predict_fn, _info) in fitted.items():
        tables.append(entries.assign(predicted=np.asarray(predict_fn(entries), dtype=np.float64), model=name))
    timings["evaluation_and_baselines"] = time.perf_counter() - t0
    adapted = None
    if lora:
        t0 = time.perf_counter()
        say(f"LoRA (rank {lora_rank}) on {leave_out}'s training blocks")
        adapted, lres = lora_finetune(net, data, leave_out, _train_config(max_epochs=lora_epochs or max_epochs, **common),
                                      n_regions=R, stride=stride, rank=lora_rank, alpha=lora_alpha, seed=seed)
        history["lora"] = _history(lres)
        tables.append(evaluate_entries(GETModel(adapted, list(data.feature_names)), data, [leave_out], R,
                                       device=device).assign(model="get_lora"))
        timings["lora"] = time.perf_counter() - t0
    preds = pd.concat(tables, ignore_index=True)
    preds["held_out"] = preds["cell"].map(held)
    preds["target"] = preds["cell"]
    preds = preds[["region", "cell", "target", "strand", "observed", "predicted", "split", "model", "held_out"]]
    metrics = {"family": FAMILY, "leave_out": leave_out, "training_cell_types": train_cells, "held_out": held,
               **_scores(preds[preds["model"] == "get"]),
               "baselines": {name: _scores(preds[preds["model"] == name]) for name in fitted}, "lora": None}
    conf = {"family": FAMILY, **path_entries(data=source), "leave_out": leave_out, "training_cell_types": train_cells,
            "config_name": cfg_name, "config": cfg.to_dict(), "n_regions": R, "stride": stride, "pretrain": bool(pretrain),
            "mask_ratio": MASK_RATIO, "lora": bool(lora), "lora_rank": int(lora_rank), "lora_alpha": float(lora_alpha),
            "max_epochs": max_epochs, "pretrain_epochs": pretrain_epochs, "lora_epochs": lora_epochs,
            "patience": patience, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "seed": seed,
            "device": device, "training": ft_cfg.to_dict(), "baselines": {k: v[1] for k, v in fitted.items()},
            "n_features": data.n_features, "data_params": {k: data.params.get(k) for k in
                                                           ("tss_window", "accessibility", "clip", "threshold",
                                                            "motifs", "version")}}
    d = start_run(out)
    metrics["lora"] = _write_adapter(d, net, adapted, preds, leave_out, lora_rank, lora_alpha) if lora else None
    if not lora:  # an earlier run's adapter does not belong to this model
        for stale in ("lora.safetensors", "lora.json"):
            (d / stale).unlink(missing_ok=True)
    finish_run(d, config=conf, split=_split_blocks(data), metrics=metrics, predictions=preds, save_model=model.save,
               extra={"history.json": {**history, "timings": timings}})
    return GETResult(d, FAMILY, conf, metrics, preds, history=history,
                     gene_by_motif=test_gene_by_motif(model, data, eval_cells[-1], R, device))


def _check_cells(data: RegionMotifData, leave_out, lora: bool, baselines, lora_rank) -> list[str]:
    """The training cell types; an :class:`InputError` for an unusable ``leave_out``, LoRA without
    one, unknown baselines or a bad rank."""
    with_targets = [c for c, ok in zip(data.cell_types, data.has_targets, strict=True) if ok]
    if leave_out is not None:
        data.cell_index(leave_out)
        if leave_out not in with_targets:
            raise InputError(f"cell type {leave_out!r} has no targets, so it cannot be evaluated when held out",
                             hint=f"cell types with targets: {', '.join(with_targets)}")
    train_cells = [c for c in with_targets if c != leave_out]
    if not train_cells:
        raise InputError("no cell type with targets is left to train on",
                         hint="hold out a cell type only when at least two have initiation tracks")
    if lora and leave_out is None:
        raise InputError("LoRA adapts the fine-tuned model to a held-out cell type: give leave_out (--leave-out)")
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise InputError(f"unknown baseline(s) {', '.join(unknown)}", hint=f"choose from {', '.join(BASELINES)}")
    if int(lora_rank) < 1:
        raise InputError(f"lora_rank must be a positive integer, got {lora_rank!r}")
    return train_cells


def pretrain_masked(net: RegionTransformer, data: RegionMotifData, R: int, config, *, stride: int | None = None,
                    seed: int = 0, say: Callable[[str], None] = lambda msg: None) -> tuple[RegionTransformer, dict]:
    """Masked-region pre-training on every cell type's training blocks (targets or not), early
    stopping on the validation blocks' masked MSE: ``(network, history)``."""
    cells = list(data.cell_types)
    train = MaskedWindows(RegionWindows(data, cells, split="train", n_regions=R, stride=stride, seed=seed,
                                        require_targets=False), seed=seed)
    val = MaskedWindows(tss_windows(data, cells, split="val", n_regions=R, require_targets=False), seed=seed, fixed=True)
    say(f"pre-training (masked regions, ratio {MASK_RATIO}) on {len(train):,} windows of {R} regions "
        f"({len(cells)} cell types)")
    res = fit(net, train, val, config, loss=pretrain_loss)
    say(f"pre-training kept epoch {res.best_epoch} (validation masked MSE {res.best_val_loss:.4f})")
    return res.net, _history(res)


def evaluate_entries(model: GETModel, data: RegionMotifData, cells: list[str], R: int, *,
                     device: str = "cpu") -> pd.DataFrame:
    """The model's focus predictions on windows centred on every validation and test TSS region
    of ``cells`` (:func:`focus_predictions`); a split without TSS regions is skipped with a warning."""
    parts = []
    for s in SPLITS_SCORED:
        if not data.has_tss[data.split == s].any():
            log.warning("no TSS region in the %s split: it is not scored", s)
            continue
        parts.append(focus_predictions(model, tss_windows(data, cells, split=s, n_regions=R), device=device))
    return pd.concat(parts, ignore_index=True)


def _write_adapter(d: Path, net: RegionTransformer, adapted, preds: pd.DataFrame, leave_out: str, rank: int,
                   alpha: float) -> dict:
    """``lora.safetensors`` + ``lora.json``; returns the LoRA part of ``metrics.json``."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in lora_state_dict(adapted).items()}
    with atomic_path(d / "lora.safetensors") as tmp:
        save_file(state, str(tmp))
    trained, total = count_parameters(adapted, trainable_only=True), count_parameters(adapted)
    info = {"cell": leave_out, "rank": int(rank), "alpha": float(alpha), "targets": list(LORA_TARGETS),
            "trainable": list(LORA_TRAINABLE), "trainable_parameters": trained, "total_parameters": total,
            "base_parameters": count_parameters(net), "fraction_trained": trained / total,
            "adapter_bytes": (d / "lora.safetensors").stat().st_size, "adapter_tensors": len(state),
            "base_unchanged": _base_unchanged(net, adapted), **_scores(preds[preds["model"] == "get_lora"]),
            "before": _scores(preds[(preds["model"] == "get") & (preds["cell"] == leave_out)])}
    write_json(d / "lora.json", {k: info[k] for k in ("cell", "rank", "alpha", "targets", "trainable")})
    return info
