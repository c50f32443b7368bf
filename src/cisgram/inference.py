"""TODO docstring."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cisgram.errors import InputError
from cisgram.genome import codes_to_onehot


def _onehot_batch(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:  # codes (B, L): A C G T N = 0..4
        return torch.from_numpy(codes_to_onehot(x))
    return torch.as_tensor(x, dtype=torch.float32)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for but no CUDA device is visible", hint="use --device cpu")
    return torch.device(device)


@torch.inference_mode()
def predict(net: nn.Module, X, *, batch_size: int = 256, device: str = "cpu", task: str = "regression",
            rc_average: bool = True) -> np.ndarray:
    """Outputs ``(N, T)`` float32 of ``net`` on ``X``: ``(N, L)`` uint8 codes, ``(N, 4, L)``
    one-hot, or a dataset of ``(x, y)`` pairs. Classification outputs are probabilities. With
    ``rc_average`` each output is the mean over the sequence and its reverse complement.
    ``net``'s training mode and device are restored afterwards."""
    dev = resolve_device(device)
    was_training = net.training
    first = next(net.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    net.eval().to(dev)
    outs = []
    try:
        if isinstance(X, Dataset):
            batches = (b[0] for b in DataLoader(X, batch_size=batch_size, shuffle=False))
        else:
            batches = (_onehot_batch(X[i: i + batch_size]) for i in range(0, len(X), batch_size))
        for xb in batches:
            xb = xb.to(dev)
            out = net(xb).float()
            if task == "classification":
                out = torch.sigmoid(out)
            if rc_average:
                rc = net(xb.flip(1, 2)).float()
                out = (out + (torch.sigmoid(rc) if task == "classification" else rc)) / 2
            outs.append(out.cpu())
    finally:
        net.to(home).train(was_training)
    if not outs:
        return np.zeros((0, 0), np.float32)
    return torch.cat(outs).numpy()






def network(model) -> nn.Module:
    """The ``nn.Module`` to explain: ``model``, or a :class:`~cisgram.models.cnn.CNNModel`'s ``.net``."""
    net = getattr(model, "net", model)
    if not isinstance(net, nn.Module):
        raise InputError(f"cannot explain a {type(model).__name__}",
                         hint="pass a torch nn.Module or a CNNModel")
    return net


def net_dtype(net: nn.Module) -> torch.dtype:
    """The dtype of the network's parameters (float32 when it has none)."""
    first = next(net.parameters(), None)
    return torch.float32 if first is None else first.dtype


def onehot(X, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``X`` as a one-hot ``(N, 4, L)`` CPU tensor of ``dtype``.

    Parameters
    ----------
    X
        ``(N, 4, L)`` one-hot (numpy or torch; rows A, C, G, T, ``N`` all zeros) or ``(N, L)``
        integer codes (A C G T N = 0..4).
    dtype
        The dtype of the answer (the network's).
    """
    if not isinstance(X, np.ndarray | torch.Tensor):
        X = np.asarray(X)
    shape = tuple(X.shape)
    if len(shape) == 2:
        codes = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X
        in_range = codes.size == 0 or 0 <= codes.min() <= codes.max() <= 4
        if not np.issubdtype(codes.dtype, np.integer) or not in_range:
            raise InputError(f"a 2-D X must hold (N, L) base codes A C G T N = 0..4, got {codes.dtype} "
                             f"{shape}",
                             hint="pass one-hot sequences as (N, 4, L); one one-hot sequence needs X[None]")
        return torch.from_numpy(codes_to_onehot(codes.astype(np.uint8))).to(dtype)
    if len(shape) != 3 or shape[1] != 4:
        hint = ("transpose it: X.transpose(0, 2, 1)" if len(shape) == 3 and shape[2] == 4
                else "one-hot is (N, 4, L) with rows A, C, G, T; codes are (N, L) uint8")
        raise InputError(f"sequences must be one-hot (N, 4, L) or codes (N, L), got shape {shape}", hint=hint)
    return torch.as_tensor(X).detach().to("cpu", dtype).contiguous()


@contextlib.contextmanager
def evaluating(net: nn.Module, device: str):
    """Inside the block ``net`` is in eval mode on ``device`` (yielded as a ``torch.device``);
    its training mode and device are put back afterwards, also on an error."""
    dev = resolve_device(device)
    was_training = net.training
    first = next(net.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    net.eval().to(dev)
    try:
        yield dev
    finally:
        net.to(home).train(was_training)


def select(out: torch.Tensor, target: int) -> torch.Tensor:
    """Output column ``target`` ``(B,)`` of a network's ``(B, T)`` answer (``(B,)`` counts as one
    column); an :class:`InputError` names the valid range when ``target`` is not one."""
    out = out.reshape(out.shape[0], -1)
    if not 0 <= int(target) < out.shape[1]:
        raise InputError(f"target {target} is not an output of this model",
                         hint=f"it has {out.shape[1]} output(s): 0..{out.shape[1] - 1}")
    return out[:, int(target)]


def spans(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    return (slice(lo, min(n, lo + batch_size)) for lo in range(0, n, batch_size))


def target_outputs(net: nn.Module, batches: Iterable[torch.Tensor], target: int,
                   device: torch.device) -> torch.Tensor:
    """The raw output ``target`` ``(M,)`` of ``net`` (already in eval mode on ``device``) for
    every sequence of ``batches`` (one-hot ``(B, 4, L)`` each), on the CPU: the one batched
    forward pass every perturbation analysis goes through."""
    outs = []
    with torch.inference_mode():
        for xb in batches:
            outs.append(select(net(xb.to(device)), target).cpu())
    return torch.cat(outs) if outs else torch.zeros(0)
