"""GET's CNN baseline: convolutions along a window of regions instead of attention.

GET's paper compares its transformer with a CNN, an MLP, CatBoost, SVM regression, random forests
and linear regression on the same region features (Extended Data Fig. 2e); the CNN's details are
not published. :class:`RegionCNN` is our version of it: the ``F`` region features are the
channels of a 1-D convolution along the window's ``R`` regions,

    ``Conv1d(F → c, k) → ReLU → [Conv1d(c → c, k) → ReLU] × (layers − 1) → Conv1d(c → 2, 1) → Softplus``

('same' padding), so each region's per-strand expression sees its own features and those of the
``layers · (k − 1) / 2`` regions on each side, in order — what the transformer sees through
attention, but local and position-aware. It is trained exactly as the transformer
(:func:`cisgram.training.fit` with GET's loss on the same windows) and read at the same focus
entries, through :class:`~cisgram.models.get.GETModel`, whose interface it shares (its ``forward``
returns a :class:`~cisgram.models.get.GETOutput`; the accessibility and reconstruction fields are
zeros: this baseline has no such heads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from cisgram.errors import InputError
from cisgram.models.get import GETOutput


@dataclass
class RegionCNNConfig:
    """``n_features`` input columns, ``n_outputs`` per region (2 strands), ``channels``,
    ``kernel`` (odd, in regions), ``layers`` and ``dropout``. ``distance_encoding`` is always
    False (the order of the regions is the convolution's)."""

    n_features: int = 638
    n_outputs: int = 2
    channels: int = 64
    kernel: int = 5
    layers: int = 3
    dropout: float = 0.1
    distance_encoding: bool = False

    def __post_init__(self):
        if self.kernel % 2 == 0 or self.kernel < 1:
            raise InputError(f"RegionCNNConfig.kernel must be odd and positive, got {self.kernel}")
        for name in ("n_features", "n_outputs", "channels", "layers"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"RegionCNNConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.distance_encoding:
            raise InputError("the CNN baseline reads the regions in order; it has no distance encoding")

    def to_dict(self) -> dict:
        return asdict(self)


class RegionCNN(nn.Module):
    """The convolutional baseline (see the module docstring); ``forward(x (B, R, F))`` returns a
    :class:`~cisgram.models.get.GETOutput` whose ``expression`` is ``(B, R, n_outputs)``."""

    def __init__(self, config: RegionCNNConfig):
        super().__init__()
        self.config = c = config
        layers: list[nn.Module] = []
        width = c.n_features
        for _ in range(c.layers):
            layers += [nn.Conv1d(width, c.channels, c.kernel, padding=c.kernel // 2), nn.ReLU(), nn.Dropout(c.dropout)]
            width = c.channels
        self.trunk = nn.Sequential(*layers)
        self.expression_head = nn.Conv1d(width, c.n_outputs, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                positions: torch.Tensor | None = None) -> GETOutput:
        if x.ndim != 3 or x.shape[2] != self.config.n_features:
            raise InputError(f"the CNN baseline takes (B, R, F={self.config.n_features}) windows, got {tuple(x.shape)}")
        if positions is not None:
            raise InputError("the CNN baseline takes no positions")
        h = self.trunk(x.transpose(1, 2).to(self.expression_head.weight.dtype))
        expression = F.softplus(self.expression_head(h)).transpose(1, 2)
        zeros = expression.new_zeros(x.shape[0], x.shape[1], 1)
        return GETOutput(expression=expression, accessibility=zeros, reconstruction=x.new_zeros(x.shape),
                         hidden=h.transpose(1, 2))
