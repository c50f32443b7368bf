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

``output="counts_and_profile"`` gives both at once for variant scoring, ``(N, C + T·output_len)``:
the ``C`` log counts (1, or ``T`` with ``count_per_track``), then the profile probabilities
``softmax(profile_logits)`` (tracks flattened). ``part`` defaults to the model's ``default_part``
(``"full"``; :meth:`ChromBPNetModel.using` gives the same network with another default, so
code that predicts through the model protocol alone, such as ``Run.score_edits``, reads that part).

Explaining (:meth:`ChromBPNetModel.explained`, :class:`BPNetScalar`): an ``nn.Module`` mapping
one-hot ``(B, 4, L)`` to one scalar per sequence of a part, which every method of
:mod:`cisgram.interpret.attribution` takes: ``"counts"`` (the predicted log count) or
``"profile"``, BPNet's profile scalar ``Σ softmax(logits).detach() · (logits − mean(logits))``
over positions and tracks (the "weighted mean-normalised logits" that BPNet and chrombpnet explain
the profile head with: the softmax weights are held constant, so the gradient is that of the
logits weighted by where the predicted signal is).

Departure: predictions are of the forward strand only (chrombpnet's ``pred_bw`` does the same);
the CNN family averages both strands.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
from torch import nn

from cisgram.errors import InputError
from cisgram.models.bpnet import BPNet, ChromBPNet, load_bpnet, save_bpnet

__all__ = ["EXPLAINED", "OUTPUTS", "PARTS", "BPNetScalar", "ChromBPNetModel", "WeightedLogits", "load_bias_model",
           "save_bias_model"]

OUTPUTS = ("log_counts", "profile", "counts_and_profile")
PARTS = ("full", "bias_free", "bias")
EXPLAINED = ("counts", "profile")


class WeightedLogits(nn.Module):
    """``z · softmax(z).detach()`` over the last axis of ``(B, P)`` profile logits ``z``: the
    profile scalar's one nonlinear step, as a module of its own so that DeepLIFT can give it the
    rescale rule (``deeplift_rule = "rescale"``, read by
    :func:`cisgram.interpret.attribution.deeplift`), as bpnet-lite's ``_ProfileLogitScaling``
    does; without it DeepLIFT would treat the step as linear and its contributions would not
    sum to the change of the output."""

    deeplift_rule = "rescale"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.softmax(z, dim=-1).detach()


class BPNetScalar(nn.Module):
    """The scalar an attribution explains, of one part of a BPNet / ChromBPNet: ``(B, 4, L)``
    one-hot to ``(B, 1)``.

    - ``output="counts"``: the predicted log count (with ``count_per_track``, of the tracks'
      counts summed);
    - ``output="profile"``: ``Σ_{t, l} softmax(z)[t, l].detach() · (z[t, l] − mean(z))`` with ``z``
      the profile logits: BPNet's and chrombpnet's profile contribution target. The
      softmax is over positions and tracks jointly, as the model's profile is.

    ``body`` is the part's network (its output a :class:`~cisgram.models.bpnet.ProfileCount`); it
    is kept under the name ``body``, not ``net``, so that this module is itself the network
    :func:`cisgram.inference.network` runs. DeepLIFT's contributions sum to ``f(X) − f(ref)``
    for every part and output (tested): the weighting is a :class:`WeightedLogits` module, and
    the full model's count, ``logaddexp(a, b)`` of the accessibility and bias log counts, is
    written ``a + Softplus(b − a)`` with an ``nn.Softplus``, which has a DeepLIFT rule (the
    functional ``logaddexp`` has none and would be treated as linear)."""

    def __init__(self, body: nn.Module, output: str = "counts"):
        super().__init__()
        if output not in EXPLAINED:
            raise InputError(f"unknown ChromBPNet output {output!r} to explain", hint=f"choose {' or '.join(EXPLAINED)}")
        self.body, self.output = body, output
        self.weighted, self.softplus = WeightedLogits(), nn.Softplus()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.output == "counts":
            if isinstance(self.body, ChromBPNet):
                a, b = self.body.accessibility(x).log_counts, self.body.bias(x).log_counts
                log_counts = a + self.softplus(b - a)  # = logaddexp(a, b), the combination rule
            else:
                log_counts = self.body(x).log_counts
            return torch.logsumexp(log_counts, dim=1, keepdim=True)  # one count, or per-track counts summed
        out = self.body(x)
        logits = out.profile_logits.flatten(1)
        return self.weighted(logits - logits.mean(-1, keepdim=True)).sum(-1, keepdim=True)  # softmax(z - c) = softmax(z)


class ChromBPNetModel:
    """A trained ChromBPNet run's network (``net``: :class:`ChromBPNet`, or a :class:`BPNet` when
    trained without a bias model) and its ``targets`` (one name: the track).

    Predict with :func:`cisgram.inference.predict` (``predict(model, X, output=, part=)``, see the
    module docstring); ``meta`` is kept in ``model.json`` (the count offset given to the bias
    model, the count-loss weights)."""

    family = "chrombpnet"
    reads = "sequence"

    default_part = "full"

    def __init__(self, net: BPNet | ChromBPNet, target: str, *, meta: dict | None = None):
        if not isinstance(net, BPNet | ChromBPNet):
            raise InputError(f"a ChromBPNet run holds a BPNet or ChromBPNet, not a {type(net).__name__}")
        self.net, self.targets, self.meta = net, [str(target)], dict(meta or {})

    def using(self, part: str) -> ChromBPNetModel:
        """This model (the same network, not a copy of it) predicting ``part`` unless told
        otherwise; ``part`` is checked (``"bias"`` of a run without a bias model is refused)."""
        self.part(self.net, part)
        other = copy.copy(self)
        other.default_part = part
        return other

    def module(self, part: str | None = None) -> nn.Module:
        """``part``'s network as an ``nn.Module`` whose output is a
        :class:`~cisgram.models.bpnet.ProfileCount`: the whole :class:`ChromBPNet` (``"full"``), its
        accessibility model (``"bias_free"``) or its bias model (``"bias"``)."""
        part = part or self.default_part
        self.part(self.net, part)
        if not isinstance(self.net, ChromBPNet):
            return self.net
        return {"full": self.net, "bias_free": self.net.accessibility, "bias": self.net.bias}[part]

    def explained(self, output: str = "counts", part: str | None = None) -> BPNetScalar:
        """The ``nn.Module`` an attribution method explains: ``part``'s log counts
        (``output="counts"``) or profile scalar (``"profile"``), one column (:class:`BPNetScalar`)."""
        return BPNetScalar(self.module(part), output)

    @property
    def length(self) -> int:
        """The input width the network was trained on."""
        return int(self.net.length)

    @property
    def output_len(self) -> int:
        """Bases of the centred output window."""
        return int(self.net.output_len)

    @property
    def n_counts(self) -> int:
        """Columns of the log counts: 1, or ``T`` with ``count_per_track``."""
        return self.n_outputs if (self.net.accessibility if self.has_bias else self.net).count_per_track else 1

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
                      part: str | None = None) -> torch.Tensor:
        """One batch of one-hot ``x`` ``(B, 4, L)``: ``(B, 1)`` log counts, ``(B, T·output_len)``
        expected counts per base (``output="profile"``) or both as log counts and probabilities
        (``"counts_and_profile"``) of ``part`` (default :attr:`default_part`)."""
        if output not in OUTPUTS:
            raise InputError(f"unknown output {output!r}", hint=f"choose one of {', '.join(OUTPUTS)}")
        out = self.part(net, part or self.default_part)(x)
        log_counts = out.log_counts.float()
        if output == "log_counts":
            return log_counts
        if output == "counts_and_profile":
            return torch.cat([log_counts, torch.softmax(out.profile_logits.float().flatten(1), dim=-1)], dim=1)
        total = torch.logsumexp(log_counts, dim=1, keepdim=True)  # one count, or per-track counts summed
        return torch.exp(torch.log_softmax(out.profile_logits.float().flatten(1), dim=-1) + total)

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Collected outputs as float64 (no rescaling: the network answers on the count scale)."""
        return np.asarray(out, dtype=np.float64)

    def empty_output(self, X, *, output: str = "log_counts", part: str | None = None) -> np.ndarray:
        width = {"log_counts": self.n_counts, "profile": 0, "counts_and_profile": self.n_counts}[output]
        return np.zeros((0, width + (0 if output == "log_counts" else self.n_outputs * self.output_len)), np.float32)

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
