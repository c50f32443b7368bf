"""The one place that turns (network, data, config) into a fitted network, through Lightning.

:func:`fit` trains any ``nn.Module`` mapping ``(B, 4, L)`` one-hot to ``(B, T)`` on two datasets
of ``(x, y)`` pairs (NaN in ``y`` marks a task that does not score that item): Adam(W), masked
MSE (regression) or masked binary cross-entropy on logits (classification), early stopping on
the validation loss, and the best epoch's weights kept in memory and put back at the end; with
``checkpoint`` the last completed epoch is also kept on disk (safetensors + JSON, never a
pickle: :mod:`cisgram.checkpoints`) and ``resume`` continues from it. A ``loss(net, batch)`` callable trains any other network on any
batches the same way (GET's region windows, :mod:`cisgram.workflows.train_get`); only parameters with
``requires_grad`` are optimised, so frozen LoRA bases stay untouched. Lightning brings the
device placement, mixed precision (``precision``), progress bars and distributed data-parallel
training (``devices``, ``strategy="ddp"``, ``num_nodes``: one process per device, on CPU
through gloo).

With ``strategy="ddp"`` Lightning starts the other processes by re-running the command that is
running (``sys.argv``); every process returns from :func:`fit` with the same best weights, and
only the one with ``FitResult.is_global_zero`` should write files.

:func:`predict` scores sequences in batches, averaging each sequence with its reverse
complement, so predictions are strand-symmetric by construction.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cisgram.checkpoints import (
    checkpoint_io,
    clear_checkpoint,
    epoch_checkpoint,
    is_rank_zero,
    read_checkpoint,
    saved_fit,
)
from cisgram.data.get_windows import MaskedWindow
from cisgram.errors import InputError
from cisgram.fit_hooks import epoch_lines
from cisgram.models.get import RegionTransformer

log = logging.getLogger(__name__)

TASKS = ("regression", "classification")
MONITORS = ("loss", "auroc")
SCHEDULES = ("flat", "cosine")


@dataclass
class TrainConfig:
    """How to train. ``devices``/``strategy``/``num_nodes``/``accelerator``/``precision`` are
    Lightning's ``Trainer`` arguments, passed through; the rest are the optimisation: AdamW with
    ``lr``, ``weight_decay``, ``betas``, ``eps``; ``schedule="cosine"`` warms the learning rate up
    linearly from ``min_lr`` over ``warmup_epochs`` (counted in optimiser steps) and then follows
    a cosine down to ``min_lr`` at the last step of ``max_epochs`` (GET's per-step schedule;
    ``"flat"`` keeps ``lr``); ``no_decay_1d`` exempts biases, norms and the network's
    ``no_weight_decay()`` tokens from weight decay; ``layer_decay`` scales each layer's learning
    rate by ``layer_decay ** (n - layer)`` (BEiT's layer-wise decay; the network says its layers
    through ``layer_id(name)`` and ``n_layer_groups``).
    ``pos_weight`` weighs positive labels in the classification loss (e.g. negatives / positives
    on unbalanced sets, where an unweighted network can settle on the base rate). ``monitor``
    is what early stopping and the kept epoch follow: the validation ``loss``, or for
    classification the validation ``auroc`` (over all finite labels of all tasks), which never
    keeps an epoch whose outputs collapsed to a constant however low its loss."""

    task: str = "regression"
    max_epochs: int = 30
    patience: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    num_workers: int = 0
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    seed: int = 0
    progress: bool = False
    pos_weight: float | None = None
    monitor: str = "loss"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: str = "flat"
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    no_decay_1d: bool = False
    layer_decay: float | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"unknown task {self.task!r}", hint=f"choose one of {', '.join(TASKS)}")
        if self.monitor not in MONITORS or (self.monitor == "auroc" and self.task != "classification"):
            raise InputError(f"cannot monitor {self.monitor!r} for {self.task}",
                             hint="monitor 'loss', or 'auroc' for classification")
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise InputError("max_epochs, batch_size and patience must be at least 1")
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown learning-rate schedule {self.schedule!r}", hint=f"choose one of {', '.join(SCHEDULES)}")
        if self.warmup_epochs < 0 or not 0 <= self.min_lr <= self.lr:
            raise InputError(f"warmup_epochs must be >= 0 and min_lr in [0, lr]; got {self.warmup_epochs}, {self.min_lr}")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise InputError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    def to_dict(self) -> dict:
        return asdict(self)

    def resumable(self) -> dict:
        """What a resumed fit must share with the one it continues: every setting but the progress
        bar and the loader's worker count, which change no number."""
        return {k: v for k, v in self.to_dict().items() if k not in ("progress", "num_workers")}


@dataclass
class FitResult:
    """``net`` holds the best epoch's weights; ``history`` one dict per epoch (epoch, train_loss,
    val_loss, seconds); ``world_size`` the number of processes that trained."""

    net: nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = float("nan")
    is_global_zero: bool = True
    seconds: float = 0.0
    world_size: int = 1


def masked_loss(out: torch.Tensor, y: torch.Tensor, task: str, pos_weight: float | None = None) -> torch.Tensor:
    """Mean loss over the finite entries of ``y`` ``(B, T)``; zero when there are none."""
    ok = torch.isfinite(y)
    if not bool(ok.any()):
        return out.sum() * 0.0
    o, t = out[ok].float(), y[ok].float()
    if task == "classification":
        w = None if pos_weight is None else torch.tensor(float(pos_weight), device=o.device)
        return nn.functional.binary_cross_entropy_with_logits(o, t, pos_weight=w)
    return nn.functional.mse_loss(o, t)


def param_groups(net: nn.Module, config: TrainConfig) -> list[dict]:
    """AdamW parameter groups of the trainable parameters (frozen LoRA bases stay out): weight
    decay off for biases, 1-D parameters and the network's ``no_weight_decay()`` names when
    ``config.no_decay_1d``, and with ``config.layer_decay`` a learning-rate scale
    ``layer_decay ** (n_layer_groups - 1 - net.layer_id(name))`` per group (BEiT)."""
    skip = set(net.no_weight_decay()) if config.no_decay_1d and hasattr(net, "no_weight_decay") else set()
    layered = config.layer_decay is not None and hasattr(net, "layer_id")
    groups: dict = {}
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        base = name.replace(".base.", ".")  # a LoRA-wrapped layer keeps its layer's place
        no_decay = config.no_decay_1d and (p.ndim <= 1 or name.endswith(".bias") or base in skip)
        layer = net.layer_id(base) if layered else 0
        key = (no_decay, layer)
        if key not in groups:
            scale = config.layer_decay ** (net.n_layer_groups - 1 - layer) if layered else 1.0
            groups[key] = {"params": [], "weight_decay": 0.0 if no_decay else config.weight_decay,
                           "lr": config.lr * scale, "lr_scale": scale}
        groups[key]["params"].append(p)
    if not groups:
        raise InputError("the network has no trainable parameter")
    return list(groups.values())


def lr_factor(step: int, total: int, warmup: int, config: TrainConfig) -> float:
    """The cosine schedule's learning rate at optimiser ``step`` as a fraction of ``config.lr``:
    linear from ``min_lr`` to ``lr`` over ``warmup`` steps, then a cosine from ``lr`` to ``min_lr``
    at step ``total``."""
    lo = config.min_lr / config.lr if config.lr > 0 else 0.0
    if step < warmup:
        return lo + (1.0 - lo) * step / max(1, warmup)
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


def _batch_size(batch) -> int:
    """Items in a collated batch: the length of its first tensor (tuples, named tuples, dicts)."""
    first = next(iter(batch.values())) if isinstance(batch, dict) else batch[0]
    return len(first)


def _lightning_module(net: nn.Module, config: TrainConfig, loss=None):
    import lightning as L

    class Learner(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net
            if config.monitor == "auroc":
                from torchmetrics.classification import BinaryAUROC

                self.auroc = BinaryAUROC()

        def forward(self, x):
            return self.net(x)

        def _step(self, batch, name: str):
            if loss is None:
                x, y = batch
                value = masked_loss(self.net(x), y, config.task, config.pos_weight)
            else:
                value = loss(self.net, batch)
            self.log(name, value, on_step=False, on_epoch=True, sync_dist=True, batch_size=_batch_size(batch),
                     prog_bar=True)
            return value

        def training_step(self, batch, batch_idx):
            return self._step(batch, "train_loss")

        def validation_step(self, batch, batch_idx):
            if config.monitor == "auroc":
                x, y = batch
                ok = torch.isfinite(y)
                self.auroc.update(self.net(x)[ok].float(), y[ok].long())
            return self._step(batch, "val_loss")

        def on_validation_epoch_end(self):
            if config.monitor == "auroc":  # torchmetrics gathers the predictions of every process
                self.log("val_auroc", self.auroc.compute(), prog_bar=True)
                self.auroc.reset()

        def on_train_epoch_start(self):
            ds = self.trainer.train_dataloader.dataset
            if hasattr(ds, "set_epoch"):  # jitter and strand flips differ per epoch, same in every worker
                ds.set_epoch(self.current_epoch)

        def configure_optimizers(self):
            opt = torch.optim.AdamW(param_groups(self.net, config), lr=config.lr, betas=config.betas, eps=config.eps)
            if config.schedule == "flat":
                return opt
            total = max(1, int(self.trainer.estimated_stepping_batches))
            warm = int(round(config.warmup_epochs * total / config.max_epochs))
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total, warm, config))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return Learner()


def _keep_best(monitor: str):
    from lightning.pytorch.callbacks import Callback

    sign = -1.0 if monitor == "auroc" else 1.0  # the kept epoch minimises sign * metric

    class KeepBest(Callback):
        """Copies the weights whenever the (all-process) monitored validation metric improves."""

        def __init__(self):
            self.best, self.state, self.epoch, self.history = float("inf"), None, -1, []
            self._t = time.perf_counter()

        @property
        def state_key(self) -> str:
            return "best"

        def state_dict(self):  # kept in a checkpoint (cisgram.checkpoints): the best weights and the history
            return {"best": self.best, "epoch": self.epoch, "history": self.history, "state": self.state}

        def load_state_dict(self, state_dict):
            self.best, self.epoch, self.history, self.state = (state_dict["best"], state_dict["epoch"],
                                                               list(state_dict["history"]), state_dict["state"])

        def on_train_epoch_end(self, trainer, pl_module):
            m = trainer.callback_metrics
            val = float(m["val_loss"]) if "val_loss" in m else float("nan")
            now = time.perf_counter()
            row = {"epoch": trainer.current_epoch, "train_loss": float(m.get("train_loss", float("nan"))),
                   "val_loss": val, "seconds": now - self._t}
            if trainer.optimizers:  # the learning rate at the epoch's end (the schedule's, before layer scales)
                g = trainer.optimizers[0].param_groups[0]
                row["lr"] = float(g["lr"]) / float(g.get("lr_scale", 1.0))
            if monitor == "auroc":
                row["val_auroc"] = val = float(m.get("val_auroc", float("nan")))
            self.history.append(row)
            self._t = now
            if sign * val < self.best:
                self.best, self.epoch = sign * val, trainer.current_epoch
                self.state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.net.state_dict().items()})

    return KeepBest()


@contextlib.contextmanager
def _quiet():
    """Lightning's start-up chatter and worker-count advice off (library code does not print);
    the progress bar, when asked for, is a callback and stays."""
    names = ["lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*number of training batches.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # Lightning on torch 2.13
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def fit(net: nn.Module, train: Dataset, val: Dataset, config: TrainConfig | None = None, *,
        callbacks: tuple = (), loss: Callable[[nn.Module, object], torch.Tensor] | None = None,
        checkpoint: str | os.PathLike | None = None, resume: bool = False) -> FitResult:
    """Train ``net`` on ``train`` with early stopping on ``val``; see the module docstring.
    ``callbacks`` are extra Lightning callbacks (e.g. timers). ``loss(net, batch)`` (a scalar
    tensor) replaces the default ``masked_loss(net(x), y)`` in training and validation, for
    batches that are not ``(x, y)`` pairs (e.g. GET's region windows); it cannot be combined
    with ``monitor="auroc"``. Only parameters with ``requires_grad`` are optimised.

    Randomness (initialisation is the caller's; dropout, shuffling) follows ``config.seed``
    without changing the global torch generator for the caller.

    ``checkpoint`` (a directory) keeps the state of the last completed epoch there
    (:mod:`cisgram.checkpoints`: safetensors + JSON). With ``resume`` a fit continues from it,
    after the last completed epoch, and ends as an uninterrupted fit of the same seed would
    (same history, kept epoch and weights; on one process — with DDP every process gets rank
    0's random state back); a checkpoint of a fit that had ended (early stopping or the last
    epoch) gives its result without training. Without one there, ``resume`` starts afresh. The
    checkpoint must come from a fit with the same settings and data sizes (else
    :class:`InputError`)."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    cfg = config or TrainConfig()
    if loss is not None and cfg.monitor != "loss":
        raise InputError("a custom loss can only be monitored as the validation loss", hint="use monitor='loss'")
    if len(train) == 0 or len(val) == 0:
        raise InputError(f"nothing to train on: {len(train)} training and {len(val)} validation items")
    meta = {"config": cfg.resumable(), "train_items": len(train), "val_items": len(val)}
    saved = saved_fit(checkpoint, meta) if checkpoint is not None and resume else None
    if checkpoint is not None and not resume and is_rank_zero():
        clear_checkpoint(checkpoint)  # an earlier fit's epochs must not be resumed into this one
    if saved is not None and saved["finished"]:
        return _ended(net, checkpoint, saved)
    g = torch.Generator().manual_seed(cfg.seed)
    loaders = [DataLoader(ds, batch_size=cfg.batch_size, shuffle=shuffle, num_workers=cfg.num_workers,
                          generator=g if shuffle else None, drop_last=False, pin_memory=False)
               for ds, shuffle in ((train, True), (val, False))]
    best = _keep_best(cfg.monitor)
    stop = EarlyStopping(monitor=f"val_{cfg.monitor}", mode="max" if cfg.monitor == "auroc" else "min",
                         patience=cfg.patience)
    hooks = [best, stop, *callbacks]
    if checkpoint is not None:
        hooks.append(epoch_checkpoint(checkpoint, g, meta, saved["seconds"] if saved else 0.0))
    bar = cfg.progress and sys.stderr.isatty()
    if bar:
        from lightning.pytorch.callbacks import RichProgressBar

        hooks.append(RichProgressBar(leave=True))
    elif cfg.progress:  # a redirected log: a line per epoch, no redrawn bar
        hooks.append(epoch_lines())
    t0 = time.perf_counter()
    with _quiet(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        try:
            trainer = L.Trainer(
                accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy, num_nodes=cfg.num_nodes,
                precision=cfg.precision, max_epochs=cfg.max_epochs, callbacks=hooks, logger=False,
                enable_checkpointing=checkpoint is not None, enable_progress_bar=bar,
                enable_model_summary=False, num_sanity_val_steps=0,
                plugins=[checkpoint_io()] if checkpoint is not None else None,
            )
        except (MisconfigurationException, ValueError, TypeError) as e:
            raise InputError(f"Lightning refused the training settings: {str(e).splitlines()[0]}",
                             hint="check --accelerator, --devices, --strategy, --num-nodes and --precision") from None
        try:
            trainer.fit(_lightning_module(net, cfg, loss), *loaders, ckpt_path=str(checkpoint) if saved else None)
        except SIGTERMException:  # Lightning stops after the batch and exits with status 0: say it was killed
            log.warning("training stopped by SIGTERM%s", f"; the last completed epoch is kept in {checkpoint}"
                        if checkpoint is not None else "")
            raise SystemExit(128 + signal.SIGTERM) from None
    if best.state is None:
        raise RuntimeError(f"training produced no finite validation {cfg.monitor}")
    net.load_state_dict(best.state)
    net.cpu()
    best_loss = next(h["val_loss"] for h in best.history if h["epoch"] == best.epoch)
    return FitResult(net, best.history, best.epoch, best_loss, trainer.is_global_zero,
                     time.perf_counter() - t0 + (saved["seconds"] if saved else 0.0), trainer.world_size)


def _ended(net: nn.Module, directory, saved: dict) -> FitResult:
    """The result of a fit whose checkpoint says it had ended: its kept weights and history."""
    state = read_checkpoint(directory)["callbacks"]["best"]
    if state["state"] is None:
        raise RuntimeError("the checkpointed fit had produced no finite validation metric")
    net.load_state_dict(state["state"])
    net.cpu()
    best_loss = next(h["val_loss"] for h in state["history"] if h["epoch"] == state["epoch"])
    return FitResult(net, state["history"], state["epoch"], best_loss, is_rank_zero(), saved["seconds"],
                     saved["world_size"])


def poisson_loss(pred_rate: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                 eps: float = 1e-8) -> torch.Tensor:
    """Poisson negative log-likelihood of ``target`` under rates ``pred_rate`` (not logs), without
    the ``log(target!)`` term: ``rate - target · log(rate + eps)``, as ``PoissonNLLLoss(log_input=False)``.

    ``weight`` (broadcastable to ``pred_rate``, e.g. a ``(B, R, 2)`` TSS flag or a ``(B, R, 1)``
    region mask) gives a weighted mean ``Σ w·l / Σ w``; without it the mean over every entry
    (GET: all regions × strands, non-TSS targets 0). An all-zero weight gives 0 (with a graph).
    """
    loss = pred_rate - target * torch.log(pred_rate + eps)
    if weight is None:
        return loss.mean()
    w = torch.broadcast_to(weight.to(loss.dtype), loss.shape)
    return (loss * w).sum() / w.sum().clamp_min(1e-12)


def masked_mse(recon: torch.Tensor, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked regions only: ``recon`` and ``features`` ``(B, R, F)``,
    ``mask`` ``(B, R)`` bool. No masked region gives 0 (with a graph)."""
    err = (recon - features.to(recon.dtype)).pow(2).mean(-1)  # (B, R)
    m = mask.to(err.dtype)
    return (err * m).sum() / m.sum().clamp_min(1.0)


def _positions(net: torch.nn.Module, batch) -> torch.Tensor | None:
    return batch.positions if net.config.distance_encoding else None


def window_zscore(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each window's features z-scored across its regions: ``(x - mean) / sqrt(var + eps)`` over
    the R axis of ``(B, R, F)`` (the paper-era GET pre-training target, MAE-style)."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def pretrain_loss(net: RegionTransformer, batch: MaskedWindow, *, zscore: bool = False) -> torch.Tensor:
    """Masked-region MSE of a collated :class:`MaskedWindow` batch, over masked regions of the
    window's split only; with ``zscore`` the target is each window's features z-scored across its
    regions (:func:`window_zscore`) instead of the features themselves."""
    out = net(batch.x, mask=batch.mask, positions=_positions(net, batch))
    target = window_zscore(batch.x) if zscore else batch.x
    return masked_mse(out.reconstruction, target, batch.mask & batch.in_split)


def entry_weight(has_tss: torch.Tensor, in_split: torch.Tensor, focus: torch.Tensor, *,
                 zero_labels: bool = False) -> torch.Tensor:
    """``(B, R, 2)`` bool: the entries a loss scores. Windows with a focus (``focus >= 0``,
    :func:`~cisgram.data.get_windows.tss_windows`, evaluation) score the focus region's TSS
    entries. Windows without one (training) score the TSS entries of the window's split, or with
    ``zero_labels`` every entry of the split, the non-TSS ones with their target 0 (GET's loss:
    the mean over all regions and both strands)."""
    R = has_tss.shape[1]
    idx = torch.arange(R, device=has_tss.device)
    on = (focus[:, None] < 0) | (idx[None] == focus[:, None])
    scored = has_tss | (focus[:, None, None] < 0) if zero_labels else has_tss
    return scored & (in_split & on)[..., None]


def with_constant_accessibility(x: torch.Tensor, value: float = 1.0) -> torch.Tensor:
    """``x`` ``(B, R, F)`` with its last (accessibility) column set to ``value`` (GET's binary-ATAC
    input: the model sees motifs only)."""
    out = x.clone()
    out[..., -1] = value
    return out


def expression_loss(net: RegionTransformer, batch, *, zero_labels: bool = False) -> torch.Tensor:
    """Poisson loss of a collated :class:`~cisgram.data.get_windows.RegionWindow` batch over its
    :func:`entry_weight` entries."""
    out = net(batch.x, positions=_positions(net, batch))
    return poisson_loss(out.expression, batch.y,
                        entry_weight(batch.has_tss, batch.in_split, batch.focus, zero_labels=zero_labels))


def accessibility_loss(net: RegionTransformer, batch) -> torch.Tensor:
    """GET's ATAC fine-tuning (quantitative mode): the accessibility column is set to 1 in the
    input, so the model sees motifs only, and the accessibility head is scored by a Poisson loss
    against the column's value (the data's normalised log CPM) over the regions of the window's
    split (training windows) or the focus region (evaluation windows)."""
    R = batch.x.shape[1]
    idx = torch.arange(R, device=batch.x.device)
    on = (batch.focus[:, None] < 0) | (idx[None] == batch.focus[:, None])
    out = net(with_constant_accessibility(batch.x), positions=_positions(net, batch))
    return poisson_loss(out.accessibility, batch.x[..., -1:], (batch.in_split & on)[..., None])


def get_loss(*, zero_labels: bool = True, atac_weight: float = 0.0):
    """The fine-tuning loss of GET as a ``loss(net, batch)`` for :func:`fit`: the expression
    Poisson loss (:func:`expression_loss`), plus ``atac_weight`` times :func:`accessibility_loss`
    when it is above 0 (the ATAC head trained alongside)."""
    def loss(net: RegionTransformer, batch) -> torch.Tensor:
        value = expression_loss(net, batch, zero_labels=zero_labels)
        return value + atac_weight * accessibility_loss(net, batch) if atac_weight > 0 else value

    return loss


ATAC_TARGETS = ("none", "logcpm")


@dataclass
class GETTraining:
    """How GET is trained (``specs/get.md`` §2-3); the defaults are GET's but for
    ``zero_labels`` (measured, below), :meth:`faithful` is GET's throughout, :meth:`before` is
    what cisgram did before (the ablation's reference).

    zero_labels
        True scores every region and strand of a training window, the non-TSS ones with target
        0 (GET's loss); False (the default, a measured departure) scores TSS entries only. On
        chr22 (each cell type held out in turn, 3 seeds, ``scripts/get_eval.py``) GET's zero
        labels cost 0.09-0.17 of validation Pearson and 0.01-0.23 of the held-out cell type's
        test Pearson: with ~400 training TSS entries per cell type the loss is dominated by the
        ~10x more zero entries and validation is best at epoch 2 (``docs/get.md``).
    atac_target, atac_weight
        ``"logcpm"`` trains the accessibility head alongside, on the data's normalised log CPM
        with the accessibility input set to 1 (GET's quantitative ATAC fine-tuning), weighted by
        ``atac_weight``; ``"none"`` leaves the head untrained (GET's expression model). GET's
        binary-ATAC mode (the accessibility column 1 everywhere, the paper's setting for
        interpretation) is a property of the data: ``cisgram get-data --accessibility ones``.
    schedule, warmup_epochs, min_lr, betas, no_decay_1d, layer_decay
        The optimiser (:class:`TrainConfig`): GET's per-step linear warm-up and cosine to
        ``min_lr``, AdamW β (0.9, 0.95), no decay on biases, norms and tokens; optional BEiT
        layer-wise decay (GET's current code computes 0.75 but never applies it).
    zscore_pretrain
        Masked-region pre-training against each window's z-scored features (the paper-era
        target) instead of the features.
    """

    zero_labels: bool = False
    atac_target: str = "none"
    atac_weight: float = 1.0
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    min_lr: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.95)
    no_decay_1d: bool = True
    layer_decay: float | None = None
    zscore_pretrain: bool = False

    def __post_init__(self):
        if self.atac_target not in ATAC_TARGETS:
            raise InputError(f"unknown ATAC target {self.atac_target!r}", hint=f"choose one of {', '.join(ATAC_TARGETS)}")
        if self.atac_weight < 0:
            raise InputError(f"atac_weight must be >= 0, got {self.atac_weight}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    @classmethod
    def faithful(cls) -> GETTraining:
        """GET's training throughout: zero labels on, the rest as the defaults."""
        return cls(zero_labels=True)

    @classmethod
    def before(cls) -> GETTraining:
        """cisgram's GET training before it followed GET: TSS entries only, flat learning rate,
        decay on every parameter, AdamW β (0.9, 0.999)."""
        return cls(zero_labels=False, schedule="flat", warmup_epochs=0.0, min_lr=0.0, betas=(0.9, 0.999),
                   no_decay_1d=False)

    def to_dict(self) -> dict:
        return asdict(self)

    def config(self, **kw) -> TrainConfig:
        """A :class:`TrainConfig` with this optimiser and ``kw`` (epochs, lr, batch size, …)."""
        return TrainConfig(schedule=self.schedule, warmup_epochs=self.warmup_epochs,
                           min_lr=min(self.min_lr, kw.get("lr", 1e-3)), betas=self.betas,
                           no_decay_1d=self.no_decay_1d, layer_decay=self.layer_decay, **kw)

    def loss(self):
        """The fine-tuning loss (:func:`get_loss`)."""
        return get_loss(zero_labels=self.zero_labels, atac_weight=self.atac_weight if self.atac_target != "none" else 0.0)

    def pretrain_loss(self):
        """The masked-region pre-training loss (:func:`pretrain_loss`)."""
        return functools.partial(pretrain_loss, zscore=self.zscore_pretrain)
