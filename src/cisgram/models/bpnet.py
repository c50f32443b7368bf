"""BPNet and ChromBPNet: base-resolution profile models, the Tn5 bias factorisation, and their losses.

A :class:`BPNet` reads one-hot ``(N, 4, L)`` float32 (A, C, G, T) and returns a
:class:`ProfileCount`: ``profile_logits`` ``(N, T, output_len)`` (the shape of the signal over the
central output window, a softmax over positions and tracks jointly) and ``log_counts`` ``(N, 1)``
(log total count of the window). :class:`ChromBPNet` holds a frozen bias BPNet (Tn5 or DNase-I
sequence preference, trained beforehand on non-peak background) beside an accessibility BPNet and
combines them as ChromBPNet does; :meth:`ChromBPNet.bias_free` is the accessibility model alone,
the one to interpret and to score variants with. :func:`build_bpnet` makes either from its
JSON-safe spec; :func:`save_bpnet` / :func:`load_bpnet` keep it as safetensors + JSON.

The losses are here rather than in :mod:`cisgram.training` because they belong to these outputs
and ``models`` may not import ``training``: :func:`multinomial_nll` (profile), :func:`count_mse`
(counts), :func:`chrombpnet_loss` (their sum with the count weight) and :func:`count_loss_weight`.

What we follow (kundajelab/chrombpnet ``training/models/bpnet_model.py`` and
``chrombpnet_with_bias_model.py``): ``valid`` convolutions throughout; a 21-bp first convolution with ReLU;
``n_layers`` residual blocks ``crop(x) + ReLU(conv(k=3, dilation=2^i))`` for ``i = 1 … n_layers``
(the first dilation is 2, not 1: that is what makes 2114 bp in give exactly 1000 bp out); a 75-wide
profile convolution cropped to the centred output window; a count head that averages the whole
trunk output and applies one linear layer (one count per example). Defaults: input 2114, output
1000, 512 filters, 8 layers for the accessibility model (profile receptive field 1,115 bp); the
bias model is 128 filters, 4 layers (:data:`BIAS_DEFAULTS`, receptive field 155 bp), chrombpnet's
``bias pipeline`` defaults. Combination: profile logits add; log counts combine as
``logaddexp(a, b)`` = log(exp(a) + exp(b)). Profile loss: the exact multinomial negative log
likelihood (chrombpnet's ``tfp`` Multinomial, factorial terms included) averaged over examples;
count loss: MSE against ``log(1 + total)``; count weight: median total / 10 over the training
regions with the 0.01 %-tails removed (``find_chrombpnet_hyperparams.py``, and
``find_bias_hyperparams.py`` for the bias model on background).

Where we depart: PyTorch's default (Kaiming-uniform) initialisation instead of Keras's
Glorot-uniform; any input at least the minimum length is accepted (the profile is always cropped
to ``output_len``; the count head averages whatever trunk there is, so counts are only comparable
at the trained length); an odd leftover after cropping goes to the right instead of being an
assertion; several tracks (``n_outputs``) share one softmax as in bpnet-lite, and
``count_per_track=True`` gives one count per track instead of one per example. The combined model
requires both parts to have the same input, output and track geometry (chrombpnet asserts the
same). Left for the training command: the bias model's count offset on the target data
(chrombpnet's ``bias_model_scaled``, :meth:`BPNet.offset_log_counts` is the operation) and the
choice of background regions (:func:`cisgram.data.profiles.bias_background`).

bpnet-lite was assessed as a dependency and not taken (version 1.1.0 from PyPI, MIT, the PyTorch
port by BPNet's author): its ``BPNet`` / ``ChromBPNet`` classes match chrombpnet's network (with
``same`` padding and a trim), but (1) the model classes carry ``fit`` loops that print, save with
``torch.save`` of the whole module and hard-code ``device='cuda'`` for the bias predictions;
(2) importing it imports tangermeme, h5py and tqdm, and it declares seaborn, modisco, macs3 and
bam2bw as requirements; (3) both ``fit`` loops print that models trained with bpnet-lite may
underperform the official repositories' (its README, per specs/toolkits.md, says ChromBPNet
training was removed for that reason); (4) there are no tests. The global
``torch.backends.cudnn.benchmark = True`` at import that DESIGN names is commented out in 1.1.0.
Nothing here is copied from it.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from cisgram.errors import InputError

ARCHS = ("bpnet", "chrombpnet")
BIAS_DEFAULTS = {"n_filters": 128, "n_layers": 4}
"""chrombpnet's bias-model width and depth (its ``bias pipeline`` defaults)."""


class ProfileCount(NamedTuple):
    """A BPNet's output: ``profile_logits`` ``(N, T, output_len)``, unnormalised over positions
    and tracks jointly; ``log_counts`` ``(N, 1)`` (``(N, T)`` with ``count_per_track``), natural log
    of the expected total count in the output window."""

    profile_logits: torch.Tensor
    log_counts: torch.Tensor


def receptive_field(n_layers: int, *, first_kernel: int = 21, kernel: int = 3, profile_kernel: int = 75) -> int:
    """Input positions that one profile output position depends on:
    ``first_kernel + (kernel - 1)·(2 + 4 + … + 2^n_layers) + profile_kernel - 1``
    (1,115 with the defaults and 8 layers; 155 with 4)."""
    return first_kernel + (kernel - 1) * (2 ** (n_layers + 1) - 2) + profile_kernel - 1


def _crop(x: torch.Tensor, width: int) -> torch.Tensor:
    lo = (x.shape[-1] - width) // 2
    return x[..., lo: lo + width]


class BPNet(nn.Module):
    """A BPNet / ChromBPNet network: dilated residual trunk, profile head and count head.

    ``conv(n_filters, k=first_kernel) → ReLU``, then for ``i = 1 … n_layers``
    ``x = crop(x) + ReLU(conv(k=kernel, dilation=2^i)(x))`` (``valid`` convolutions, the skip path
    cropped to the shrunken width), then

    - profile: ``conv(n_outputs, k=profile_kernel)`` over the trunk, centre-cropped to
      ``output_len``: ``(N, n_outputs, output_len)`` logits;
    - counts: the trunk averaged over all its positions, then ``linear(1)`` (``linear(n_outputs)``
      with ``count_per_track``).

    The input must hold ``output_len + receptive_field - 1`` bases (2114 for the defaults);
    ``length`` is the width the network is built for (the one saved in its spec) and is checked
    at construction; :meth:`forward` refuses anything shorter than the minimum. The defaults are
    ChromBPNet's accessibility model; :data:`BIAS_DEFAULTS` its bias model. See the module
    docstring for the departures from chrombpnet.
    """

    def __init__(self, length: int = 2114, output_len: int = 1000, *, n_filters: int = 512, n_layers: int = 8,
                 n_outputs: int = 1, first_kernel: int = 21, kernel: int = 3, profile_kernel: int = 75,
                 count_per_track: bool = False):
        super().__init__()
        if min(output_len, n_filters, n_outputs, first_kernel, kernel, profile_kernel) < 1 or n_layers < 0:
            raise InputError("BPNet sizes must be positive (output_len, n_filters, n_outputs, kernels) "
                             f"and n_layers >= 0; got output_len={output_len}, n_filters={n_filters}, "
                             f"n_outputs={n_outputs}, kernels {first_kernel}/{kernel}/{profile_kernel}, "
                             f"n_layers={n_layers}")
        self.length, self.output_len, self.n_outputs = int(length), int(output_len), int(n_outputs)
        self.count_per_track = bool(count_per_track)
        self._hyper = {"n_filters": n_filters, "n_layers": n_layers, "first_kernel": first_kernel,
                       "kernel": kernel, "profile_kernel": profile_kernel}
        self.receptive_field = receptive_field(n_layers, first_kernel=first_kernel, kernel=kernel,
                                               profile_kernel=profile_kernel)
        self.check_length(self.length)
        self.stem = nn.Conv1d(4, n_filters, first_kernel)
        self.stem_act = nn.ReLU()
        self.dilated = nn.ModuleList(nn.Conv1d(n_filters, n_filters, kernel, dilation=2 ** i)
                                     for i in range(1, n_layers + 1))
        # one ReLU module per block (not torch.relu) so DeepLIFT hooks see every nonlinearity
        self.acts = nn.ModuleList(nn.ReLU() for _ in range(n_layers))
        self.profile = nn.Conv1d(n_filters, n_outputs, profile_kernel)
        self.count = nn.Linear(n_filters, n_outputs if count_per_track else 1)

    @property
    def min_length(self) -> int:
        """The shortest input that fills the output window: ``output_len + receptive_field - 1``."""
        return self.output_len + self.receptive_field - 1

    def check_length(self, length: int) -> None:
        """Raise :class:`~cisgram.errors.InputError` when ``length`` input bases cannot fill the
        output window (the window plus the receptive field must fit in the input)."""
        if length < self.min_length:
            raise InputError(
                f"output window larger than input allows: {self.output_len} bp out needs "
                f"{self.min_length} bp in (receptive field {self.receptive_field} bp), got {length}",
                hint="lengthen the input, shorten output_len, or use fewer layers / smaller kernels")

    @property
    def spec(self) -> dict:
        """The JSON-safe spec :func:`build_bpnet` rebuilds this network from."""
        return {"arch": "bpnet", "length": self.length, "output_len": self.output_len,
                "n_outputs": self.n_outputs, "count_per_track": self.count_per_track, **self._hyper}

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, n_filters, L - receptive_field + profile_kernel)`` trunk features of one-hot ``x``."""
        h = self.stem_act(self.stem(x))
        for conv, act in zip(self.dilated, self.acts, strict=True):
            c = act(conv(h))
            h = _crop(h, c.shape[-1]) + c
        return h

    def forward(self, x: torch.Tensor) -> ProfileCount:
        if x.ndim != 3 or x.shape[1] != 4:
            raise InputError(f"BPNet takes one-hot (N, 4, L) input, got shape {tuple(x.shape)}")
        self.check_length(x.shape[-1])
        h = self.trunk(x)
        return ProfileCount(_crop(self.profile(h), self.output_len), self.count(h.mean(-1)))

    @torch.no_grad()
    def offset_log_counts(self, delta: float) -> None:
        """Add ``delta`` to every predicted log count (the count layer's bias), in place: how
        chrombpnet rescales a bias model to a new sample's depth, with ``delta`` the mean of
        ``log(1 + observed total) - predicted log count`` over that sample's training background."""
        self.count.bias += float(delta)


class ChromBPNet(nn.Module):
    """A frozen bias model plus an accessibility model, combined as ChromBPNet does.

    ``forward(x)``: ``profile_logits = bias.profile_logits + accessibility.profile_logits`` and
    ``log_counts = logaddexp(bias.log_counts, accessibility.log_counts)`` (the expected counts
    add). :meth:`bias_free` is ``accessibility(x)``: chrombpnet's ``chrombpnet_nobias`` model, the
    one to explain and to score variants with.

    The bias model is frozen here: its parameters get ``requires_grad = False`` (they receive no
    gradient, so an optimiser over ``parameters()`` leaves them unchanged) and it stays in eval
    mode whatever :meth:`train` is asked. Both parts must share ``length``, ``output_len``,
    ``n_outputs`` and ``count_per_track`` (an :class:`~cisgram.errors.InputError` names the
    difference). Train the bias model first, on background, as a plain :class:`BPNet`.
    """

    def __init__(self, bias: BPNet, accessibility: BPNet):
        super().__init__()
        for name in ("length", "output_len", "n_outputs", "count_per_track"):
            b, a = getattr(bias, name), getattr(accessibility, name)
            if b != a:
                raise InputError(f"the bias and accessibility models differ in {name}: bias {b}, "
                                 f"accessibility {a}", hint="build both for the same windows and tracks")
        for p in bias.parameters():
            p.requires_grad_(False)
        self.bias = bias.eval()
        self.accessibility = accessibility

    def train(self, mode: bool = True) -> ChromBPNet:
        super().train(mode)
        self.bias.eval()
        return self

    @property
    def length(self) -> int:
        return self.accessibility.length

    @property
    def output_len(self) -> int:
        return self.accessibility.output_len

    @property
    def spec(self) -> dict:
        return {"arch": "chrombpnet", "bias": self.bias.spec, "accessibility": self.accessibility.spec}

    def forward(self, x: torch.Tensor) -> ProfileCount:
        b, a = self.bias(x), self.accessibility(x)
        return ProfileCount(a.profile_logits + b.profile_logits, torch.logaddexp(a.log_counts, b.log_counts))

    def bias_free(self, x: torch.Tensor) -> ProfileCount:
        """The accessibility model alone: the prediction with the enzyme's preference removed."""
        return self.accessibility(x)


def build_bpnet(spec: dict, *, seed: int | None = None) -> BPNet | ChromBPNet:
    """A network from its spec (``net.spec``, which survives JSON): ``{"arch": "bpnet", "length",
    "output_len", **BPNet keywords}`` or ``{"arch": "chrombpnet", "bias": spec, "accessibility":
    spec}``. With ``seed`` the initial weights come from that seed without touching the caller's
    torch generator. A spec the constructor refuses is an :class:`~cisgram.errors.InputError`."""
    arch = spec.get("arch")
    if arch not in ARCHS:
        raise InputError(f"unknown BPNet architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        if arch == "chrombpnet":
            return ChromBPNet(build_bpnet(spec["bias"]), build_bpnet(spec["accessibility"]))
        try:
            return BPNet(**{k: v for k, v in spec.items() if k != "arch"})
        except TypeError as e:
            raise InputError(f"cannot build a 'bpnet' network: {e}") from None


def save_bpnet(net: BPNet | ChromBPNet, directory: str | os.PathLike, config: dict | None = None) -> None:
    """Write ``net``'s weights (``model.safetensors``) and ``{"spec": net.spec, **config}``
    (``model.json``, family = the spec's arch) through :mod:`cisgram.models.state`."""
    from cisgram.models.state import save_state

    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    save_state(directory, net.spec["arch"], arrays, {**(config or {}), "spec": net.spec})


def load_bpnet(directory: str | os.PathLike) -> tuple[BPNet | ChromBPNet, dict]:
    """``(net, config)`` saved by :func:`save_bpnet`; the network is in eval mode."""
    from cisgram.models.state import load_state

    arrays, config = load_state(directory)
    if config.get("family") not in ARCHS:
        raise InputError(f"this directory holds a {config.get('family')!r} model, not a BPNet", path=directory)
    net = build_bpnet(config["spec"])
    net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return net.eval(), config


def multinomial_nll(logits: torch.Tensor, counts: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Negative log multinomial probability of observed ``counts`` given ``softmax(logits)``.

    ``logits`` and ``counts`` are ``(N, T, L)`` (or ``(N, L)``); tracks and positions are flattened
    into one multinomial per example, as BPNet (bpnet-lite) and ChromBPNet do. The value is exact,
    with the count-factorial terms: ``-[lgamma(n + 1) - Σ lgamma(c + 1) + Σ c·log p]``, ``n = Σ c``,
    so an example without counts costs 0. ``reduction="mean"`` averages over examples (chrombpnet's
    sum over the batch / batch size); ``"none"`` returns ``(N,)``. Computed in at least float32."""
    if logits.shape != counts.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and counts {tuple(counts.shape)} differ in shape")
    dtype = torch.promote_types(logits.dtype, torch.float32)
    n = logits.shape[0]
    logp = torch.log_softmax(logits.reshape(n, -1).to(dtype), dim=-1)
    c = counts.reshape(n, -1).to(dtype)
    ll = torch.lgamma(c.sum(-1) + 1) - torch.lgamma(c + 1).sum(-1) + (c * logp).sum(-1)
    return _reduce(-ll, reduction)


def count_mse(log_counts: torch.Tensor, counts: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Squared error between predicted ``log_counts`` and ``log(1 + observed total)``.

    ``log_counts`` is ``(N, 1)`` or ``(N,)``: ``counts`` ``(N, ...)`` is summed over every axis but
    the first. With ``(N, T)`` per-track counts (``count_per_track``), ``counts`` ``(N, T, L)`` is
    summed over positions. ``"mean"`` averages, ``"none"`` gives ``(N,)`` (mean over tracks)."""
    n = log_counts.shape[0]
    pred = log_counts.reshape(n, -1)
    dtype = torch.promote_types(pred.dtype, torch.float32)
    total = counts.reshape(n, -1).sum(-1, keepdim=True) if pred.shape[1] == 1 else counts.sum(-1).reshape(n, -1)
    if total.shape != pred.shape:
        raise ValueError(f"{pred.shape[1]} predicted counts per example but counts {tuple(counts.shape)}")
    err = (pred.to(dtype) - torch.log1p(total.to(dtype))) ** 2
    return _reduce(err.mean(-1), reduction)


def _reduce(v: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', not {reduction!r}")
    return v.mean() if reduction == "mean" else v


def chrombpnet_loss(output: ProfileCount, counts: torch.Tensor, count_weight: float | None = None) -> torch.Tensor:
    """ChromBPNet's loss: ``multinomial_nll(profile_logits, counts) + λ·count_mse(log_counts,
    counts)`` for ``counts`` ``(N, T, output_len)``.

    ``count_weight`` λ should be :func:`count_loss_weight` of the training regions' totals,
    computed once before training, as chrombpnet does. ``None`` computes it from this batch's own
    totals: convenient for a quick test, but the weight then moves from batch to batch."""
    if count_weight is None:
        count_weight = count_loss_weight(counts.detach().reshape(counts.shape[0], -1).sum(-1).cpu().numpy())
    return multinomial_nll(output.profile_logits, counts) + count_weight * count_mse(output.log_counts, counts)


def count_loss_weight(total_counts, *, outlier_quantile: float = 0.9999) -> float:
    """ChromBPNet's count-loss weight: the median total count per region / 10, after dropping the
    regions beyond the ``outlier_quantile`` and below the ``1 - outlier_quantile`` quantiles
    (linearly interpolated, as numpy's and chrombpnet's default: the smallest and largest totals
    always go unless tied).

    chrombpnet computes it over the training and validation peaks (with the sampled non-peaks)
    for the accessibility model, and over the background regions for the bias model. It aims to
    balance the two losses: the multinomial loss grows with the counts, the count MSE does not.
    chrombpnet refuses a weight of 1 or less for the accessibility model (too shallow a sample)."""
    t = np.asarray(total_counts, dtype=np.float64).ravel()
    t = t[np.isfinite(t)]
    if t.size:
        lo, hi = np.quantile(t, [1 - outlier_quantile, outlier_quantile])
        kept = t[(t >= lo) & (t <= hi)]
        t = kept if kept.size else t  # two regions (a tiny batch): both are "outliers"; keep them
    weight = float(np.median(t)) / 10 if t.size else 0.0
    if weight <= 0:
        raise InputError("no counts to weigh the count loss with (median total count is 0)",
                         hint="check the signal track covers the training regions")
    return weight
