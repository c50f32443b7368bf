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
    ``(B, R, d_model)``, normalised to sum to 1 per window, ``(B, R)`` (GET's
    ``get_gene_jacobian_region_norm``; ``normalise=False`` keeps the norms themselves).
:func:`entry_contributions`
    GET's gene-by-motif rows of many entries (windows) and their predictions in one pass:
    input × gradient *averaged* over the window's regions, signed (GET's ``mean``) and of
    absolute values (the paper's ``absmean``), i.e. :func:`gene_by_motif` / ``R``; windows may
    come from a lazy sequence, chunk by chunk, and feature columns can be zeroed first (a motif
    left out at inference, :mod:`cisgram.interpret.robustness`).
:func:`per_gene`
    entries to genes: the mean of a gene's entries (GET's ``get_gene_by_motif``, the mean over
    the gene's TSS samples); an entry labelled with several TSS names counts for each.

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

from collections.abc import Sequence

import numpy as np
import pandas as pd
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
               pb: torch.Tensor | None, embedding: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``∂ y[b, focus_b, strand_b] / ∂ xb`` ``(b, R, F)``, or at the region embedding ``(b, R, d)``,
    and the outputs ``y[b, focus_b, strand_b]`` ``(b,)`` themselves."""
    xb = xb.clone().requires_grad_(True)
    kept: list[torch.Tensor] = []
    hook = net.region_embed.register_forward_hook(lambda _m, _i, out: kept.append(out)) if embedding else None
    try:
        with torch.enable_grad():
            y = getattr(net(xb, positions=pb), output)
            picked = y[torch.arange(len(xb), device=y.device), fb, sb]
            wrt = kept[0] if embedding else xb
            return torch.autograd.grad(picked.sum(), wrt)[0], picked.detach()
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
            g, _y = _gradients(net, xb, focus[s].to(dev), strand[s].to(dev), output, pb, embedding)
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
                      batch_size: int = 64, device: str = "cpu", normalise: bool = True) -> np.ndarray:
    """``(B, R)`` float32: per region, the L2 norm of the gradient of ``output[b, focus_b, strand_b]``
    at the region-embedding output, divided by its sum over the window (rows sum to 1, or are all 0);
    the norms themselves (GET's ``jacobian_norm``) with ``normalise=False``."""
    def reduce(g, _x):
        norm = g.norm(dim=-1)
        if not normalise:
            return norm
        total = norm.sum(1, keepdim=True)
        return torch.where(total > 0, norm / total.clamp_min(torch.finfo(norm.dtype).tiny), torch.zeros_like(norm))

    return _run(model, X, focus, strand, output, positions, batch_size, device, True, reduce)


def entry_contributions(model, X, focus, *, strand=0, output: str = "expression", positions=None, zero=None,
                        chunk: int = 256, batch_size: int = 64, device: str = "cpu"):
    """GET's gene-by-motif rows and the predictions of ``B`` entries in one Jacobian pass:
    ``(signed (B, F), absolute (B, F), predicted (B,))`` float32, where ``signed`` is the input ×
    gradient of ``output[b, focus_b, strand_b]`` averaged over the window's regions (GET's
    ``mean``), ``absolute`` the mean of its absolute values (``absmean``; both are
    :func:`gene_by_motif` / ``R``) and ``predicted`` that output.

    ``X``: ``(B, R, F)`` windows as an array or tensor, or any sequence of windows with ``len``
    and slicing (``X[lo:hi]`` gives ``(n, R, F)``), read ``chunk`` windows at a time so a genome's
    entries need not be held at once. ``zero``: feature column(s) set to 0 in every window before
    the pass (a motif left out at inference; its own columns then read 0). ``focus``, ``strand``
    and ``positions`` as the other functions, one per window or one for all."""
    B = len(X)
    focus_all = np.broadcast_to(np.asarray(focus), (B,)) if np.ndim(focus) == 0 else np.asarray(focus)
    strand_all = np.broadcast_to(np.asarray(strand), (B,)) if np.ndim(strand) == 0 else np.asarray(strand)
    cols = None if zero is None else np.atleast_1d(np.asarray(zero, dtype=np.int64))
    signed, absolute, predicted = [], [], []
    for lo in range(0, B, max(1, int(chunk))):
        hi = min(B, lo + max(1, int(chunk)))
        part = X[lo:hi]
        xb = part.detach().cpu().numpy().copy() if isinstance(part, torch.Tensor) else np.array(part, np.float32)
        if cols is not None:
            xb[..., cols] = 0.0
        net, xt, fc, st, pos = prepare(model, xb, focus_all[lo:hi], strand_all[lo:hi], output,
                                       None if positions is None else positions[lo:hi])
        R = xt.shape[1]
        with evaluating(net, device) as dev:
            for s in spans(len(xt), batch_size):
                xs = xt[s].to(dev)
                g, y = _gradients(net, xs, fc[s].to(dev), st[s].to(dev), output,
                                  None if pos is None else pos[s].to(dev), False)
                a = (g * xs).float()
                signed.append((a.sum(1) / R).cpu())
                absolute.append((a.abs().sum(1) / R).cpu())
                predicted.append(y.float().cpu())
    if not predicted:
        F = int(getattr(X, "shape", (0,))[-1])
        return np.zeros((0, F), np.float32), np.zeros((0, F), np.float32), np.zeros(0, np.float32)
    return torch.cat(signed).numpy(), torch.cat(absolute).numpy(), torch.cat(predicted).numpy()


def per_gene(rows, labels: Sequence[str], *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Entries to genes: each gene's row is the mean of the rows of the entries it labels (GET's
    ``get_gene_by_motif``: the mean over the gene's TSS samples).

    ``rows`` ``(E, F)`` (DataFrame or array; its columns, else ``columns``, name the output's);
    ``labels`` one per entry, the TSS names of that entry joined by ``","``: an entry counts for
    each of its names, empty names are skipped. Genes keep the order in which they first appear;
    the index is named ``gene``."""
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != len(labels):
        raise InputError(f"per_gene needs one label per row: {a.shape[0] if a.ndim == 2 else a.shape} rows, "
                         f"{len(labels)} labels")
    names = list(rows.columns) if isinstance(rows, pd.DataFrame) else (
        list(columns) if columns is not None else [f"f{i}" for i in range(a.shape[1])])
    pairs = [(g, i) for i, lab in enumerate(labels) for g in str(lab).split(",") if g]
    genes = list(dict.fromkeys(g for g, _ in pairs))
    where = {g: k for k, g in enumerate(genes)}
    gi = np.array([where[g] for g, _ in pairs], dtype=np.int64)
    ri = np.array([i for _, i in pairs], dtype=np.int64)
    total = np.zeros((len(genes), a.shape[1]))
    np.add.at(total, gi, a[ri])
    count = np.bincount(gi, minlength=len(genes)).astype(np.float64)
    return pd.DataFrame(total / np.maximum(count, 1.0)[:, None], index=pd.Index(genes, name="gene"), columns=names)
