"""Sequence CNNs: a DeepSEA-style classifier/regressor, a dilated residual (BPNet-style) trunk and
DanQ (convolution + bidirectional LSTM).

All take one-hot ``(B, 4, L)`` float32 (A, C, G, T) and return ``(B, T)``: one output per task
(condition), logits for classification, values for regression. None knows about strands;
:func:`cisgram.inference.predict` averages a sequence and its reverse complement.

:func:`build` makes either from its JSON-safe ``spec`` (``{"arch": ..., **hyper-parameters}``),
which is what a run's ``model.json`` stores beside the safetensors weights; :func:`new_spec` writes
a new network's spec with the current defaults spelled out, because a key missing from a saved
spec means the architecture from before the key existed (:data:`LEGACY`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from cisgram.errors import InputError

ARCHS = ("deepsea", "dilated", "danq")
#: what a spec key means when a saved spec lacks it: the architecture before the key existed
LEGACY = {"deepsea": {"dense_norm": False}, "dilated": {}, "danq": {}}
#: the current defaults, written into every new spec (:func:`new_spec`)
CURRENT = {"deepsea": {"dense_norm": True}, "dilated": {}, "danq": {}}


class DenseNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over a dense layer's units that normalises a one-item training batch with
    its running statistics (one item has no spread across the batch; ``BatchNorm1d`` refuses
    it), so a last batch of one does not stop training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                            False, 0.0, self.eps)
        return super().forward(x)


class DeepSEA(nn.Module):
    """Three convolution blocks and a dense head (Zhou & Troyanskaya 2015), multi-task.

    ``conv(k=8) → ReLU → max-pool(4) → dropout`` twice, a third ``conv(k=8) → ReLU → dropout``,
    then ``flatten → linear(hidden) → batch norm → ReLU → linear(T)`` (``dense_norm=False``:
    ``flatten → linear(hidden) → ReLU → linear(T)``, the paper's head).

    Where it deviates from the paper:

    - widths default to 64 / 128 / 128 filters and a 128-unit hidden layer instead of
      320 / 480 / 960 and 925: the datasets here are thousands of regions, not millions, and the
      paper's widths (52 M parameters at 1 kb) over-fit them and train 14x slower on a CPU
      (57 vs 824 sequences/s, batch 64, 1 kb, measured on 2 CPU cores);
    - batch normalisation after every convolution (not in the paper): steadier training from
      few regions, and it lets the default learning rate work for both tasks;
    - batch normalisation of the dense layer before its ReLU (``dense_norm=True``, the default;
      Basset's head, not DeepSEA's), because without it the dense layer dies: it reads
      ``filters[2] × L'`` non-negative features (6,784 at 1 kb), Adam moves every weight by about
      ``lr`` per step, so a unit's pre-activation moves by about ``lr × Σ inputs`` in one step
      (2.7 at lr 1e-3 on chr22 windows at initialisation, five times its spread across windows,
      0.53) and most units end below zero on every input, where a ReLU passes no gradient back.
      On chr22 K562 access probabilities (1 kb, 15 epochs) 127 of 128 units never fired on any
      region, the one left had a negative output weight, and 12.7 % of regions got one
      constant, which was also the highest prediction (0.354 where the target reaches 1.0).
      With the norm every unit fires on 26-76 % of regions, no region reads only zeros,
      predictions span 0.02-1.04 and validation Pearson went from 0.48 to 0.58 (0.53 with a
      second seed; ``docs/cnn.md``, "No constant-output floor"). A GELU
      or leaky ReLU in its place removes the exact ties but not the collapse (on simulated
      data the units still drift below zero and the predictions stay within ±0.05 standard
      deviations). The published head is ``dense_norm=False``, which is also what a saved spec
      without the key means (:data:`LEGACY`);
    - no L1 penalty on the last layer and no max-norm constraint; weight decay is the
      optimiser's (:class:`cisgram.training.TrainConfig`);
    - any input length: the dense layer's width follows ``length``.
    """

    def __init__(self, n_tasks: int, length: int, *, filters: tuple[int, int, int] = (64, 128, 128),
                 kernel: int = 8, pool: int = 4, hidden: int = 128, dropout: float = 0.2, dropout_last: float = 0.5,
                 dense_norm: bool = True):
        super().__init__()
        f1, f2, f3 = filters

        def block(cin: int, cout: int, pooled: bool, p: float) -> list[nn.Module]:
            layers = [nn.Conv1d(cin, cout, kernel), nn.BatchNorm1d(cout), nn.ReLU()]
            return [*layers, nn.MaxPool1d(pool), nn.Dropout(p)] if pooled else [*layers, nn.Dropout(p)]

        self.trunk = nn.Sequential(*block(4, f1, True, dropout), *block(f1, f2, True, dropout),
                                   *block(f2, f3, False, dropout_last))
        out_len = ((length - kernel + 1) // pool - kernel + 1) // pool - kernel + 1
        if out_len < 1:
            raise ValueError(f"input length {length} is too short for three kernel-{kernel} convolutions")
        norm = [DenseNorm(hidden)] if dense_norm else []
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(f3 * out_len, hidden), *norm, nn.ReLU(),
                                  nn.Linear(hidden, n_tasks))

    @property
    def output(self) -> nn.Linear:
        """The last linear layer (its bias is set to the target means before training)."""
        return self.head[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class Residual(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, norm: bool):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.norm = nn.BatchNorm1d(channels) if norm else nn.Identity()
        self.act = nn.ReLU()  # a module, not torch.relu, so DeepLIFT's hooks see the nonlinearity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.norm(self.conv(x)))


class DilatedCNN(nn.Module):
    """A BPNet / ChromBPNet trunk with the count head: log total signal per region and task.

    ``conv(filters, k=21) → ReLU``, then ``layers`` residual blocks ``x + ReLU(conv(k=3,
    dilation=2^i))`` (batch-normalised inside the ReLU with ``norm=True``), then a global pool (``pool="max"`` or ``"mean"``) over the central
    ``pool_width`` positions and a ``linear(T)``. With the defaults (8 layers) the receptive
    field is 21 + 2·(2^8 − 1) = 531 bp.

    Where it deviates from BPNet (Avsec et al. 2021) and ChromBPNet:

    - no profile head: the targets here are counts per region (log counts or access
      probabilities), so only the count head is built;
    - ``same`` padding instead of ``valid`` convolutions with cropping, so any input length works;
      the pooled window is the centre ``pool_width`` bp (default the whole input), which plays the
      role of BPNet's output crop;
    - no bias-factorised Tn5 model (ChromBPNet's bias network);
    - a global **max** pool by default where BPNet averages: on chr22's ~5,000 training windows
      the paper's form barely left the mean (test r 0.27 / 0.19 / 0.24 for K562 / GM12878 / MCF7
      log counts, 500 bp, 10 epochs); max pooling reached 0.38 / 0.31 / 0.35. Batch
      normalisation alone (``norm=True``, mean pool) reached 0.36 / 0.32 / 0.38 but over-fits from
      the second epoch, and with the max pool it over-fits worse (0.26 / 0.23 / 0.27), so it is
      off by default. With genome-wide data, ``pool="mean"`` is the paper's head.
    """

    def __init__(self, n_tasks: int, length: int, *, filters: int = 64, layers: int = 8, first_kernel: int = 21,
                 kernel: int = 3, pool_width: int | None = None, pool: str = "max", norm: bool = False):
        super().__init__()
        if kernel % 2 == 0 or first_kernel % 2 == 0:
            raise ValueError("kernels must be odd for 'same' padding")
        if pool not in ("max", "mean"):
            raise ValueError(f"pool must be 'max' or 'mean', not {pool!r}")
        self.stem = nn.Sequential(nn.Conv1d(4, filters, first_kernel, padding=first_kernel // 2), nn.ReLU())
        self.blocks = nn.Sequential(*[Residual(filters, kernel, 2**i, norm) for i in range(layers)])
        self.pool_width = min(int(pool_width or length), length)
        self.pool = pool
        self.count = nn.Linear(filters, n_tasks)

    @property
    def output(self) -> nn.Linear:
        return self.count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        lo = (h.shape[-1] - self.pool_width) // 2
        h = h[..., lo: lo + self.pool_width]
        return self.count(h.amax(-1) if self.pool == "max" else h.mean(-1))


class DanQ(nn.Module):
    """DanQ (Quang & Xie 2016): one convolution, a bidirectional LSTM over the pooled map and a
    dense head, the second network of AgentBind's simulations.

    ``conv(filters, k=kernel) → ReLU → max-pool(pool) → dropout(0.2) → BiLSTM(units per
    direction, every position's output) → dropout(0.5) → flatten → linear(hidden) → ReLU →
    linear(T)``. The defaults are the paper's: 320 filters of 26 bp, pool 13, 320 LSTM units each
    way, 925 dense units (46 M parameters at 1 kb; pass smaller ones for small data).

    Where it deviates from the paper: no ``sigmoid`` on the output (logits, as every network
    here), weight decay from the optimiser instead of none, any input length (the dense layer's
    width follows ``length``), and no initialisation of the filters from JASPAR motifs (DanQ-JASPAR).

    Interpretation: gradient methods (saliency, input × gradient, integrated gradients,
    Grad-CAM on the convolution, ISM) work. DeepLIFT has no rule for the LSTM's gates: tangermeme
    would treat them as linear (attributions 13 % off their sum on a small DanQ, with a warning),
    so a forward pass under its DeepLIFT hooks raises an :class:`~cisgram.errors.InputError`
    instead (``cisgram explain --method deeplift`` says to pick another method). On a GPU,
    gradients are taken through the LSTM with cuDNN off in eval mode (cuDNN's RNN backward needs
    training mode), restored afterwards (not yet run on a GPU).
    """

    def __init__(self, n_tasks: int, length: int, *, filters: int = 320, kernel: int = 26, pool: int = 13,
                 units: int = 320, hidden: int = 925, dropout: float = 0.2, dropout_last: float = 0.5):
        super().__init__()
        steps = (length - kernel + 1) // pool
        if steps < 1:
            raise ValueError(f"input length {length} is too short for a kernel-{kernel} convolution and pool {pool}")
        self.conv = nn.Sequential(nn.Conv1d(4, filters, kernel), nn.ReLU(), nn.MaxPool1d(pool), nn.Dropout(dropout))
        self.lstm = nn.LSTM(filters, units, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout_last)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * units * steps, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_tasks))

    @property
    def output(self) -> nn.Linear:
        return self.head[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "_NON_LINEAR_OPS", None) is not None:  # tangermeme's DeepLIFT hooks are on
            raise InputError("DeepLIFT has no rule for DanQ's LSTM (it would treat the gates as linear)",
                             hint="use saliency, input_x_gradient, integrated_gradients, gradcam or ism")
        h = self.conv(x).transpose(1, 2)  # (B, L', filters): the LSTM reads positions in order
        no_cudnn = x.is_cuda and not self.training and torch.is_grad_enabled()
        with torch.backends.cudnn.flags(enabled=False) if no_cudnn else contextlib.nullcontext():
            h, _ = self.lstm(h)
        return self.head(self.drop(h))


def new_spec(arch: str, n_tasks: int, length: int, **params) -> dict:
    """The spec of a new network: ``{"arch", "n_tasks", "length"}``, the current defaults of the
    keys :data:`LEGACY` knows (so the spec says which head it has) and ``params`` over them."""
    return {"arch": arch, "n_tasks": n_tasks, "length": length, **CURRENT.get(arch, {}), **params}


def build(spec: dict, *, seed: int | None = None) -> nn.Module:
    """A network from its spec: ``{"arch": "deepsea"|"dilated"|"danq", "n_tasks": T, "length": L, **kw}``
    (lists in ``kw`` are turned back into tuples, so a spec survives JSON). A key of
    :data:`LEGACY` missing from the spec takes its legacy value, so a run saved before the key
    existed loads the network it was trained with (a DeepSEA spec without ``dense_norm`` is the
    published head); new specs come from :func:`new_spec`. With ``seed`` the initial weights
    come from that seed without touching the caller's torch generator. A spec the constructor
    refuses is a :class:`ValueError` naming the architecture."""
    arch = spec["arch"]
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in {**LEGACY[arch], **spec}.items()
          if k not in ("arch", "n_tasks", "length")}
    cls = {"deepsea": DeepSEA, "dilated": DilatedCNN, "danq": DanQ}[arch]
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        try:
            return cls(spec["n_tasks"], spec["length"], **kw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot build a {arch!r} network: {e}") from None


class CNNModel:
    """A trained network with what it needs to predict: its ``spec`` (:func:`build`), ``task``,
    ``targets`` and, for regression, the training mean and standard deviation of each target
    (the network learns standardised targets; predictions come back on the targets' scale).

    Predict with :func:`cisgram.inference.predict` (``predict(model, X)``): it batches ``X``
    through :meth:`forward_batch` (both strands, averaged) and :meth:`decode`.
    """

    family = "cnn"
    reads = "sequence"

    def __init__(self, net: nn.Module, spec: dict, task: str, targets: list[str],
                 y_mean: np.ndarray | None = None, y_std: np.ndarray | None = None):
        self.net, self.spec, self.task, self.targets = net, dict(spec), task, list(targets)
        t = len(self.targets)
        self.y_mean = np.zeros(t) if y_mean is None else np.asarray(y_mean, dtype=np.float64)
        self.y_std = np.ones(t) if y_std is None else np.asarray(y_std, dtype=np.float64)
        self._silent: list[np.ndarray] | None = None

    @property
    def length(self) -> int:
        return int(self.spec["length"])

    def forward_batch(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` outputs of one-hot ``x`` averaged over the sequence and its reverse
        complement (probabilities for classification, standardised values for regression)."""
        def outputs(v: torch.Tensor) -> torch.Tensor:
            out = net(v).float()
            return torch.sigmoid(out) if self.task == "classification" else out

        if self._silent is None:
            return (outputs(x) + outputs(x.flip(1, 2))) / 2
        zero: list[torch.Tensor] = []
        hook = net.output.register_forward_pre_hook(lambda _m, args: zero.append((args[0] == 0).flatten(1).all(1)))
        try:
            out = (outputs(x) + outputs(x.flip(1, 2))) / 2
        finally:
            hook.remove()
        self._silent.append((zero[0] & zero[1]).cpu().numpy())
        return out

    @contextlib.contextmanager
    def recording_silence(self) -> Iterator[list[np.ndarray]]:
        """While open, every :meth:`forward_batch` appends a ``(B,)`` bool array to the list it
        yields: True where every input of the network's output layer (DeepSEA's dense units,
        DilatedCNN's pooled channels) is 0 on both strands, so the prediction is the output
        bias whatever the sequence (a dead dense layer). In :func:`~cisgram.inference.predict`
        order; concatenate them."""
        rows: list[np.ndarray] = []
        self._silent = rows
        try:
            yield rows
        finally:
            self._silent = None

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Collected :meth:`forward_batch` outputs on the targets' scale, float64."""
        out = np.asarray(out, dtype=np.float64)
        return out if self.task == "classification" else out * self.y_std + self.y_mean

    def empty_output(self, X) -> np.ndarray:
        return np.zeros((0, len(self.targets)), np.float32)

    def save(self, directory) -> None:
        from cisgram.models.state import save_state

        arrays = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        save_state(directory, "cnn", arrays, {"spec": self.spec, "task": self.task, "targets": self.targets,
                                              "y_mean": self.y_mean.tolist(), "y_std": self.y_std.tolist()})

    @classmethod
    def load(cls, directory) -> CNNModel:
        from cisgram.models.state import load_state

        arrays, cfg = load_state(directory, "cnn")
        net = build(cfg["spec"])
        net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
        net.eval()
        return cls(net, cfg["spec"], cfg["task"], cfg["targets"], np.array(cfg["y_mean"]), np.array(cfg["y_std"]))
