"""A trained ChromBPNet (or bias-free BPNet) as the model protocol: what ``cisgram.load`` returns
for a ``cisgram train chrombpnet`` run and what :func:`cisgram.inference.predict` batches.

:class:`ChromBPNetModel` wraps the network of :mod:`cisgram.models.bpnet` with the run's target
name. Through ``predict(model, X, output=..., part=...)`` it gives, per sequence of the trained
input width:

- ``output="log_counts"`` (the default): ``(N, 1)`` predicted log count of the output window,
  the one scalar per region that ``predictions.parquet`` and ``cisgram compare`` use. The count
  head is trained against ``log(1 + total)`` (chrombpnet's count target), so ``exp`` of it is
  ``1 +`` the expected total, as in chrombpnet;
- ``output="profile"``: ``(N, T·output_len)`` expected counts per base,
  ``softmax(profile_logits) × exp(log_counts)`` (chrombpnet's ``pred_bw``), tracks flattened
  (reshape to ``(N, T, output_len)``);

and ``part`` chooses the network: ``"full"`` (bias and accessibility combined, what was fitted to
the observed counts), ``"bias_free"`` (the accessibility model alone: chrombpnet's
``chrombpnet_nobias``, the one to explain and to score variants with) or ``"bias"`` (the frozen Tn5
bias model alone). A run trained without a bias model (``no_bias``) holds a plain
:class:`~cisgram.models.bpnet.BPNet`: ``full`` and ``bias_free`` are the same network and
``bias`` is refused.

Departure: predictions are of the forward strand only (chrombpnet's ``pred_bw`` does the same);
the CNN family averages both strands.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from cisgram.errors import InputError
from cisgram.models.bpnet import BPNet, ChromBPNet, load_bpnet, save_bpnet

__all__ = ["OUTPUTS", "PARTS", "ChromBPNetModel", "load_bias_model", "save_bias_model"]

OUTPUTS = ("log_counts", "profile")
PARTS = ("full", "bias_free", "bias")


class ChromBPNetModel:
    """A trained ChromBPNet run's network (``net``: :class:`ChromBPNet`, or a :class:`BPNet` when
    trained without a bias model) and its ``targets`` (one name: the track).

    Predict with :func:`cisgram.inference.predict` (``predict(model, X, output=, part=)``, see the
    module docstring); ``meta`` is kept in ``model.json`` (the count offset given to the bias
    model, the count-loss weights)."""

    family = "chrombpnet"
    reads = "sequence"

    def __init__(self, net: BPNet | ChromBPNet, target: str, *, meta: dict | None = None):
        if not isinstance(net, BPNet | ChromBPNet):
            raise InputError(f"a ChromBPNet run holds a BPNet or ChromBPNet, not a {type(net).__name__}")
        self.net, self.targets, self.meta = net, [str(target)], dict(meta or {})

    @property
    def length(self) -> int:
        """The input width the network was trained on."""
        return int(self.net.length)

    @property
    def output_len(self) -> int:
        """Bases of the centred output window."""
        return int(self.net.output_len)

    @property
    def has_bias(self) -> bool:
        """Whether a frozen bias model is part of the network."""
        return isinstance(self.net, ChromBPNet)

    @property
    def n_outputs(self) -> int:
        """Tracks of the profile (``T``)."""
        return int((self.net.accessibility if self.has_bias else self.net).n_outputs)

    def part(self, net: BPNet | ChromBPNet, part: str = "full"):
        """The callable giving ``part``'s :class:`~cisgram.models.bpnet.ProfileCount` (``net`` is
        this model's network, possibly moved to another device)."""
        if part not in PARTS:
            raise InputError(f"unknown part {part!r} of a ChromBPNet model", hint=f"choose one of {', '.join(PARTS)}")
        if not isinstance(net, ChromBPNet):
            if part == "bias":
                raise InputError("this run was trained without a bias model (no_bias): there is no bias part")
            return net
        return {"full": net, "bias_free": net.bias_free, "bias": net.bias}[part]

    def forward_batch(self, net: BPNet | ChromBPNet, x: torch.Tensor, *, output: str = "log_counts",
                      part: str = "full") -> torch.Tensor:
        """One batch of one-hot ``x`` ``(B, 4, L)``: ``(B, 1)`` log counts or ``(B, T·output_len)``
        expected counts per base (``output="profile"``) of ``part``."""
        if output not in OUTPUTS:
            raise InputError(f"unknown output {output!r}", hint=f"choose one of {', '.join(OUTPUTS)}")
        out = self.part(net, part)(x)
        log_counts = out.log_counts.float()
        if output == "log_counts":
            return log_counts
        total = torch.logsumexp(log_counts, dim=1, keepdim=True)  # one count, or per-track counts summed
        return torch.exp(torch.log_softmax(out.profile_logits.float().flatten(1), dim=-1) + total)

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Collected outputs as float64 (no rescaling: the network answers on the count scale)."""
        return np.asarray(out, dtype=np.float64)

    def empty_output(self, X, *, output: str = "log_counts", part: str = "full") -> np.ndarray:
        return np.zeros((0, 1 if output == "log_counts" else self.n_outputs * self.output_len), np.float32)

    def save(self, directory: str | os.PathLike) -> None:
        """``model.safetensors`` + ``model.json`` (:func:`~cisgram.models.bpnet.save_bpnet`)."""
        save_bpnet(self.net, directory, {"targets": self.targets, "meta": self.meta})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ChromBPNetModel:
        net, cfg = load_bpnet(directory)
        targets = cfg.get("targets") or ["signal"]
        return cls(net, targets[0], meta=cfg.get("meta"))


def load_bias_model(path: str | os.PathLike) -> tuple[BPNet, dict]:
    """The bias model to reuse from ``path``: a ``cisgram train chrombpnet`` run (its ``bias/``
    directory) or a ``bias/`` directory itself. Returns ``(net, model.json)``; the network is in
    eval mode. Anything else is an :class:`~cisgram.errors.InputError` naming the path."""
    d = os.fspath(path)
    sub = os.path.join(d, "bias")
    source = sub if os.path.isfile(os.path.join(sub, "model.json")) else d
    if not os.path.isfile(os.path.join(source, "model.json")):
        raise InputError("no bias model here (expected bias/model.json of a chrombpnet run, or model.json)", path=d,
                         hint="give a run directory from `cisgram train chrombpnet` trained with a bias model")
    net, cfg = load_bpnet(source)
    if not isinstance(net, BPNet) or cfg.get("role") != "bias":
        raise InputError("this model is not a bias model (a run trained with --no-bias has none)", path=source,
                         hint="give a chrombpnet run trained with a bias model, or its bias/ directory")
    return net, cfg


def save_bias_model(net: BPNet, directory: str | os.PathLike, meta: dict) -> None:
    """The bias model of a run, as ``bias/model.safetensors`` + ``model.json`` (``role: bias``)."""
    save_bpnet(net, directory, {"role": "bias", "meta": meta})
