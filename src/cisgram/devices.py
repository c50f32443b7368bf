"""Which device to run on: the one resolution of ``--device`` for every part of cisgram (the
scanner, the networks, the attributions)."""

from __future__ import annotations

from cisgram.errors import InputError


def resolve_device(device):
    """``"auto"`` (CUDA when visible, else the CPU), ``"cpu"`` or ``"cuda[:N]"`` (or a
    ``torch.device``) as a ``torch.device``. Anything else, or CUDA where torch sees none, is an
    :class:`~cisgram.errors.InputError`."""
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"device must be 'cpu', 'cuda' (or 'cuda:N') or 'auto', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but torch sees no CUDA GPU", hint="use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}", hint="use auto, cpu or cuda[:N]") from None
