"""Running trained networks: devices, eval mode, batching, and :func:`predict`, the one loop.

tangermeme's ``predict.py`` is the model: one verb ``predict(model, X, *, batch_size, device)``
over any model, the batching written once, the network's mode and device put back afterwards.
Everything else that runs a network (attributions, ISM, GET's windows, variant scoring) either
calls :func:`predict` or builds on :func:`evaluating` and :func:`spans` from here.

What :func:`predict` takes as ``model``
---------------------------------------
- a model that needs no network (no ``net``), with its own ``predict(codes, *per_item)``
  (:class:`~cisgram.models.iq.IQModel`, :class:`~cisgram.models.baselines.BaselineSet`):
  ``X`` is read as base codes (:func:`cisgram.genome.as_codes`) and handed over whole;
- a network model with ``net`` (the ``nn.Module``), ``forward_batch(net, *tensors, **options)``
  (what to collect from one batch already on the device) and ``decode(outputs)`` (numpy
  post-processing, e.g. back to the targets' scale): :class:`~cisgram.models.cnn.CNNModel`
  (strand-averaged outputs) and :class:`~cisgram.models.get.GETModel` (one head of the
  transformer on region windows);
- a bare ``nn.Module`` on one-hot ``(B, 4, L)``: its outputs, averaged with the reverse
  complement's when ``rc_average`` and passed through a sigmoid when ``task="classification"``.

Inputs ``X``: ``(N, L)`` uint8 base codes (A C G T N = 0..4; turned into one-hot batch by batch),
``(N, 4, L)`` one-hot, any other array the network reads (GET's ``(N, R, F)`` windows), or a torch
``Dataset`` of ``(x, y)`` pairs (``y`` is ignored). ``per_item`` arrays (GET's region positions,
IQ's track covariates) are cut into the same batches as ``X``; ``None`` stays ``None``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cisgram.devices import resolve_device
from cisgram.errors import InputError
from cisgram.genome import as_codes, codes_to_onehot

__all__ = ["evaluating", "net_dtype", "network", "onehot", "predict", "resolve_device", "select", "spans",
           "target_outputs"]


def network(model) -> nn.Module:
    """The ``nn.Module`` inside ``model`` (its ``.net``), or ``model`` itself."""
    net = getattr(model, "net", model)
    if not isinstance(net, nn.Module):
        raise InputError(f"cannot run a {type(model).__name__} as a network",
                         hint="pass a torch nn.Module, a CNNModel or a GETModel")
    return net


def net_dtype(net: nn.Module) -> torch.dtype:
    """The dtype of the network's parameters (float32 when it has none)."""
    first = next(net.parameters(), None)
    return torch.float32 if first is None else first.dtype


def onehot(X, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``X`` as a one-hot ``(N, 4, L)`` CPU tensor of ``dtype``: ``(N, 4, L)`` one-hot (numpy or
    torch; rows A, C, G, T, ``N`` all zeros) as it is, ``(N, L)`` integer codes (A C G T N = 0..4)
    expanded."""
    if not isinstance(X, np.ndarray | torch.Tensor):
        X = np.asarray(X)
    shape = tuple(X.shape)
    if len(shape) == 2:
        codes = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X
        in_range = codes.size == 0 or 0 <= codes.min() <= codes.max() <= 4
        if not np.issubdtype(codes.dtype, np.integer) or not in_range:
            raise InputError(f"a 2-D X must hold (N, L) base codes A C G T N = 0..4, got {codes.dtype} {shape}",
                             hint="pass one-hot sequences as (N, 4, L); one one-hot sequence needs X[None]")
        return torch.from_numpy(codes_to_onehot(codes.astype(np.uint8))).to(dtype)
    if len(shape) != 3 or shape[1] != 4:
        hint = ("transpose it: X.transpose(0, 2, 1)" if len(shape) == 3 and shape[2] == 4
                else "one-hot is (N, 4, L) with rows A, C, G, T; codes are (N, L) uint8")
        raise InputError(f"sequences must be one-hot (N, 4, L) or codes (N, L), got shape {shape}", hint=hint)
    return torch.as_tensor(X).detach().to("cpu", dtype).contiguous()


@contextlib.contextmanager
def evaluating(net: nn.Module, device: str | torch.device = "cpu") -> Iterator[torch.device]:
    """Inside the block ``net`` is in eval mode on ``device`` (yielded as a ``torch.device``); its
    training mode and device are put back afterwards, also on an error."""
    dev = resolve_device(device)
    was_training = net.training
    first = next(net.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    net.eval().to(dev)
    try:
        yield dev
    finally:
        net.to(home).train(was_training)


def spans(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    return (slice(lo, min(n, lo + batch_size)) for lo in range(0, n, batch_size))


def select(out: torch.Tensor, target: int) -> torch.Tensor:
    """Output column ``target`` ``(B,)`` of a network's ``(B, T)`` answer (``(B,)`` counts as one
    column); an :class:`InputError` names the valid range when ``target`` is not one."""
    out = out.reshape(out.shape[0], -1)
    if not 0 <= int(target) < out.shape[1]:
        raise InputError(f"target {target} is not an output of this model",
                         hint=f"it has {out.shape[1]} output(s): 0..{out.shape[1] - 1}")
    return out[:, int(target)]


def target_outputs(net: nn.Module, batches: Iterable[torch.Tensor], target: int,
                   device: torch.device) -> torch.Tensor:
    """The raw output ``target`` ``(M,)`` of ``net`` (already in eval mode on ``device``) for every
    sequence of ``batches`` (one-hot ``(B, 4, L)`` each), on the CPU: the one batched forward
    pass every perturbation analysis goes through."""
    outs = []
    with torch.inference_mode():
        for xb in batches:
            outs.append(select(net(xb.to(device)), target).cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def _tensor(x) -> torch.Tensor | None:
    """One batch as a tensor: uint8 ``(B, L)`` codes become float32 one-hot."""
    if x is None:
        return None
    if isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2:
        return torch.from_numpy(codes_to_onehot(x))
    t = torch.as_tensor(x)
    return t.float() if t.is_floating_point() and t.dtype == torch.float64 else t


def _batches(X, per_item: tuple, batch_size: int) -> Iterator[tuple]:
    if isinstance(X, Dataset):
        if any(p is not None for p in per_item):
            raise InputError("per-item arrays cannot go with a dataset; put them in the dataset's items")
        for b in DataLoader(X, batch_size=batch_size, shuffle=False):
            yield (b[0] if isinstance(b, list | tuple) else b,)
        return
    for sl in spans(len(X), batch_size):
        yield (_tensor(X[sl]), *(None if p is None else _tensor(p[sl]) for p in per_item))


def _sequence_step(task: str, rc_average: bool):
    """One batch of a bare sequence network: outputs (probabilities for classification), averaged
    with the reverse complement's when ``rc_average``."""
    def outputs(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = net(x).float()
        return torch.sigmoid(out) if task == "classification" else out

    def step(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = outputs(net, x)
        return (out + outputs(net, x.flip(1, 2))) / 2 if rc_average else out

    return step


def predict(model, X, *per_item, batch_size: int = 256, device: str | torch.device = "cpu",
            recentre: bool = False, task: str = "regression", rc_average: bool = True, **options) -> np.ndarray:
    """``model``'s predictions for ``X`` as float numpy (see the module docstring for what
    ``model`` and ``X`` may be); ``(N, T)`` for sequence models, GET's head ``(N, R, k)``.

    ``per_item`` arrays are batched with ``X`` and passed on (IQ's covariates, GET's positions);
    ``options`` go to the model's ``forward_batch`` (GET's ``output``). ``task`` and
    ``rc_average`` apply to a bare ``nn.Module`` only: network models decide for themselves.
    The network runs without gradients in eval mode on ``device``; its mode and device are put
    back afterwards.

    Sequence models (``model.reads == "sequence"``) take strings, codes or one-hot, and refuse a
    length other than ``model.length`` (an :class:`InputError` naming both) unless ``recentre``,
    which cuts the central ``model.length`` bases out of longer sequences."""
    if getattr(model, "reads", None) == "sequence" and not isinstance(X, Dataset):
        X = as_codes(X, length=getattr(model, "length", None), recentre=recentre)
    if not isinstance(model, nn.Module) and not hasattr(model, "net"):
        return model.predict(X, *per_item, **options)
    net = network(model)
    step = getattr(model, "forward_batch", None) or _sequence_step(task, rc_average)
    outs = []
    with evaluating(net, device) as dev, torch.inference_mode():
        for batch in _batches(X, per_item, batch_size):
            outs.append(step(net, *[None if b is None else b.to(dev) for b in batch], **options).float().cpu())
    if outs:
        out = torch.cat(outs).numpy()
    else:
        empty = getattr(model, "empty_output", None)
        out = empty(X, **options) if empty is not None else np.zeros((0, 0), np.float32)
    decode = getattr(model, "decode", None)
    return decode(out) if decode is not None else out
