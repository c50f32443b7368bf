"""Jacobians of GET's region transformer: which motifs, and which regions, drive one region's
predicted expression (``specs/get.md`` §4.1–4.3).

For a window ``X`` ``(R, F)`` and its focus region ``r`` (the gene's TSS region) on strand ``s``,
``J = ∂ y[r, s] / ∂ X`` is ``(R, F)``. Three summaries, batched over windows:

:func:`jacobian`
    ``J`` itself, ``(B, R, F)``.
:func:`gene_by_motif`
    input × gradient summed over the window's regions, ``(B, F)``: signed ``Σ_r X·J``
    (``absolute=False``), or ``Σ_r |X·J|`` (``absolute=True``). GET's gcell takes the *mean*
    over the 200 regions (signed in the current code, ``absmean`` in the paper-era demo); ours is
    that times ``R``, so rankings are the same, and the signed sum is the first-order
    (Taylor / "gradient × input") share of the prediction carried by each feature.
:func:`region_importance`
    the L2 norm over ``d_model`` of ``∂ y[r, s] / ∂ E`` at the region-embedding output ``E``
    ``(B, R, d_model)``, normalised to sum to 1 per window, ``(B, R)``.

Every function takes ``(model, X, focus, *, strand, output, positions, batch_size, device)``:
``model`` a :class:`~cisgram.models.get.RegionTransformer` or a
:class:`~cisgram.models.get.GETModel`; ``X`` ``(B, R, F)`` numpy or torch; ``focus`` and
``strand`` one int or one per window ``(B,)`` (the gene's strand: 0 = ``+``, 1 = ``-``);
``output`` ``"expression"`` or ``"accessibility"`` (whose only column is 0). Samples do not
interact in eval mode, so one backward pass per batch gives every window's Jacobian.

Pitfalls
--------
- The network runs in eval mode (no dropout, no drop-path) on ``device``; its mode and device
  are put back afterwards.
- With binary accessibility (GET's "natac": the column is 1 everywhere) the accessibility
  feature's input × gradient is the model's use of a constant, not a measured effect.
- Region importance is normalised per window; a window whose output has zero gradient gets all
  zeros rather than a division by zero.
"""

from __future__ import annotations

import numpy as np
import torch

from cisgram.errors import InputError
from cisgram.inference import evaluating, net_dtype, network, spans
from cisgram.models.get import RegionTransformer

OUTPUTS = ("expression", "accessibility")


def _per_window(v, n: int, what: str, upper: int) -> torch.Tensor:
    a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    if a.dtype.kind not in "iub" and not (a.dtype.kind == "f" and np.array_equal(a, np.round(a))):
        raise InputError(f"{what} must hold whole numbers (region or strand indices), got {a.dtype} {a.ravel()[:3]}")
    t = torch.as_tensor(a.astype(np.int64))
    if t.ndim == 0:
        t = t.expand(n)
    if tuple(t.shape) != (n,):
        raise InputError(f"{what} must be one int or one per window ({n},), got shape {tuple(t.shape)}")
    if n and (t.min() < 0 or t.max() >= upper):
        raise InputError(f"{what} must be in 0..{upper - 1}, got values from {int(t.min())} to {int(t.max())}")
    return t.clone()


def prepare(model, X, focus, strand, output: str, positions):
    """Checked inputs of a GET interpretation: ``(net, X (B, R, F) CPU tensor, focus (B,), strand (B,),
    positions or None)``; the network must be a :class:`RegionTransformer`."""
    net = network(model)
    if not isinstance(net, RegionTransformer):
        raise InputError(f"GET interpretation needs a RegionTransformer, not a {type(net).__name__}")
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    X = torch.as_tensor(X if isinstance(X, torch.Tensor) else np.asarray(X)).detach().to("cpu", net_dtype(net))
    pos = None if positions is None else torch.as_tensor(np.asarray(positions) if not isinstance(
        positions, torch.Tensor) else positions).detach().cpu()
    net.check_input(X, None, pos)
    B, R = X.shape[:2]
    width = net.config.n_outputs if output == "expression" else 1
    return net, X, _per_window(focus, B, "focus", R), _per_window(strand, B, "strand", width), pos


def _gradients(net: RegionTransformer, xb: torch.Tensor, fb: torch.Tensor, sb: torch.Tensor, output: str,
               pb: torch.Tensor | None, embedding: bool) -> torch.Tensor:
    """``∂ y[b, focus_b, strand_b] / ∂ xb`` ``(b, R, F)``, or at the region embedding ``(b, R, d)``."""
    xb = xb.clone().requires_grad_(True)
    kept: list[torch.Tensor] = []
    hook = net.region_embed.register_forward_hook(lambda _m, _i, out: kept.append(out)) if embedding else None
    try:
        with torch.enable_grad():
            y = getattr(net(xb, positions=pb), output)
            picked = y[torch.arange(len(xb), device=y.device), fb, sb]
            wrt = kept[0] if embedding else xb
            return torch.autograd.grad(picked.sum(), wrt)[0]
    finally:
        if hook is not None:
            hook.remove()


def _run(model, X, focus, strand, output, positions, batch_size, device, embedding: bool, reduce) -> np.ndarray:
    net, X, focus, strand, pos = prepare(model, X, focus, strand, output, positions)
    parts = []
    with evaluating(net, device) as dev:
        for s in spans(len(X), batch_size):
            xb = X[s].to(dev)
            pb = None if pos is None else pos[s].to(dev)
            g = _gradients(net, xb, focus[s].to(dev), strand[s].to(dev), output, pb, embedding)
            parts.append(reduce(g, xb).detach().float().cpu())
    if not parts:
        return reduce(torch.zeros(X.shape), X).float().numpy()
    return torch.cat(parts).numpy()


def jacobian(model, X, focus, *, strand=0, output: str = "expression", positions=None, batch_size: int = 64,
             device: str = "cpu") -> np.ndarray:
    """``(B, R, F)`` float32: gradient of ``output[b, focus_b, strand_b]`` with respect to ``X[b]``."""
    return _run(model, X, focus, strand, output, positions, batch_size, device, False, lambda g, _x: g)


def gene_by_motif(model, X, focus, *, strand=0, output: str = "expression", absolute: bool = False,
                  positions=None, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """``(B, F)`` float32: input × gradient of ``output[b, focus_b, strand_b]`` summed over the
    window's regions, signed, or of absolute values with ``absolute=True``. Rows are genes (TSS
    windows), columns the model's input features (motifs, then accessibility)."""
    def reduce(g, x):
        a = g * x
        return (a.abs() if absolute else a).sum(1)

    return _run(model, X, focus, strand, output, positions, batch_size, device, False, reduce)


def region_importance(model, X, focus, *, strand=0, output: str = "expression", positions=None,
                      batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """``(B, R)`` float32: per region, the L2 norm of the gradient of ``output[b, focus_b, strand_b]``
    at the region-embedding output, divided by its sum over the window (rows sum to 1, or are all 0)."""
    def reduce(g, _x):
        norm = g.norm(dim=-1)
        total = norm.sum(1, keepdim=True)
        return torch.where(total > 0, norm / total.clamp_min(torch.finfo(norm.dtype).tiny), torch.zeros_like(norm))

    return _run(model, X, focus, strand, output, positions, batch_size, device, True, reduce)
