"""``cisgram train chrombpnet``: a Tn5 bias model and a ChromBPNet accessibility model on an
insertion bigWig, into a run directory that ``cisgram.load`` opens; returns a
:class:`~cisgram.results.ChromBPNetResult` (drawn by :func:`cisgram.report.chrombpnet.chrombpnet_report`).

The steps follow kundajelab/chrombpnet (``docs/bpnet.md`` has the details and the departures):

1. windows around every peak summit and GC-matched background windows
   (:func:`cisgram.data.profiles.profile_windows`), split as the dataset given (its ``split.json``:
   the same chromosomes held out as ``cisgram prepare``) or by whole chromosomes;
2. the bias model: a small :class:`~cisgram.models.bpnet.BPNet` trained on background with little
   signal (:func:`cisgram.data.profiles.bias_background`) and its own count-loss weight (or one
   reused from another run), its log counts then shifted to this sample's depth (chrombpnet's
   ``bias_model_scaled``) and scored on test background;
3. the accessibility model, its count head started at the mean training log count, trained inside
   :class:`~cisgram.models.bpnet.ChromBPNet` with the bias frozen (``chrombpnet_loss``, count
   weight from the training and validation peaks, early stopping on the validation loss, the best
   epoch kept); ``no_bias`` trains it alone, for tracks that are not Tn5 cut sites (fragment
   pileups such as the chr22 bigWigs carry no per-base enzyme preference to factor out);
4. count metrics (peaks, background, both; full and bias-free), profile metrics (median JSD and
   profile Pearson on test peaks beside the shuffled and average-profile baselines) and the bias
   model's own, written with ``predictions.parquet`` and the networks (safetensors + JSON).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cisgram.data.dataset import dataset_split, read_dataset
from cisgram.data.profiles import ProfileData, ProfileDataset, bias_background, profile_windows
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.metrics import profile_baselines, profile_jsd, profile_pearson, regression_metrics
from cisgram.models.bpnet import BPNet, ChromBPNet, build_bpnet, chrombpnet_loss, count_loss_weight
from cisgram.models.bpnet_run import ChromBPNetModel, load_bias_model, save_bias_model
from cisgram.results import ChromBPNetResult, ProfileExample
from cisgram.training import TrainConfig, fit
from cisgram.workflows.rundir import (
    SPLITS,
    begin_run,
    end_run,
    finish_run,
    metrics_table,
    path_entries,
    request_paths,
)

log = logging.getLogger(__name__)

FAMILY = "chrombpnet"


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Torch CPU threads set to ``n`` inside the block and put back afterwards."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit(net, train: ProfileDataset, val: ProfileDataset, cfg: TrainConfig, weight: float, checkpoint: Path,
         resume: bool):
    """:func:`cisgram.training.fit` with ``chrombpnet_loss`` at the precomputed count weight."""
    def loss(net, batch) -> torch.Tensor:
        x, y = batch
        return chrombpnet_loss(net(x), y, weight)

    with warnings.catch_warnings():  # the frozen bias model stays in eval mode on purpose
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
        return fit(net, train, val, cfg, loss=loss, checkpoint=checkpoint, resume=resume)


def _centred(data: ProfileData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes (n, input_len), counts (n, T, output_len))`` of the centred windows ``rows``."""
    j = data.max_jitter
    return data.codes[rows, j: j + data.input_len], data.counts[rows, :, j: j + data.output_len]


def _start_counts(net: BPNet, codes: np.ndarray, target: float, seed: int) -> float:
    """Shift ``net``'s count head so that its mean log count on (up to 256 of) ``codes`` is
    ``target``; returns the shift."""
    pick = np.random.default_rng(seed).permutation(len(codes))[:256]
    now = float(predict(ChromBPNetModel(net, "_"), codes[np.sort(pick)]).mean())
    net.offset_log_counts(target - now)
    return target - now


def _average_profile(counts: np.ndarray) -> np.ndarray:
    """The mean of ``(n, T, L)`` profiles, each normalised to proportions (all-zero ones left out)."""
    flat = counts.reshape(len(counts), -1).astype(np.float64)
    ok = flat.sum(1) > 0
    avg = (flat[ok] / flat[ok].sum(1, keepdims=True)).mean(0) if ok.any() else np.full(flat.shape[1], np.nan)
    return avg.reshape(counts.shape[1:])


def _summary(jsd: np.ndarray, r: np.ndarray) -> dict:
    ok = np.isfinite(jsd)
    return {"jsd": float(np.median(jsd[ok])) if ok.any() else float("nan"),
            "pearson": float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan"), "n": int(ok.sum())}


def profile_scores(predicted: dict[str, np.ndarray], observed: np.ndarray, average: np.ndarray, *,
                   seed: int = 0) -> dict:
    """Median profile JSD (base 2) and median profile Pearson of each predicted ``(n, T, L)``
    profile against the ``observed`` counts, beside the ``shuffled`` and ``average`` baselines
    (``average``: the mean normalised training profile)."""
    base = profile_baselines(observed, average=average, seed=seed)
    out = {name: _summary(profile_jsd(p, observed), profile_pearson(p, observed)) for name, p in predicted.items()}
    out["shuffled"] = _summary(base.shuffled_jsd, base.shuffled_pearson)
    out["average"] = _summary(base.average_jsd, base.average_pearson)
    return out


def _profile_data(genome, bigwig, peaks, split, dataset, *, input_len: int, output_len: int, max_jitter: int,
                  background: float, seed: int) -> ProfileData:
    """The windows (duplicates of one summit kept once), split as the dataset or by ``split``."""
    if isinstance(bigwig, list | tuple):
        raise InputError("train chrombpnet reads one insertion bigWig", hint="give one track")
    spl = dataset_split(read_dataset(dataset)) if dataset is not None else split
    data = profile_windows(genome, bigwig, peaks, input_len=input_len, output_len=output_len, max_jitter=max_jitter,
                           background=background, split=spl, seed=seed)
    dup = data.regions.duplicated(["chrom", "start"]).to_numpy()
    if dup.any():
        log.info("%d window(s) repeating another's coordinates (peaks sharing a summit) kept once", int(dup.sum()))
        data = data.select(~dup)
    return data


def _peak_outliers(data: ProfileData, threshold: float = 0.9999) -> ProfileData:
    """chrombpnet's outlier step before the accessibility model: train / validation peaks outside the
    ``1 - threshold`` / ``threshold`` quantiles of those peaks' totals go, and background of those
    splits above the upper bound (the test split is left alone)."""
    tot, reg = data.total_counts(), data.regions
    ref = reg["split"].isin(["train", "val"]).to_numpy()
    peak = (reg["kind"] == "peak").to_numpy()
    if not (ref & peak).any():
        raise InputError("no peak window in the training and validation splits", path=data.params.get("peaks"),
                         hint="choose another --split (or a dataset whose hold-out leaves peaks to train on)")
    lo, hi = np.quantile(tot[ref & peak], [1 - threshold, threshold])
    drop = ref & ((peak & ((tot < lo) | (tot > hi))) | (~peak & (tot > hi)))
    log.info("%d count outlier window(s) left out of the accessibility model's training", int(drop.sum()))
    return data.select(~drop)


def _bias_stage(data: ProfileData, bias: BPNet, trained: bool, cfg: TrainConfig, checkpoint: Path, *,
                resume: bool, threshold_factor: float, progress) -> tuple[BPNet, dict]:
    """Train (when ``trained``) the bias model on the bias background, then shift its counts to this
    sample's depth and score it on test background and test peaks."""
    bg = bias_background(data, bias_threshold_factor=threshold_factor)
    tr = bg.rows("train")
    codes, counts = _centred(bg, tr)
    totals = counts.sum(axis=(1, 2), dtype=np.float64)
    info: dict = {"selection": bg.params["bias_background"], "n_train": int(tr.size)}
    if trained:
        weight = count_loss_weight(totals)
        _start_counts(bias, codes, float(np.log1p(totals).mean()), cfg.seed)
        if progress:
            progress(f"training the bias model on {tr.size:,} background windows (count weight {weight:.3g})")
        result = _fit(bias, ProfileDataset(bg, "train", seed=cfg.seed), ProfileDataset(bg, "val"), cfg, weight,
                      checkpoint / "bias", resume)
        info.update(count_weight=weight, history=_history(result))
    bias.eval()
    delta = float((np.log1p(totals) - predict(ChromBPNetModel(bias, "_"), codes)[:, 0]).mean())
    bias.offset_log_counts(delta)  # chrombpnet's bias_model_scaled: the bias model at this sample's depth
    info["count_offset"] = delta
    model = ChromBPNetModel(bias, "_")
    for kind in ("background", "peak"):
        rows_train, rows = data.rows("train", kind), data.rows("test", kind)
        if rows.size == 0:
            continue
        c, y = _centred(data, rows)
        pred = predict(model, c, output="profile").reshape(y.shape)
        obs = np.log1p(y.sum(axis=(1, 2), dtype=np.float64))
        info[kind] = {"count": regression_metrics(obs, predict(model, c)[:, 0]),
                      "profile": profile_scores({"bias": pred}, y, _average_profile(_centred(data, rows_train)[1]),
                                                seed=cfg.seed)}
    return bias, info


def _history(result) -> dict:
    return {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "seconds": result.seconds,
            "epochs": result.history}


def _accessibility_stage(data: ProfileData, acc: BPNet, bias: BPNet | None, cfg: TrainConfig, checkpoint: Path, *,
                         resume: bool, background_ratio: float, progress) -> tuple[BPNet | ChromBPNet, dict]:
    """The accessibility model, its count head started at the mean training log count, trained with
    the frozen bias model (or alone) with the count weight of the training and validation peaks."""
    train_data = _peak_outliers(data)
    peaks = train_data.rows(("train", "val"), "peak")
    weight = count_loss_weight(train_data.total_counts()[peaks])
    if weight < 1:
        log.warning("count-loss weight %.3g is below 1: chrombpnet refuses so shallow a sample", weight)
    codes, counts = _centred(train_data, train_data.rows("train", "peak"))
    _start_counts(acc, codes, float(np.log1p(counts.sum(axis=(1, 2), dtype=np.float64)).mean()), cfg.seed)
    net = acc if bias is None else ChromBPNet(bias, acc)
    train = ProfileDataset(train_data, "train", background_ratio=background_ratio, seed=cfg.seed)
    val = ProfileDataset(train_data, "val", background_ratio=background_ratio, seed=cfg.seed)
    if progress:
        progress(f"training the accessibility model on {train.peak_rows.size:,} peaks + {train.n_background:,} "
                 f"background windows per epoch ({'with the frozen bias model' if bias is not None else 'no bias model'})")
    result = _fit(net, train, val, cfg, weight, checkpoint / "accessibility", resume)
    return result.net.eval(), {"count_weight": weight, "history": _history(result),
                               "n_train_peaks": int(train.peak_rows.size)}


def _evaluate(data: ProfileData, model: ChromBPNetModel, *, device: str, seed: int, n_examples: int):
    """``(predictions table, metrics, examples)`` of every centred window."""
    all_rows = np.arange(len(data))
    codes, counts = _centred(data, all_rows)
    target = model.targets[0]
    reg = data.regions
    j = data.max_jitter
    names = reg["chrom"] + ":" + (reg["start"] + j).astype(str) + "-" + (reg["start"] + j + data.input_len).astype(str)
    preds = pd.DataFrame({"region": names.to_numpy(), "target": target,
                          "observed": np.log1p(counts.sum(axis=(1, 2), dtype=np.float64)),
                          "predicted": predict(model, codes, device=device)[:, 0], "split": reg["split"].to_numpy(),
                          "kind": reg["kind"].to_numpy(),
                          "predicted_bias_free": predict(model, codes, device=device, part="bias_free")[:, 0]})
    peak = (preds["kind"] == "peak").to_numpy()

    def table(frame: pd.DataFrame) -> dict:
        m = metrics_table(frame, FAMILY)
        return {s: m[s] for s in SPLITS}

    metrics = metrics_table(preds[peak], FAMILY)
    metrics["subsets"] = {"background": table(preds[~peak]), "peaks+background": table(preds),
                          "peaks, bias-free model": table(preds[peak].assign(predicted=preds.loc[peak, "predicted_bias_free"]))}
    test = data.rows("test", "peak")
    if test.size == 0:
        return preds, metrics, []
    y = counts[test]
    full = predict(model, codes[test], output="profile", device=device).reshape(y.shape)
    free = predict(model, codes[test], output="profile", part="bias_free", device=device).reshape(y.shape)
    average = _average_profile(counts[data.rows("train", "peak")])
    metrics["profile"] = {"test": {target: profile_scores({"full": full, "bias_free": free}, y, average, seed=seed)},
                          "jsd_base": 2, "average_from": "training peaks"}
    top = np.argsort(-y.sum(axis=(1, 2)), kind="stable")[:n_examples]
    bias = (predict(model, codes[test[top]], output="profile", part="bias", device=device).reshape(y[top].shape)
            if model.has_bias else [None] * len(top))
    out_lo = reg["start"].to_numpy() + j + (data.input_len - data.output_len) // 2
    examples = [ProfileExample(names.iat[test[i]], reg["chrom"].iat[test[i]], int(out_lo[test[i]]),
                               int(out_lo[test[i]]) + data.output_len, y[i], full[i], free[i], b)
                for i, b in zip(top, bias, strict=True)]
    return preds, metrics, examples


def _networks(input_len: int, output_len: int, n_filters: int, n_layers: int, bias_filters: int, bias_layers: int,
              bias_model, no_bias: bool, seed: int) -> tuple[BPNet, BPNet | None, str]:
    """``(accessibility, bias or None, bias source)``, built (or the bias loaded) before any data is
    read, so a window the networks cannot fill is refused at once."""
    if no_bias and bias_model is not None:
        raise InputError("--no-bias and --bias-model exclude each other", hint="give one of them")
    for name, v in (("input_len", input_len), ("output_len", output_len)):
        if v < 1:
            raise InputError(f"{name} must be positive, got {v}")
    acc = build_bpnet({"arch": "bpnet", "length": input_len, "output_len": output_len, "n_filters": n_filters,
                       "n_layers": n_layers}, seed=seed)
    if no_bias:
        return acc, None, "none"
    if bias_model is not None:
        bias, _ = load_bias_model(bias_model)
        if (bias.length, bias.output_len) != (input_len, output_len):
            raise InputError(f"the bias model reads {bias.length} bp and predicts {bias.output_len}; this run asks "
                             f"{input_len} and {output_len}", path=bias_model,
                             hint="train with the bias model's --input-len and --output-len")
        return acc, bias, str(Path(bias_model).resolve())
    bias = build_bpnet({"arch": "bpnet", "length": input_len, "output_len": output_len, "n_filters": bias_filters,
                        "n_layers": bias_layers}, seed=seed + 1)
    return acc, bias, "trained"


def train_chrombpnet(genome: str | os.PathLike, bigwig: str | os.PathLike, peaks: str | os.PathLike,
                     out: str | os.PathLike, *, split: str = "auto", dataset: str | os.PathLike | None = None,
                     target: str | None = None, input_len: int = 2114, output_len: int = 1000,
                     max_jitter: int = 500, background: float = 2.0, n_filters: int = 512, n_layers: int = 8,
                     bias_filters: int = 128, bias_layers: int = 4, background_ratio: float = 0.1,
                     bias_threshold_factor: float = 0.5, bias_model: str | os.PathLike | None = None,
                     no_bias: bool = False, max_epochs: int = 50, patience: int = 5, batch_size: int = 64,
                     lr: float = 1e-3, seed: int = 0, threads: int | None = None, accelerator: str = "auto",
                     device: str = "cpu", n_examples: int = 4, progress: Callable[[str], None] | None = None,
                     progress_bar: bool = False, resume: bool = False) -> ChromBPNetResult:
    """Train a Tn5 bias model and a ChromBPNet accessibility model (module docstring) on the
    insertion ``bigwig`` around ``peaks`` and write the run directory ``out``.

    Parameters
    ----------
    genome, bigwig, peaks
        FASTA or 2bit; one insertion bigWig (``cisgram tracks insertions``); narrowPeak (windows
        centred on the summit) or BED.
    split, dataset
        Whole-chromosome (or block) hold-out spec (``auto``, ``chroms:chrII/chrIII``), unless a
        ``cisgram prepare`` dataset is given: then its split (same held-out chromosomes).
    input_len, output_len, max_jitter, background
        Window geometry (chrombpnet: 2114 / 1000 / 500) and GC-matched background windows per peak.
    n_filters, n_layers, bias_filters, bias_layers
        The accessibility model (chrombpnet 512, 8) and the bias model (128, 4).
    background_ratio, bias_threshold_factor
        Background windows per peak drawn each epoch for the accessibility model (chrombpnet 0.1);
        the bias background's count ceiling as a fraction of the peaks' 1 % quantile (0.5; 0.8 for DNase).
    bias_model, no_bias
        Reuse the bias model of another run (its counts are shifted to this sample) or train
        none (the accessibility model alone: for tracks that are not Tn5 cut sites).
    max_epochs, patience, batch_size, lr, seed, threads, accelerator, progress_bar
        Training (Adam, no weight decay, as chrombpnet); ``threads`` sets torch's CPU threads for
        the run and puts them back afterwards.
    device, n_examples, progress, resume
        Device of the final predictions; test peaks kept for the report; a message callback;
        continue an interrupted run from its last completed epoch.

    Returns
    -------
    ChromBPNetResult
        The run's metrics, predictions, histories and example profiles.
    """
    acc, bias, source = _networks(input_len, output_len, n_filters, n_layers, bias_filters, bias_layers,
                                  bias_model, no_bias, seed)
    target = target or Path(bigwig).name.split(".")[0]
    cfg = TrainConfig(max_epochs=max_epochs, patience=patience, batch_size=batch_size, lr=lr, weight_decay=0.0,
                      seed=seed, accelerator=accelerator, progress=progress_bar)
    geometry = {"input_len": input_len, "output_len": output_len, "max_jitter": max_jitter, "background": background,
                "background_ratio": background_ratio, "bias_threshold_factor": bias_threshold_factor}
    nets = {"accessibility": acc.spec, "bias": None if bias is None else bias.spec, "bias_source": source,
            "no_bias": no_bias}
    paths = {"genome": genome, "bigwig": bigwig, "peaks": peaks, "dataset": dataset, "bias_model": bias_model}
    with _threads(threads):
        checkpoints = begin_run(out, {"command": "train chrombpnet", **request_paths(**paths), "target": target,
                                      "split": None if dataset is not None else split, **geometry, **nets,
                                      "training": cfg.resumable()}, resume=resume)
        data = _profile_data(genome, bigwig, peaks, split, dataset, input_len=input_len, output_len=output_len,
                             max_jitter=max_jitter, background=background, seed=seed)
        bias_info = None
        if bias is not None:
            bias, bias_info = _bias_stage(data, bias, source == "trained", cfg, checkpoints, resume=resume,
                                          threshold_factor=bias_threshold_factor, progress=progress)
            bias_info["source"] = source
        net, acc_info = _accessibility_stage(data, acc, bias, cfg, checkpoints, resume=resume,
                                             background_ratio=background_ratio, progress=progress)
        meta = {"count_weight": acc_info["count_weight"],
                "bias_count_offset": None if bias_info is None else bias_info["count_offset"]}
        model = ChromBPNetModel(net, target, meta=meta)
        preds, metrics, examples = _evaluate(data, model, device=device, seed=seed, n_examples=n_examples)
    history = {"accessibility": acc_info.pop("history"), **({"bias": bias_info.pop("history")}
                                                             if bias_info and "history" in bias_info else {})}
    metrics.update(bias=bias_info, accessibility=acc_info, n_params=sum(p.numel() for p in net.parameters()),
                   train_seconds=float(sum(h["seconds"] for h in history.values())))
    conf = {"family": FAMILY, **path_entries(**paths), "target": target, "split": data.split.to_dict(), **geometry,
            **nets, "data": data.params, "training": cfg.to_dict(), "threads": threads}

    def save(d: Path) -> None:
        model.save(d)
        if bias is not None:
            save_bias_model(bias, d / "bias", {"count_offset": bias_info["count_offset"], "source": source})

    finish_run(Path(out), config=conf, split=data.split.to_dict(), metrics=metrics, predictions=preds,
               save_model=save, extra={"history.json": history})
    end_run(out)
    return ChromBPNetResult(Path(out), FAMILY, conf, metrics, preds, target=target, bias_source=source,
                            history=history, examples=examples)
