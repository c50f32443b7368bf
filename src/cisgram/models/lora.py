"""Low-rank adapters (LoRA; Hu et al. 2021) for fine-tuning a pre-trained network cheaply.

:func:`apply_lora` replaces chosen ``nn.Linear`` layers by :class:`LoRALinear` — the frozen
layer plus a trainable low-rank update ``scale · B A`` — and freezes every other parameter except
the modules named in ``trainable`` (e.g. a fresh expression head). :func:`lora_state_dict` is what
fine-tuning learned (adapters and trainable heads, a few % of the model), :func:`load_lora` puts
it back into a freshly adapted copy of the same base model, and :func:`merge_lora` folds the
adapters into plain linear layers for inference.

Written for :class:`cisgram.models.get.RegionTransformer` (default targets: the region embedding
and every linear layer of the encoder — fused ``qkv``, ``proj``, ``fc1``, ``fc2``), but nothing
here is specific to it.

Unlike GET's fine-tuning (``specs/get.md`` §2.6) the base weights really are frozen
(``requires_grad=False``; an optimiser built from ``filter(lambda p: p.requires_grad, ...)`` or
from all parameters leaves them untouched either way, as they receive no gradient), and each layer
is adapted once: targets are matched against full module names (exact name, a dotted prefix, or
an ``fnmatch`` pattern), never as substrings of every ancestor, and a layer that already carries
an adapter is refused rather than wrapped twice.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from cisgram.errors import InputError


class LoRALinear(nn.Module):
    """``base(x) + scale · B(A(dropout(x)))`` with ``base`` frozen.

    Parameters
    ----------
    base
        The ``nn.Linear`` to adapt; its weight and bias are set to ``requires_grad=False``.
    rank
        Rank ``r`` of the update: ``lora_A`` is ``(r, in_features)`` (Kaiming-uniform, as
        ``nn.Linear``), ``lora_B`` is ``(out_features, r)`` (zeros, so the adapted layer starts
        equal to ``base``).
    alpha
        The update is scaled by ``alpha / rank``.
    dropout
        Dropout on the adapter's input only (the base path sees ``x`` unchanged).
    """

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise InputError(f"LoRALinear adapts an nn.Linear, not a {type(base).__name__}")
        if int(rank) < 1:
            raise InputError(f"LoRA rank must be a positive integer, got {rank!r}")
        self.base = base
        base.requires_grad_(False)
        w = base.weight
        self.rank, self.alpha = int(rank), float(alpha)
        self.scaling = self.alpha / self.rank
        self.lora_A = nn.Parameter(torch.empty(self.rank, base.in_features, device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.rank, device=w.device, dtype=w.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """``(out_features, in_features)``: ``scale · B A``, what the adapter adds to the weight."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scaling

    def merge(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight ``W + scale · B A`` and the base's bias, frozen like
        the base was (``requires_grad`` copied from the base weight)."""
        b = self.base
        out = nn.Linear(b.in_features, b.out_features, bias=b.bias is not None,
                        device=b.weight.device, dtype=b.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(b.weight + self.delta_weight())
            if b.bias is not None:
                out.bias.copy_(b.bias)
        return out.requires_grad_(b.weight.requires_grad)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}"


def _matches(name: str, pattern: str) -> bool:
    return name == pattern or name.startswith(pattern + ".") or fnmatch.fnmatchcase(name, pattern)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _linears(model: nn.Module) -> dict[str, nn.Module]:
    """Every ``nn.Linear`` and :class:`LoRALinear` by name, not descending into adapters."""
    found, inside = {}, set()
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if isinstance(m, LoRALinear):
            inside.add(name)
            found[name] = m
        elif isinstance(m, nn.Linear):
            found[name] = m
    return found


def apply_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0, *,
               targets: Sequence[str] = ("region_embed", "encoder"),
               trainable: Sequence[str] = ("expression_head",), dropout: float = 0.0) -> nn.Module:
    """Adapt ``model`` in place for LoRA fine-tuning and return it.

    Parameters
    ----------
    model
        Any ``nn.Module`` (e.g. a pre-trained :class:`~cisgram.models.get.RegionTransformer`).
    rank, alpha, dropout
        Of each :class:`LoRALinear`.
    targets
        Which linear layers to adapt, by module name: an exact name (``"region_embed"``), a
        prefix (``"encoder"``: every linear layer below it) or an ``fnmatch`` pattern
        (``"encoder.blocks.*.attn.qkv"``). Each layer is adapted once.
    trainable
        Modules (or parameters, e.g. ``"cls_token"``) left fully trainable, typically the heads
        to fine-tune. Everything else, base weights included, gets ``requires_grad=False``.

    Raises
    ------
    InputError
        A target or trainable name matches nothing, a target layer already has an adapter, or a
        trainable module is also a LoRA target.
    """
    linears = _linears(model)
    chosen: dict[str, nn.Linear] = {}
    for t in targets:
        hits = [n for n in linears if _matches(n, t)]
        if not hits:
            shown = ", ".join(list(linears)[:8]) + (", ..." if len(linears) > 8 else "")
            raise InputError(f"LoRA target {t!r} matches no linear layer of this model",
                             hint=f"linear layers: {shown}")
        for n in hits:
            if isinstance(linears[n], LoRALinear):
                raise InputError(f"{n!r} already has a LoRA adapter", hint="merge_lora(model) first, or adapt a fresh copy")
            chosen[n] = linears[n]
    for t in trainable:
        clash = [n for n in chosen if _matches(n, t)]
        if clash:
            raise InputError(f"{t!r} is both a LoRA target ({clash[0]}) and fully trainable",
                             hint="name it in targets or in trainable, not both")
    keep: list[nn.Parameter] = []
    for t in trainable:
        try:
            keep.extend(model.get_submodule(t).parameters())
        except AttributeError:
            try:
                keep.append(model.get_parameter(t))
            except AttributeError:
                names = ", ".join(n for n, _ in model.named_children())
                raise InputError(f"trainable {t!r} is neither a module nor a parameter of this model",
                                 hint=f"top-level modules: {names}") from None
    model.requires_grad_(False)
    for name, lin in chosen.items():
        _set_module(model, name, LoRALinear(lin, rank, alpha, dropout))
    for p in keep:
        p.requires_grad_(True)
    return model


def lora_modules(model: nn.Module) -> dict[str, LoRALinear]:
    """Every :class:`LoRALinear` of ``model`` by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """What fine-tuning learned: every adapter's ``lora_A`` / ``lora_B`` and every other parameter
    that requires grad (the ``trainable`` heads of :func:`apply_lora`), as detached CPU copies
    keyed by their names in ``model.state_dict()``. Save it with ``safetensors.torch.save_file``."""
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad or name.endswith((".lora_A", ".lora_B")):
            out[name] = p.detach().cpu().clone()
    return out


def load_lora(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load a :func:`lora_state_dict` into ``model``, which must already be adapted the same way
    (:func:`apply_lora` on the same base model with the same targets and rank)."""
    missing = sorted(set(state) - {n for n, _ in model.named_parameters()})
    if missing:
        raise InputError(f"{len(missing)} LoRA weights have no place in this model, e.g. {missing[0]!r}",
                         hint="call apply_lora(model, ...) with the targets used in training first")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise InputError(f"LoRA weights do not fit this model ({str(e).splitlines()[-1].strip()})",
                         hint="adapt the model with the rank used in training") from None
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` of ``model`` (in place) by its merged ``nn.Linear`` and
    return ``model``; outputs are unchanged up to rounding."""
    for name, m in lora_modules(model).items():
        _set_module(model, name, m.merge())
    return model
