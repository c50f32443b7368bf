"""GET's region transformer: expression (and accessibility) of every region from the motifs of a
window of regions (Fu et al., *Nature* 637:965, 2025; ``specs/get.md`` §2).

A sample is a window of ``R`` consecutive regulatory regions (peaks), each described by ``F``
features: normalised motif scores (e.g. 637 motif clusters, or GET's 282) plus one accessibility
column, so ``X`` is ``(B, R, F)`` float32. :class:`RegionTransformer` embeds each region with one
linear layer, prepends a learned CLS token, runs a pre-norm transformer encoder over the regions
and reads out, for every region,

- ``expression`` ``(B, R, n_outputs)``: softplus rates, per strand with ``n_outputs=2``
  (column 0 = ``+``, 1 = ``-``), trained with :func:`poisson_loss` on log10(TPM + 1);
- ``accessibility`` ``(B, R, 1)``: softplus rates, trained with :func:`poisson_loss`;
- ``reconstruction`` ``(B, R, F)``: the input features, for masked-region pre-training: regions
  flagged in ``mask`` have their embedding replaced by a learned mask token and
  :func:`masked_mse` scores the reconstruction on those regions only.

Where it deviates from the paper model (``GETRegionPretrain`` / ``GETRegionFinetune``):

- one module carries all three heads (GET builds one model class per head); a fine-tuned
  expression model simply ignores the other outputs. The parameter count of the paper preset is
  therefore GET's pre-training model plus the two small heads (see :func:`count_parameters`);
- drop-path (stochastic depth) rises linearly to ``drop_path`` across blocks, as in GET, but is
  0 in :meth:`GETConfig.small`; dropout and attention dropout are options (0 by default, as GET);
- the optional distance encoding (``distance_encoding=True``) is a fixed sinusoid of each
  region's genomic offset from the window's leftmost region (``positions`` in bp, divided by
  ``distance_scale``; so shifting a window, or permuting its regions together with their
  positions, changes nothing), where GET's ``GETRegionFinetunePositional`` encodes the region *index*;
  it is off by default, as in the paper;
- the masked-region loss has no per-window target z-scoring and masked regions are not hidden
  from attention (the current GET code uses neither; the 2023 code used both);
- initialisation is what GET's effectively is (Xavier-uniform for every linear layer, zero
  biases, CLS zero, mask token N(0, 0.02)), written once instead of overwritten twice.

The attention is BEiT's: one fused ``qkv`` linear layer without bias plus separate ``q_bias``
and ``v_bias`` (no key bias: adding the same vector to every key moves all scores of a query by
the same amount, which softmax ignores). The layer names (``region_embed``,
``encoder.blocks.{i}.attn.qkv|proj``, ``encoder.blocks.{i}.mlp.fc1|fc2``, ``encoder.norm``,
``expression_head``, ``accessibility_head``, ``mask_head``) are what
:func:`cisgram.models.lora.apply_lora` targets, and they map one-to-one onto GET's v1 checkpoint
keys should a converter be written (``specs/get.md`` §5.7).

Pitfalls
--------
- Without the distance encoding the model is permutation-equivariant: shuffling the regions of a
  window shuffles the outputs the same way. What a region's prediction may depend on is its own
  features and the *set* of the window's regions, not their order or distance.
- GET's ATAC head is trained with the accessibility input column overwritten by 1 (so that the
  model sees motifs only); that is the data's job, not the model's.
- Windows must be full (GET skips the ones that would leave the chromosome); there is no padding
  mask.
- Every forward pass computes all three heads (the reconstruction head costs about as much as the
  region embedding). A loss that uses one head leaves the others, and the mask token without a
  ``mask``, without gradients: under DDP use ``find_unused_parameters=True`` (as GET does) or
  freeze what is not trained.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cisgram.errors import InputError

FAMILY = "get"
OUTPUTS = ("expression", "accessibility")


@dataclass
class GETConfig:
    """Hyper-parameters of a :class:`RegionTransformer`; the defaults are :meth:`small`.

    Attributes
    ----------
    n_features
        Input columns per region: motif features plus the accessibility column (637 + 1 for the
        Vierstra v2.1 consensus motifs; GET's paper model used 282 + 1).
    n_outputs
        Expression outputs per region: 2 = one per strand (``+``, ``-``), as GET.
    d_model, n_layers, n_heads, mlp_dim
        Width, depth, attention heads (``d_model % n_heads == 0``) and the MLP's hidden width.
    dropout, attn_dropout
        Dropout after the embedding, inside the MLP and after each attention output; dropout of
        the attention weights.
    drop_path
        Stochastic depth of the last block (rising linearly from 0 at the first).
    distance_encoding
        Add a fixed sinusoidal encoding of the regions' genomic positions (``positions`` argument
        of :meth:`RegionTransformer.forward`, required when this is on and refused when off).
    distance_scale
        Base pairs per unit of the distance encoding (the shortest wavelength is
        ``2π · distance_scale`` bp, the longest ``10^4`` times that).
    norm_eps
        Epsilon of the layer norms (GET: 1e-6).
    """

    n_features: int = 638
    n_outputs: int = 2
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_dim: int = 256
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path: float = 0.0
    distance_encoding: bool = False
    distance_scale: float = 1000.0
    norm_eps: float = 1e-6

    def __post_init__(self):
        for name in ("n_features", "n_outputs", "d_model", "n_layers", "n_heads", "mlp_dim"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"GETConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.d_model % self.n_heads:
            raise InputError(f"GETConfig.d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        for name in ("dropout", "attn_dropout", "drop_path"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise InputError(f"GETConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.distance_scale <= 0:
            raise InputError(f"GETConfig.distance_scale must be positive, got {self.distance_scale!r}")

    @classmethod
    def small(cls, **overrides) -> GETConfig:
        """2 layers × 64 wide, 4 heads, MLP 256 (182,657 parameters with 638 features): trains
        on a laptop CPU in seconds to minutes."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> GETConfig:
        """GET's region model: 12 layers × 768, 12 heads, MLP 3072, drop-path 0.1
        (≈ 86.0 M parameters with 638 features, 85.5 M with GET's 283)."""
        return cls(**{"d_model": 768, "n_layers": 12, "n_heads": 12, "mlp_dim": 3072, "drop_path": 0.1,
                      **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GETConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown GET configuration keys: {', '.join(unknown)}",
                             hint=f"known keys: {', '.join(sorted(known))}")
        return cls(**d)


@dataclass
class GETOutput:
    """What :meth:`RegionTransformer.forward` returns (every field ``(B, R, ·)``, CLS excluded)."""

    expression: torch.Tensor  # (B, R, n_outputs) softplus rates
    accessibility: torch.Tensor  # (B, R, 1) softplus rates
    reconstruction: torch.Tensor  # (B, R, F) reconstructed input features
    hidden: torch.Tensor  # (B, R, d_model) the encoder's output after its final norm


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a sample's residual branch with probability ``p`` and
    scale the kept ones by ``1 / (1 - p)``; the identity in eval mode."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


class Attention(nn.Module):
    """Multi-head self-attention with BEiT's biases (``q_bias``, ``v_bias``, no key bias)."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float, dropout: float):
        super().__init__()
        self.n_heads, self.attn_dropout = n_heads, attn_dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(d_model))
        self.v_bias = nn.Parameter(torch.zeros(d_model))
        self.proj = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = (self.qkv(x) + bias).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        h = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=p)
        return self.drop(self.proj(h.transpose(1, 2).reshape(B, T, D)))


class MLP(nn.Module):
    def __init__(self, d_model: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, cfg: GETConfig, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = Attention(cfg.d_model, cfg.n_heads, cfg.attn_dropout, cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = MLP(cfg.d_model, cfg.mlp_dim, cfg.dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class Encoder(nn.Module):
    """``n_layers`` pre-norm blocks and a final layer norm (GET's ``GETTransformer``)."""

    def __init__(self, cfg: GETConfig):
        super().__init__()
        rates = [cfg.drop_path * i / max(cfg.n_layers - 1, 1) for i in range(cfg.n_layers)]
        self.blocks = nn.ModuleList(Block(cfg, r) for r in rates)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def sinusoid(offsets: torch.Tensor, d_model: int) -> torch.Tensor:
    """``(B, R, d_model)`` fixed sinusoidal encoding of ``(B, R)`` real-valued ``offsets``:
    sines in the even columns, cosines in the odd ones, wavelengths ``2π`` to ``2π · 10^4``."""
    half = (d_model + 1) // 2
    freq = torch.exp(-math.log(1e4) * torch.arange(half, device=offsets.device, dtype=offsets.dtype) / half)
    angle = offsets[..., None] * freq
    out = torch.stack((angle.sin(), angle.cos()), dim=-1).flatten(-2)
    return out[..., :d_model]


class RegionTransformer(nn.Module):
    """GET's region model with expression, accessibility and masked-region heads.

    Parameters
    ----------
    config
        A :class:`GETConfig` (default :meth:`GETConfig.small`).
    """

    def __init__(self, config: GETConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else GETConfig.small()
        self.region_embed = nn.Linear(cfg.n_features, cfg.d_model)
        self.embed_drop = nn.Dropout(cfg.dropout)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.encoder = Encoder(cfg)
        self.expression_head = nn.Linear(cfg.d_model, cfg.n_outputs)
        self.accessibility_head = nn.Linear(cfg.d_model, 1)
        self.mask_head = nn.Linear(cfg.d_model, cfg.n_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GET's effective initialisation: Xavier-uniform linear weights with zero biases, unit
        layer norms, zero CLS token and attention biases, mask token N(0, 0.02) truncated at ±2σ."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, Attention):
                nn.init.zeros_(m.q_bias)
                nn.init.zeros_(m.v_bias)
        nn.init.zeros_(self.cls_token)
        nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.04, b=0.04)

    def no_weight_decay(self) -> set[str]:
        """Parameters AdamW should not decay besides biases and norms (GET: the tokens)."""
        return {"cls_token", "mask_token"}

    @property
    def n_layer_groups(self) -> int:
        """Layers for BEiT's layer-wise learning-rate decay: the embedding, each block, the top."""
        return self.config.n_layers + 2

    def layer_id(self, name: str) -> int:
        """The layer of parameter ``name``: 0 for the region embedding and the tokens, ``i + 1``
        for encoder block ``i``, the last for the final norm and the heads."""
        if name.startswith(("region_embed.", "cls_token", "mask_token")):
            return 0
        if name.startswith("encoder.blocks."):
            return int(name.split(".")[2]) + 1
        return self.config.n_layers + 1

    def check_input(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                    positions: torch.Tensor | None = None) -> None:
        """Raise :class:`InputError` unless ``x`` is ``(B, R, F)`` with this model's ``F``, and
        ``mask`` / ``positions`` (when given) are ``(B, R)``."""
        F_ = self.config.n_features
        shape = tuple(x.shape)
        if x.ndim != 3:
            hint = ("one window needs X[None]" if x.ndim == 2 else
                    "windows are (windows, regions, features) = (B, R, F)")
            raise InputError(f"GET input must be region-by-feature windows (B, R, F={F_}), got shape {shape}",
                             hint=hint)
        if shape[2] != F_:
            raise InputError(f"this GET model takes {F_} features per region (motifs + accessibility), "
                             f"the input has {shape[2]} (shape {shape})",
                             hint="use the motif set and feature columns the model was trained on")
        if shape[1] < 1:
            raise InputError(f"a window needs at least one region, got shape {shape}")
        if not torch.is_floating_point(x):
            raise InputError(f"GET input must be floating point, got {x.dtype}")
        if mask is not None and (tuple(mask.shape) != shape[:2] or mask.dtype != torch.bool):
            raise InputError(f"mask must be a bool (B, R) = {shape[:2]} tensor, got {mask.dtype} {tuple(mask.shape)}",
                             hint="make one with random_region_mask(B, R, ratio, generator)")
        if self.config.distance_encoding and positions is None:
            raise InputError("this GET model encodes distances: pass positions (B, R), the regions' "
                             "genomic positions in bp")
        if positions is not None:
            if not self.config.distance_encoding:
                raise InputError("positions given, but this GET model has no distance encoding",
                                 hint="build it with GETConfig(distance_encoding=True), or drop positions")
            if tuple(positions.shape) != shape[:2]:
                raise InputError(f"positions must be (B, R) = {shape[:2]}, got {tuple(positions.shape)}")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                positions: torch.Tensor | None = None) -> GETOutput:
        """Outputs for every region of every window.

        Parameters
        ----------
        x
            ``(B, R, F)`` float: ``F = config.n_features`` features per region.
        mask
            Optional ``(B, R)`` bool: regions whose embedding is replaced by the mask token
            (pre-training; see :func:`random_region_mask`).
        positions
            ``(B, R)`` genomic positions in bp (e.g. region centres); required with
            ``distance_encoding``, refused without it. Only offsets from the window's leftmost
            region matter, not the order of the regions in the array.

        Returns
        -------
        GETOutput
            ``expression (B, R, n_outputs)``, ``accessibility (B, R, 1)``,
            ``reconstruction (B, R, F)``, ``hidden (B, R, d_model)``.
        """
        self.check_input(x, mask, positions)
        h = self.region_embed(x.to(self.cls_token.dtype))
        if mask is not None:
            h = torch.where(mask[..., None], self.mask_token.to(h.dtype), h)
        if positions is not None:
            pos = positions.to(h.dtype)
            offset = pos - pos.amin(dim=1, keepdim=True)
            h = h + sinusoid(offset / self.config.distance_scale, self.config.d_model)
        h = torch.cat((self.cls_token.expand(h.shape[0], -1, -1), self.embed_drop(h)), dim=1)
        h = self.encoder(h)[:, 1:]
        return GETOutput(expression=F.softplus(self.expression_head(h)),
                         accessibility=F.softplus(self.accessibility_head(h)),
                         reconstruction=self.mask_head(h), hidden=h)


# ---------------------------------------------------------------- masking and losses


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once); works on the ``meta`` device.

    With :meth:`GETConfig.paper` and GET's 283 features the count is 85,486,366: GET's
    pre-training model (85,484,059 = trunk 85,265,664 + mask token 768 + mask head 217,627)
    plus the expression head (1,538) and the accessibility head (769). GET's fine-tuning model
    (trunk + expression head) is 85,267,202. With 638 features (637 motifs + accessibility) the
    region embedding and mask head grow to 490,752 and 490,622: 86,032,001 in all.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---------------------------------------------------------------- a trained model on disk


class GETModel:
    """A :class:`RegionTransformer` with the names of its input features, saved as safetensors +
    JSON through :mod:`cisgram.models.state` (family ``"get"``).

    Parameters
    ----------
    net
        The network.
    feature_names
        One name per input column (motifs, then ``"accessibility"``), checked against
        ``config.n_features``.
    """

    family = FAMILY
    reads = "windows"
    length = None

    def __init__(self, net: RegionTransformer, feature_names: list[str] | None = None):
        self.net = net
        n = net.config.n_features
        self.feature_names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(n)]
        if len(self.feature_names) != n:
            raise InputError(f"{len(self.feature_names)} feature names for a model of {n} features")

    @property
    def config(self) -> GETConfig:
        return self.net.config

    def forward_batch(self, net: RegionTransformer, x: torch.Tensor, positions: torch.Tensor | None = None, *,
                      output: str = "expression") -> torch.Tensor:
        """One head of the network on a batch of ``(B, R, F)`` windows: ``"expression"``
        ``(B, R, n_outputs)`` or ``"accessibility"`` ``(B, R, 1)``; predict with
        :func:`cisgram.inference.predict` (``predict(model, X, positions, output=...)``)."""
        if output not in OUTPUTS:
            raise InputError(f"output must be 'expression' or 'accessibility', not {output!r}")
        return getattr(net(x, positions=positions), output)

    def empty_output(self, X, *, output: str = "expression") -> np.ndarray:
        width = self.config.n_outputs if output == "expression" else 1
        return np.zeros((0, np.shape(X)[1] if np.ndim(X) > 1 else 0, width), np.float32)

    def save(self, directory) -> None:
        """Write ``model.safetensors`` + ``model.json``; LoRA adapters are merged into a copy first."""
        from cisgram.models.lora import LoRALinear, merge_lora
        from cisgram.models.state import save_state

        net = self.net
        if any(isinstance(m, LoRALinear) for m in net.modules()):
            net = merge_lora(copy.deepcopy(net))
        arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        save_state(directory, FAMILY, arrays, {"config": self.config.to_dict(), "feature_names": self.feature_names})

    @classmethod
    def load(cls, directory) -> GETModel:
        from cisgram.models.state import load_state

        arrays, cfg = load_state(directory, FAMILY)
        net = RegionTransformer(GETConfig.from_dict(cfg["config"]))
        net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
        return cls(net.eval(), cfg.get("feature_names"))
