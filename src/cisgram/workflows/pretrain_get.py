"""``cisgram pretrain get``: GET's foundation step, masked-region pre-training on every cell type's
inputs, saved as a self-describing directory that ``cisgram train get --init`` fine-tunes or
LoRA-adapts to a cell type (``specs/get.md`` §2.2, §3.1).

Pre-training reads only the inputs (motif features and accessibility) of the training blocks of
**every** cell type in the data, targets or not: half of each window's regions are replaced by
the mask token and the model reconstructs their features (MSE on the masked regions; with
``zscore_pretrain`` against each window's z-scored features, the paper-era target). Early
stopping follows the masked MSE of windows centred on the validation TSS regions (one fixed mask
per window). No expression is seen.

The directory
-------------
``config.json`` (family ``"get-pretrained"``: the data it was made from, the GET configuration,
the training settings), ``model.safetensors`` + ``model.json`` (the network and the names of the
``F`` features it expects, in order), ``split.json``, ``history.json`` and, last,
``metrics.json`` (the kept epoch's validation masked MSE); while it trains, ``checkpoint/`` (the
last completed epoch, for ``--resume``; removed at the end). :func:`load_pretrained` opens it and
checks the features of the data it is to be fine-tuned on: other motifs, another order or another
count is an error naming both.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cisgram.data.get import RegionMotifData
from cisgram.data.get_windows import MASK_RATIO, MaskedWindows, RegionWindows, tss_windows
from cisgram.errors import InputError
from cisgram.models.get import GETConfig, GETModel, RegionTransformer
from cisgram.results import PretrainResult
from cisgram.training import GETTraining, TrainConfig, fit
from cisgram.workflows.rundir import begin_run, end_run, finish_run, path_entries, require_finished, start_run

FAMILY = "get-pretrained"
STRUCTURAL = ("n_features", "n_outputs", "d_model", "n_layers", "n_heads", "mlp_dim", "distance_encoding",
              "distance_scale", "norm_eps")


def load_data(data) -> tuple[RegionMotifData, str]:
    """Region-motif data from an ``.npz`` path (or as given) and how to name it in a config."""
    if isinstance(data, RegionMotifData):
        return data, "<RegionMotifData>"
    if isinstance(data, str | os.PathLike):
        return RegionMotifData.read(data), str(data)
    raise InputError(f"GET needs a region-motif .npz path or RegionMotifData, got {type(data).__name__}")


def resolve_config(config, n_features: int, overrides: dict | None = None,
                   base: GETConfig | None = None) -> tuple[GETConfig, str]:
    """The network's configuration: ``"small"``, ``"paper"`` or a :class:`GETConfig` for ``n_features``
    features, or with ``base`` (a pre-trained model's) that one; ``overrides`` change fields
    (only dropout-like ones on a pre-trained base, whose shape is fixed)."""
    overrides = dict(overrides or {})
    if "n_features" in overrides:
        raise InputError("n_features comes from the data and cannot be overridden")
    if base is not None:
        fixed = sorted(set(overrides) & set(STRUCTURAL))
        if fixed:
            raise InputError(f"the pre-trained model fixes {', '.join(fixed)}",
                             hint="change only dropout, attn_dropout or drop_path when starting from it")
        cfg, name = base, "pretrained"
    elif isinstance(config, GETConfig):
        if config.n_features != n_features:
            raise InputError(f"the GET configuration takes {config.n_features} features per region, the data have "
                             f"{n_features}", hint=f"build it with n_features={n_features}")
        cfg, name = config, "custom"
    elif config == "small":
        cfg, name = GETConfig.small(n_features=n_features), config
    elif config == "paper":
        cfg, name = GETConfig.paper(n_features=n_features), config
    else:
        raise InputError(f"unknown GET configuration {config!r}", hint="use 'small', 'paper' or a GETConfig")
    if overrides:
        cfg = GETConfig.from_dict({**cfg.to_dict(), **overrides})
    return cfg, name


def load_pretrained(path: str | os.PathLike, data: RegionMotifData) -> GETModel:
    """The network of a ``cisgram pretrain get`` directory (or of a ``cisgram train get`` run),
    checked against the features of ``data``."""
    d = Path(path)
    require_finished(d)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise InputError("not a pre-trained GET model (no config.json)", path=d,
                         hint="give a directory from `cisgram pretrain get`")
    family = json.loads(cfg_path.read_text()).get("family")
    if family not in (FAMILY, "get"):
        raise InputError(f"this is a {family} run, not a pre-trained GET model", path=d,
                         hint="give a directory from `cisgram pretrain get` (or `cisgram train get`)")
    model = GETModel.load(d)
    want, have = list(model.feature_names), list(data.feature_names)
    if want != have:
        diff = next((i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b), min(len(want), len(have)))
        raise InputError(f"the pre-trained model expects {len(want)} features, the data have {len(have)}; they "
                         f"first differ at column {diff} ({want[diff] if diff < len(want) else '-'} vs "
                         f"{have[diff] if diff < len(have) else '-'})", path=d,
                         hint="make the data with the motif set the model was pre-trained on (cisgram get-data -m)")
    return model


def data_request(source: str) -> str:
    """The data of a run's request: the resolved path (or the placeholder of data given as an object)."""
    return source if source.startswith("<") else str(Path(source).expanduser().resolve())


def split_blocks(data: RegionMotifData) -> dict:
    """``split.json`` of GET runs: the blocks of consecutive regions of each split."""
    seg = data.segments()
    r = data.regions
    blocks = [{"chrom": str(c), "start": int(r["start"].iat[a]), "end": int(r["end"].iat[b - 1]), "split": str(s),
               "regions": int(b - a)} for c, a, b, s in seg[["chrom", "first", "stop", "split"]].itertuples(index=False)]
    return {"kind": "region blocks of the region-motif data", "counts": data.summary()["split"], "blocks": blocks}


def history(result) -> dict:
    """A fit's kept epoch, loss, time and per-epoch rows."""
    return {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "seconds": result.seconds,
            "epochs": result.history}


def masked_pretraining(net: RegionTransformer, data: RegionMotifData, R: int, config: TrainConfig,
                       training: GETTraining, *, stride: int | None = None, seed: int = 0,
                       say: Callable[[str], None] = lambda msg: None, checkpoint: Path | None = None,
                       resume: bool = False) -> tuple[RegionTransformer, dict]:
    """Masked-region pre-training of ``net`` on every cell type's training blocks (targets or
    not), early stopping on the validation blocks' masked MSE: ``(network, history)``.
    ``checkpoint`` and ``resume`` are :func:`~cisgram.training.fit`'s."""
    cells = list(data.cell_types)
    train = MaskedWindows(RegionWindows(data, cells, split="train", n_regions=R, stride=stride, seed=seed,
                                        require_targets=False), seed=seed)
    val = MaskedWindows(tss_windows(data, cells, split="val", n_regions=R, require_targets=False), seed=seed, fixed=True)
    say(f"pre-training (masked regions, ratio {MASK_RATIO}{', z-scored targets' if training.zscore_pretrain else ''}) "
        f"on {len(train):,} windows of {R} regions ({len(cells)} cell types)")
    res = fit(net, train, val, config, loss=training.pretrain_loss(), checkpoint=checkpoint, resume=resume)
    say(f"pre-training kept epoch {res.best_epoch} (validation masked MSE {res.best_val_loss:.4f})")
    return res.net, history(res)


def pretrain_get(data, out: str | os.PathLike, *, config: str | GETConfig = "small", config_overrides: dict | None = None,
                 n_regions: int = 100, stride: int | None = None, max_epochs: int = 30, patience: int = 5,
                 batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 0.05, seed: int = 0,
                 training: GETTraining | None = None, device: str = "cpu",
                 progress: Callable[[str], None] | None = None, progress_bar: bool = False,
                 resume: bool = False) -> PretrainResult:
    """Pre-train GET on ``data`` (a region-motif ``.npz`` or object) and write the directory
    described in the module docstring to ``out``; returns a :class:`~cisgram.results.PretrainResult`.
    The optimiser and the target follow ``training`` (default :class:`~cisgram.training.GETTraining`,
    GET's settings). The last completed epoch is kept in ``out/checkpoint/`` until the directory
    is written; ``resume`` continues an interrupted pre-training from there."""
    say = progress or (lambda msg: None)
    training = training or GETTraining()
    data, source = load_data(data)
    cfg, cfg_name = resolve_config(config, data.n_features, config_overrides)
    R = int(n_regions)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RegionTransformer(cfg)
    accelerator = "cpu" if device == "cpu" else ("gpu" if str(device).startswith("cuda") else "auto")
    tc = training.config(max_epochs=max_epochs, patience=patience, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, seed=seed, accelerator=accelerator, progress=progress_bar)
    checkpoints = begin_run(out, {"command": "pretrain get", "data": data_request(source), "config": cfg.to_dict(),
                                  "n_regions": R, "stride": stride, "training": training.to_dict(),
                                  "optimiser": tc.resumable()}, resume=resume)
    t0 = time.perf_counter()
    net, hist = masked_pretraining(net, data, R, tc, training, stride=stride, seed=seed, say=say,
                                   checkpoint=checkpoints / "pretrain", resume=resume)
    seconds = hist["seconds"] if resume else time.perf_counter() - t0  # a resumed fit's time adds every session's
    model = GETModel(net, list(data.feature_names))
    n_windows = sum(1 for _ in range(len(RegionWindows(data, list(data.cell_types), split="train", n_regions=R,
                                                        stride=stride, seed=seed, require_targets=False))))
    epochs = max(1, len(hist["epochs"]))
    metrics = {"family": FAMILY, "val_masked_mse": hist["best_val_loss"], "best_epoch": hist["best_epoch"],
               "train_windows": n_windows, "seconds": seconds, "windows_per_second": n_windows * epochs / seconds}
    conf = {"family": FAMILY, **path_entries(data=source), "config_name": cfg_name, "config": cfg.to_dict(),
            "n_regions": R, "stride": stride, "mask_ratio": MASK_RATIO, "max_epochs": max_epochs, "patience": patience,
            "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "seed": seed, "device": device,
            "training": training.to_dict(), "cell_types": list(data.cell_types), "n_features": data.n_features}
    d = start_run(out)
    finish_run(d, config=conf, split=split_blocks(data), metrics=metrics, save_model=model.save,
               extra={"history.json": {"pretrain": hist}})
    end_run(d)
    say(f"pre-trained on {n_windows:,} windows x {epochs} epoch(s): {metrics['windows_per_second']:.1f} windows/s")
    return PretrainResult(d, FAMILY, conf, metrics, hist)
