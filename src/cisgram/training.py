"""The one place that turns (network, data, config) into a fitted network, through Lightning.

:func:`fit` trains any ``nn.Module`` mapping ``(B, 4, L)`` one-hot to ``(B, T)`` on two datasets
of ``(x, y)`` pairs (NaN in ``y`` marks a task that does not score that item): Adam(W), masked
MSE (regression) or masked binary cross-entropy on logits (classification), early stopping on
the validation loss, and the best epoch's weights kept in memory and put back at the end (no
pickled checkpoint files). A ``loss(net, batch)`` callable trains any other network on any
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
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cisgram.data.get_windows import MaskedWindow
from cisgram.errors import InputError
from cisgram.models.get import RegionTransformer

log = logging.getLogger(__name__)

TASKS = ("regression", "classification")
MONITORS = ("loss", "auroc")


@dataclass
class TrainConfig:
    """How to train. ``devices``/``strategy``/``num_nodes``/``accelerator``/``precision`` are
    Lightning's ``Trainer`` arguments, passed through; the rest are the optimisation.
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

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"unknown task {self.task!r}", hint=f"choose one of {', '.join(TASKS)}")
        if self.monitor not in MONITORS or (self.monitor == "auroc" and self.task != "classification"):
            raise InputError(f"cannot monitor {self.monitor!r} for {self.task}",
                             hint="monitor 'loss', or 'auroc' for classification")
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise InputError("max_epochs, batch_size and patience must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


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
            params = [p for p in self.net.parameters() if p.requires_grad]  # frozen bases (LoRA) stay out
            return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)

    return Learner()


def _keep_best(monitor: str):
    from lightning.pytorch.callbacks import Callback

    sign = -1.0 if monitor == "auroc" else 1.0  # the kept epoch minimises sign * metric

    class KeepBest(Callback):
        """Copies the weights whenever the (all-process) monitored validation metric improves."""

        def __init__(self):
            self.best, self.state, self.epoch, self.history = float("inf"), None, -1, []
            self._t = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            m = trainer.callback_metrics
            val = float(m["val_loss"]) if "val_loss" in m else float("nan")
            now = time.perf_counter()
            row = {"epoch": trainer.current_epoch, "train_loss": float(m.get("train_loss", float("nan"))),
                   "val_loss": val, "seconds": now - self._t}
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
        callbacks: tuple = (), loss: Callable[[nn.Module, object], torch.Tensor] | None = None) -> FitResult:
    """Train ``net`` on ``train`` with early stopping on ``val``; see the module docstring.
    ``callbacks`` are extra Lightning callbacks (e.g. timers). ``loss(net, batch)`` (a scalar
    tensor) replaces the default ``masked_loss(net(x), y)`` in training and validation, for
    batches that are not ``(x, y)`` pairs (e.g. GET's region windows); it cannot be combined
    with ``monitor="auroc"``. Only parameters with ``requires_grad`` are optimised.

    Randomness (initialisation is the caller's; dropout, shuffling) follows ``config.seed``
    without changing the global torch generator for the caller."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import EarlyStopping

    cfg = config or TrainConfig()
    if loss is not None and cfg.monitor != "loss":
        raise InputError("a custom loss can only be monitored as the validation loss", hint="use monitor='loss'")
    if len(train) == 0 or len(val) == 0:
        raise InputError(f"nothing to train on: {len(train)} training and {len(val)} validation items")
    g = torch.Generator().manual_seed(cfg.seed)
    loaders = [DataLoader(ds, batch_size=cfg.batch_size, shuffle=shuffle, num_workers=cfg.num_workers,
                          generator=g if shuffle else None, drop_last=False, pin_memory=False)
               for ds, shuffle in ((train, True), (val, False))]
    best = _keep_best(cfg.monitor)
    stop = EarlyStopping(monitor=f"val_{cfg.monitor}", mode="max" if cfg.monitor == "auroc" else "min",
                         patience=cfg.patience)
    hooks = [best, stop, *callbacks]
    if cfg.progress:
        from lightning.pytorch.callbacks import RichProgressBar

        hooks.append(RichProgressBar(leave=True))
    t0 = time.perf_counter()
    with _quiet(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        try:
            trainer = L.Trainer(
                accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy, num_nodes=cfg.num_nodes,
                precision=cfg.precision, max_epochs=cfg.max_epochs, callbacks=hooks, logger=False,
                enable_checkpointing=False, enable_progress_bar=cfg.progress, enable_model_summary=False,
                num_sanity_val_steps=0,
            )
        except (MisconfigurationException, ValueError, TypeError) as e:
            raise InputError(f"Lightning refused the training settings: {str(e).splitlines()[0]}",
                             hint="check --accelerator, --devices, --strategy, --num-nodes and --precision") from None
        trainer.fit(_lightning_module(net, cfg, loss), *loaders)
    if best.state is None:
        raise RuntimeError(f"training produced no finite validation {cfg.monitor}")
    net.load_state_dict(best.state)
    net.cpu()
    best_loss = next(h["val_loss"] for h in best.history if h["epoch"] == best.epoch)
    return FitResult(net, best.history, best.epoch, best_loss, trainer.is_global_zero, time.perf_counter() - t0,
                     trainer.world_size)







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


def pretrain_loss(net: RegionTransformer, batch: MaskedWindow) -> torch.Tensor:
    """Masked-region MSE of a collated :class:`MaskedWindow` batch, over masked regions of the
    window's split only."""
    out = net(batch.x, mask=batch.mask, positions=_positions(net, batch))
    return masked_mse(out.reconstruction, batch.x, batch.mask & batch.in_split)


def entry_weight(has_tss: torch.Tensor, in_split: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
    """``(B, R, 2)`` bool: the TSS entries of the window's split, and only the focus region's in
    windows with a focus (``focus >= 0``, :func:`~cisgram.data.get_windows.tss_windows`)."""
    R = has_tss.shape[1]
    idx = torch.arange(R, device=has_tss.device)
    on = (focus[:, None] < 0) | (idx[None] == focus[:, None])
    return has_tss & (in_split & on)[..., None]


def expression_loss(net: RegionTransformer, batch) -> torch.Tensor:
    """Poisson loss of a collated :class:`~cisgram.data.get_windows.RegionWindow` batch over its
    :func:`entry_weight` entries."""
    out = net(batch.x, positions=_positions(net, batch))
    return poisson_loss(out.expression, batch.y, entry_weight(batch.has_tss, batch.in_split, batch.focus))
