"""Attribution maps: how much each base of a sequence drives a network's output.

Every method has one signature and one answer::

    fn(model, X, *, target=0, batch_size=128, device="cpu", **options) -> np.ndarray (N, 4, L) float32

``model`` is an ``nn.Module`` mapping one-hot ``(B, 4, L)`` to ``(B, T)`` or a
:class:`~cisgram.models.cnn.CNNModel` (its ``.net`` is explained; a ChromBPNet run's
:meth:`~cisgram.models.bpnet_run.ChromBPNetModel.explained` gives such a module, its log count or
profile scalar); ``X`` is ``(N, 4, L)`` one-hot
(numpy or torch, rows A, C, G, T) or ``(N, L)`` uint8 codes; ``target`` is the output column. The
work is batched over ``N``; the network runs in eval mode on ``device`` and its mode and device
are put back afterwards. :data:`ATTRIBUTIONS` names them all and :func:`attribute` dispatches.

What is explained: the network's **raw output**, the logit for a classifier (before the sigmoid
that :meth:`CNNModel.predict` applies: the logit's gradients do not vanish where the probability
saturates) and the standardised value for a regression ``CNNModel`` (before ``y_std``/``y_mean``,
a constant rescaling). Only the forward strand is explained; ``predict``'s reverse-complement
average is not part of it.

Methods (entry ``[n, b, l]`` of the answer; what computes it):

- ``saliency``: the raw gradient ``df/dx[b, l]`` for all four bases, not multiplied by ``x``
  and not made absolute (torch autograd);
- ``input_x_gradient``: ``x * gradient``, non-zero on the observed base only (torch autograd);
- ``integrated_gradients``: IG against a zero or dinucleotide-shuffled baseline, each position's
  sum over bases placed on the observed base (captum);
- ``deeplift``: DeepLIFT's rescale rule averaged over dinucleotide-shuffled references
  (DeepSHAP): actual contributions on the observed base, or hypothetical ones for all four bases
  (tangermeme; a module declaring ``deeplift_rule = "rescale"`` gets that rule too);
- ``gradcam``: Grad-CAM of a convolutional layer brought to ``L`` by averaging over receptive
  fields (or linearly, as captum), on the observed base (our own; the tests check the map
  against captum's ``LayerGradCam``);
- ``gradcam_saliency``: AgentBind's Grad-CAM × saliency, all four bases (our own);
- ``ism``: ``f(X with base b at l) - f(X)``, 0 at the observed base (:mod:`.ism`).

:func:`position_scores` reduces any of them to one importance per position ``(N, L)``.

Pitfalls
--------
- Saliency, ``gradcam_saliency`` and hypothetical DeepLIFT are non-zero on unobserved bases;
  sum them over bases only after multiplying by ``X`` (as :func:`position_scores` does).
- DeepLIFT sums exactly to ``f(X) - f(reference)`` only when every nonlinearity is an
  ``nn.Module`` with a DeepLIFT rule (ReLU & co., ``MaxPool1d``); a functional one (``torch.relu``,
  ``amax``) is treated as linear and tangermeme warns about the convergence delta.
  :class:`~cisgram.models.cnn.DilatedCNN`'s global max pool is such an operation.
- Captum's own ``DeepLift``/``DeepLiftShap`` do not sum to the difference on DeepSEA (its max
  pools): deltas as large as the output differences themselves. Hence tangermeme here.
- Grad-CAM behind a global max pool is one point of the layer's map (the gradient reaches the
  maximum only), and ``upsample="linear"`` (captum's stretch from ``L'`` to ``L``) ignores where
  each receptive field lies: expect the peak near, not across, an important site.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cisgram.errors import InputError
from cisgram.inference import evaluating, net_dtype, network, onehot, select, spans
from cisgram.interpret.ism import ism
from cisgram.metrics import auroc
from cisgram.models.cnn import DanQ, DeepSEA, DilatedCNN

# ---------------------------------------------------------------- shared loop


def _each_batch(model, X, target: int, batch_size: int, device: str,
                fn: Callable[[nn.Module, torch.Tensor, int], torch.Tensor]) -> np.ndarray:
    """``fn(net, xb, first)`` ``(B, 4, L)`` over batches ``xb`` of ``X`` (``first``: the index of
    the batch's first sequence), the network in eval mode on ``device``, gradients on."""
    net = network(model)
    with torch.inference_mode(False), torch.enable_grad():
        X = onehot(X, net_dtype(net))
        out = np.zeros(X.shape, np.float32)
        with evaluating(net, device) as dev:
            for sl in spans(len(X), batch_size):
                xb = X[sl].to(dev)
                if sl.start == 0:
                    with torch.no_grad():
                        select(net(xb[:1]), target)  # a wrong target fails here, with its message
                out[sl] = fn(net, xb, sl.start).detach().float().cpu().numpy()
    return out


def _gradient(net: nn.Module, xb: torch.Tensor, target: int) -> torch.Tensor:
    xb = xb.detach().requires_grad_(True)
    return torch.autograd.grad(select(net(xb), target).sum(), xb)[0]


def _on_observed(attr: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
    """Each position's attribution summed over the four bases, placed on the observed base."""
    return xb * attr.sum(1, keepdim=True)


def _shuffles(xb: torch.Tensor, n: int, seed: int, first: int) -> torch.Tensor:
    """``(B, n, 4, L)`` dinucleotide shuffles; sequence ``i`` of ``X`` is shuffled with seed
    ``seed + i``, so the references do not depend on ``batch_size``."""
    from tangermeme.ersatz import dinucleotide_shuffle

    seeds = [int(seed) + first + i for i in range(len(xb))]
    return dinucleotide_shuffle(xb.detach().cpu(), n=n, random_state=seeds, allow_N=True).to(xb)


def _check_onehot(X: torch.Tensor) -> None:
    if not bool(((X == 0) | (X == 1)).all()) or bool((X.sum(1) > 1).any()):
        raise InputError("DeepLIFT's shuffled references need one-hot sequences (0/1, at most one base per "
                         "position)", hint="pass codes or a one-hot encoding, not probabilities")


# ---------------------------------------------------------------- gradient methods


def saliency(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """The gradient of output ``target`` with respect to each input entry.

    Returns
    -------
    np.ndarray
        ``(N, 4, L)``: the raw gradient for all four bases (not multiplied by ``X``, no absolute
        value), which is a hypothetical score: ``[n, b, l]`` is the first-order effect of base
        ``b`` at ``l``. Multiply by ``X`` (:func:`position_scores`) for the observed base.
    """
    return _each_batch(model, X, target, batch_size, device, lambda net, xb, _: _gradient(net, xb, target))


def input_x_gradient(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """Input times gradient: the saliency on the observed base, 0 elsewhere (``(N, 4, L)``)."""
    def step(net, xb, _):
        return xb * _gradient(net, xb, target)

    return _each_batch(model, X, target, batch_size, device, step)


def integrated_gradients(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu",
                         baseline: str = "zeros", n_steps: int = 50, n_shuffles: int = 1,
                         seed: int = 0) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017) through captum, Gauss-Legendre steps.

    Parameters
    ----------
    baseline
        ``"zeros"`` (all-N sequence) or ``"shuffle"``: dinucleotide shuffles of each sequence
        (tangermeme's), ``n_shuffles`` of them with seeds ``seed + i`` for sequence ``i``,
        averaged.
    n_steps
        Points on the path from baseline to input.

    Returns
    -------
    np.ndarray
        ``(N, 4, L)``: each position's attribution summed over the four bases, placed on the
        observed base, so the map sums (over bases and positions) to about ``f(X) - f(baseline)``.
        With the zero baseline this is captum's answer unchanged (already 0 off the observed base).
    """
    if baseline not in ("zeros", "shuffle"):
        raise InputError(f"unknown baseline {baseline!r}", hint="choose 'zeros' or 'shuffle'")
    if baseline == "zeros" and n_shuffles != 1:
        raise InputError("n_shuffles applies to baseline='shuffle' only")
    if n_steps < 1 or n_shuffles < 1:
        raise InputError(f"n_steps and n_shuffles must be at least 1, got {n_steps} and {n_shuffles}")

    def step(net, xb, first):
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(lambda x: select(net(x), target))
        if baseline == "zeros":
            refs = torch.zeros_like(xb)[:, None]
        else:
            refs = _shuffles(xb, n_shuffles, seed, first)
        total = sum(ig.attribute(xb, baselines=refs[:, k], n_steps=n_steps, internal_batch_size=len(xb))
                    for k in range(refs.shape[1]))
        return _on_observed(total / refs.shape[1], xb)

    return _each_batch(model, X, target, batch_size, device, step)


def deeplift(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu", n_shuffles: int = 20,
             seed: int = 0, references=None, hypothetical: bool = False) -> np.ndarray:
    """DeepLIFT (rescale rule) averaged over dinucleotide-shuffled references: DeepSHAP, as
    tangermeme's ``deep_lift_shap`` computes it (exact summation to delta with max pools).

    Parameters
    ----------
    n_shuffles
        References per sequence, dinucleotide shuffles drawn with seed ``seed + i`` for
        sequence ``i`` (the same whatever ``batch_size``).
    references
        Instead of shuffles: ``(N, K, 4, L)`` one-hot references, ``K`` per sequence.
    batch_size
        Sequences per chunk; tangermeme runs ``batch_size`` sequence-reference pairs at a time.
    hypothetical
        Return hypothetical contributions instead of actual ones.

    Returns
    -------
    np.ndarray
        ``(N, 4, L)``, with ``m`` the DeepLIFT multipliers and ``r_k`` the references:

        - ``hypothetical=False`` (default): actual contributions, non-zero on the observed base
          only, ``x[b, l] * mean_k sum_c (x - r_k)[c, l] * m_k[c, l]``. Summed over bases and
          positions they give ``mean_k f(X) - f(r_k)`` (each reference's sum is exact).
        - ``hypothetical=True``: the contribution base ``b`` would make at ``l``,
          ``mean_k (m_k[b, l] - sum_c r_k[c, l] m_k[c, l])`` (the multipliers minus those of the
          reference's base: the ``shap``/``tangermeme`` projection TF-MoDISco expects). Times
          ``X`` it is the actual contribution.
    """
    refs_all = None
    if references is not None:
        refs_all = torch.as_tensor(np.asarray(references), dtype=torch.float32)
        if refs_all.ndim != 4 or refs_all.shape[2] != 4:
            raise InputError(f"references must be (N, K, 4, L), got shape {tuple(refs_all.shape)}")
        _check_onehot(refs_all.flatten(0, 1))
    elif n_shuffles < 1:
        raise InputError(f"n_shuffles must be at least 1, got {n_shuffles}")

    def step(net, xb, first):
        from tangermeme.deep_lift_shap import deep_lift_shap

        _check_onehot(xb)
        if refs_all is None:
            refs = _shuffles(xb, n_shuffles, seed, first)
        else:
            refs = refs_all[first: first + len(xb)].to(xb)
            if refs.shape[0] != len(xb) or refs.shape[-1] != xb.shape[-1]:
                raise InputError(f"references of shape {tuple(refs_all.shape)} do not match X "
                                 f"(N >= {first + len(xb)}, L = {xb.shape[-1]})",
                                 hint="give (N, K, 4, L): K references for each sequence")
        with warnings.catch_warnings():  # N (all-zero) columns are fine here; X was checked above
            warnings.filterwarnings("ignore", message="X must be one-hot encoded and cannot have unknown")
            return deep_lift_shap(net, xb, target=target, batch_size=batch_size, references=refs,
                                  hypothetical=hypothetical, device=xb.device, only_warn=True,
                                  additional_nonlinear_ops=_module_rules(net))

    return _each_batch(model, X, target, batch_size, device, step)


def _module_rules(net: nn.Module) -> dict | None:
    """DeepLIFT rules for the modules of ``net`` that ask for one: a module class with
    ``deeplift_rule = "rescale"`` (e.g. :class:`~cisgram.models.bpnet_run.WeightedLogits`, the
    softmax-weighted profile logits of a ChromBPNet) gets tangermeme's rescale rule, as
    bpnet-lite registers its ``_ProfileLogitScaling``; None when no module asks."""
    kinds = {type(m) for m in net.modules() if getattr(m, "deeplift_rule", None) == "rescale"}
    if not kinds:
        return None
    from tangermeme.deep_lift_shap import _nonlinear  # the rescale rule tangermeme gives its activations

    return dict.fromkeys(kinds, _nonlinear)


# ---------------------------------------------------------------- Grad-CAM


def _trunk(net: nn.Module) -> list[nn.Module] | None:
    """The modules of a recognised network's convolutional trunk, in order (None otherwise)."""
    if isinstance(net, DeepSEA):
        return list(net.trunk)
    if isinstance(net, DilatedCNN):
        return [*net.stem, *net.blocks]
    if isinstance(net, DanQ):
        return list(net.conv)
    return None


def _default_layer(net: nn.Module, which: str = "last") -> nn.Module:
    """The rectified feature map of the ``"first"``, ``"middle"`` or ``"last"`` convolution.

    DeepSEA: that convolution's ReLU (the middle one is the second of three); DilatedCNN: its
    stem's ReLU, then each residual block (the last is the map its global pool reads); DanQ: the
    ReLU of its one convolution; other networks: that ``Conv1d``.
    """
    if isinstance(net, DeepSEA):
        maps = [m for m in net.trunk if isinstance(m, nn.ReLU)]
    elif isinstance(net, DilatedCNN):
        maps = [net.stem[-1], *net.blocks]
    elif isinstance(net, DanQ):
        maps = [net.conv[1]]  # its one convolution's ReLU, whatever "first" / "middle" / "last"
    else:
        maps = [m for m in net.modules() if isinstance(m, nn.Conv1d)]
    if not maps:
        raise InputError(f"Grad-CAM needs a convolutional layer and this {type(net).__name__} has none",
                         hint="pass layer= (a module of the network or its dotted name)")
    return maps[{"first": 0, "middle": len(maps) // 2, "last": -1}[which]]


def _layer(net: nn.Module, layer) -> nn.Module:
    if layer is None or layer in ("first", "middle", "last"):
        return _default_layer(net, layer or "last")
    if isinstance(layer, nn.Module):
        return layer
    try:
        return net.get_submodule(str(layer))
    except AttributeError:
        names = [n for n, _ in net.named_modules() if n]
        listed = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
        raise InputError(f"the network has no layer {layer!r}",
                         hint=f"name 'first', 'middle', 'last' or one of: {listed}") from None


def receptive_field(net: nn.Module, layer: nn.Module) -> tuple[int, int, int] | None:
    """``(span, stride, pad)`` of ``layer``'s output in a recognised trunk: output ``j`` reads the
    inputs ``[j*stride - pad, j*stride - pad + span)``. None when the layer is not in a DeepSEA
    or DilatedCNN trunk or a module before it is not a window operation we know."""
    from cisgram.interpret.ism import POINTWISE, window_of

    modules = _trunk(net)
    if modules is None or not any(m is layer for m in modules):
        return None
    span, stride, pad = 1, 1, 0
    for m in modules:
        if not isinstance(m, POINTWISE):
            geom = window_of(m)
            if geom is None:
                return None
            k, s, p = geom  # this window over the previous map: compose with the field so far
            span, stride, pad = (k - 1) * stride + span, s * stride, p * stride + pad
        if m is layer:
            return span, stride, pad
    return None


def footprint_upsample(cam: torch.Tensor, length: int, span: int, stride: int, pad: int) -> torch.Tensor:
    """A layer's map ``(B, 1, L')`` on the input positions ``(B, 1, length)``: each input position
    takes the mean of the map over the outputs whose receptive field (``span``, ``stride``,
    ``pad`` as in :func:`receptive_field`) covers it, 0 where none does. For the first
    convolution this is AgentBind's averaging over the filter's footprint."""
    ones = torch.ones(1, 1, span, dtype=cam.dtype, device=cam.device)
    total = F.conv_transpose1d(cam, ones, stride=stride)  # index t is input position t - pad
    count = F.conv_transpose1d(torch.ones_like(cam[:1]), ones, stride=stride)
    out = cam.new_zeros(cam.shape[0], 1, length)
    lo, hi = max(0, -pad), min(length, total.shape[-1] - pad)
    if lo < hi:
        out[..., lo:hi] = total[..., lo + pad:hi + pad] / count[..., lo + pad:hi + pad].clamp_min(1)
    return out


def _gradcam_parts(net: nn.Module, xb: torch.Tensor, target: int, layer: nn.Module, upsample: str):
    """The Grad-CAM map on the input positions ``(B, 1, L)`` and the input gradient ``(B, 4, L)``."""
    seen = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.update(a=output))
    try:
        xb = xb.detach().requires_grad_(True)
        y = select(net(xb), target)
    finally:
        handle.remove()
    a = seen.get("a")
    if not isinstance(a, torch.Tensor) or a.ndim != 3:
        raise InputError("Grad-CAM needs a layer whose output is a (B, channels, length) feature map",
                         hint="choose a convolution, its activation or a pooling layer")
    grad_a, grad_x = torch.autograd.grad(y.sum(), (a, xb))
    cam = torch.relu((grad_a.mean(-1, keepdim=True) * a).sum(1, keepdim=True))
    field = receptive_field(net, layer) if upsample == "footprint" else None
    if field is None:
        return F.interpolate(cam, size=xb.shape[-1], mode="linear", align_corners=False), grad_x
    return footprint_upsample(cam, xb.shape[-1], *field), grad_x


def _check_upsample(upsample: str) -> None:
    if upsample not in ("footprint", "linear"):
        raise InputError(f"unknown upsampling {upsample!r}", hint="choose 'footprint' or 'linear'")


def gradcam(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu",
            layer="middle", upsample: str = "footprint") -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) on a convolutional layer, brought to the input length.

    The map of layer output ``A`` ``(C, L')`` is ``ReLU(sum_c mean_j(df/dA[c, j]) * A[c])``
    (captum's ``LayerGradCam`` with ``relu_attributions=True``).

    Parameters
    ----------
    layer
        ``"middle"`` (default), ``"first"`` or ``"last"``: that convolution's rectified map
        (DeepSEA: the ReLU after its second, first or third convolution; DilatedCNN: the stem,
        the middle or the last residual block, the last being the map its global pool reads;
        DanQ: the ReLU of its one convolution, whichever is named; other networks: that ``Conv1d``), or a module of the network or its dotted name
        (``"trunk.12"``). Selvaraju et al. take the last layer; on sequence the resolution
        matters as much as the semantics. On the two built-in simulations (``cisgram explain
        benchmark``, DeepSEA default widths, 200 test positives) the planted-site auROC of the
        middle layer was 0.981 / 0.982 (ctcf / gata_tal1), of the last 0.893 / 0.936 and of the
        first 0.847 / 0.652; the middle layer's 39 bp fields at a 4 bp stride are motif-sized.
    upsample
        ``"footprint"`` (default): each input position takes the mean of the map over the layer
        outputs whose receptive field covers it (:func:`footprint_upsample`), for layers of a
        DeepSEA or DilatedCNN trunk; elsewhere, and with ``"linear"``, the map is stretched to
        ``L`` by linear interpolation (``align_corners=False``, captum's
        ``LayerAttribution.interpolate``), which ignores where each receptive field lies.

    Returns
    -------
    np.ndarray
        ``(N, 4, L)``: the map's value at each position on the observed base (map ``× X``).
    """
    _check_upsample(upsample)

    def step(net, xb, _):
        return _gradcam_parts(net, xb, target, _layer(net, layer), upsample)[0] * xb

    return _each_batch(model, X, target, batch_size, device, step)


def gradcam_saliency(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu",
                     layer="middle", upsample: str = "footprint") -> np.ndarray:
    """AgentBind's Grad-CAM: a convolution's Grad-CAM map averaged over each position's
    receptive-field footprint (:func:`gradcam`), times the raw input gradient of
    :func:`saliency` (AgentBind multiplies by gradient × input, "guided Grad-CAM" style; times
    ``X`` this is that). ``(N, 4, L)``, all four bases, like the saliency.

    The layer differs from AgentBind's by default: ``"middle"`` (DeepSEA's second convolution,
    a 39 bp field at a 4 bp stride) instead of the first (8 bp). On the two built-in
    simulations the planted-site auROC was 0.979 / 0.984 (ctcf / gata_tal1) with the middle
    layer, 0.875 / 0.657 with the first and 0.941 / 0.978 with the last: the first layer's 8 bp
    filters are shorter than the motifs, so the mean gradient over all positions weighs them
    poorly. ``layer="first"`` gives AgentBind's exact choice. ``layer`` and ``upsample`` as in
    :func:`gradcam`."""
    _check_upsample(upsample)

    def step(net, xb, _):
        cam, grad = _gradcam_parts(net, xb, target, _layer(net, layer), upsample)
        return cam * grad

    return _each_batch(model, X, target, batch_size, device, step)


# ---------------------------------------------------------------- registry


ATTRIBUTIONS: dict[str, Callable[..., np.ndarray]] = {
    "ism": ism,
    "saliency": saliency,
    "input_x_gradient": input_x_gradient,
    "integrated_gradients": integrated_gradients,
    "deeplift": deeplift,
    "gradcam": gradcam,
    "gradcam_saliency": gradcam_saliency,
}


def _method(method: str) -> Callable[..., np.ndarray]:
    if method not in ATTRIBUTIONS:
        raise InputError(f"unknown attribution method {method!r}",
                         hint=f"choose one of {', '.join(ATTRIBUTIONS)}")
    return ATTRIBUTIONS[method]


def attribute(model, X, method: str, **options) -> np.ndarray:
    """``ATTRIBUTIONS[method](model, X, **options)``: ``(N, 4, L)`` float32. An unknown method or
    option raises :class:`~cisgram.errors.InputError` naming the valid ones."""
    fn = _method(method)
    try:
        inspect.signature(fn).bind(model, X, **options)
    except TypeError as e:
        valid = [p for p in inspect.signature(fn).parameters if p not in ("model", "X")]
        raise InputError(f"{method}: {e}", hint=f"its options are {', '.join(valid)}") from None
    return fn(model, X, **options)


def position_scores(attr, X, *, method: str | None = None) -> np.ndarray:
    """One importance per position ``(N, L)`` from an ``(N, 4, L)`` attribution map.

    The attribution at the observed base, ``sum_b attr[n, b, l] * X[n, b, l]``, except for
    ``method="ism"``, whose map is 0 at the observed base: there the score is minus the mean
    effect of the substitutions at ``l`` (3, or 4 at an ``N``), i.e. how much the observed base
    is worth compared with the average alternative. ``N`` positions score 0 otherwise.
    """
    if method is not None:
        _method(method)
    x = onehot(X).numpy()
    a = np.asarray(attr, dtype=np.float32)
    if a.shape != x.shape:
        raise InputError(f"attributions of shape {a.shape} do not match the sequences' {x.shape}")
    if method == "ism":
        alt = x == 0
        return -(a * alt).sum(1) / np.maximum(alt.sum(1), 1)
    return (a * x).sum(1)






def importance(attr: np.ndarray, onehot: np.ndarray, method: str) -> np.ndarray:
    """``(N, L)`` non-negative per-base importance from ``(N, 4, L)`` attributions (see the module
    docstring for each method's convention)."""
    if method == "ism":
        return np.abs(attr).sum(1) / 3.0
    if method == "saliency":
        return np.abs(attr).max(1)
    return np.abs((attr * onehot).sum(1))


def recovery(scores: np.ndarray, truth: np.ndarray) -> dict:
    """How well ``(N, L)`` importances single out the ``(N, L)`` ground-truth bases: the pooled
    area under the ROC curve after L1-normalising each sequence, and the mean per-sequence area."""
    norm = scores / np.maximum(scores.sum(1, keepdims=True), 1e-30)
    per_seq = [auroc(t, s) for t, s in zip(truth, norm, strict=True) if 0 < t.sum() < t.size]
    return {"auroc": auroc(truth.ravel(), norm.ravel()), "auroc_per_sequence": float(np.mean(per_seq)),
            "n_sequences": int(len(scores))}


def contributions(attr: np.ndarray, onehot: np.ndarray, method: str) -> np.ndarray:
    """``(N, 4, L)`` contributions of the observed bases from ``(N, 4, L)`` attributions: the
    attribution times the one-hot sequence; for ISM the observed base carries minus the mean
    change of its three substitutions."""
    a = -attr.sum(1, keepdims=True) / 3 if method == "ism" else attr
    return a * onehot


# ---------------------------------------------------------------- windows the output ignores


FLAT_TOLERANCE = 1e-12  # on the raw output per unit of one-hot input; see unresponsive()


def max_gradient(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu",
                 both_strands: bool = False) -> np.ndarray:
    """``(N,)``: the largest ``|df/dx[b, l]|`` over every base and position of each sequence,
    from :func:`saliency` (one batched backward pass per strand). With ``both_strands`` the
    larger of the forward strand's and the reverse complement's, the two outputs a
    :class:`~cisgram.models.cnn.CNNModel` prediction averages."""
    grad = np.abs(saliency(model, X, target=target, batch_size=batch_size, device=device))
    out = grad.max(axis=(1, 2), initial=0.0)
    if both_strands:
        rc = onehot(X).flip(1, 2)
        grad = np.abs(saliency(model, rc, target=target, batch_size=batch_size, device=device))
        out = np.maximum(out, grad.max(axis=(1, 2), initial=0.0))
    return out


def unresponsive(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu",
                 both_strands: bool = False, tol: float = FLAT_TOLERANCE) -> np.ndarray:
    """``(N,)`` True where output ``target`` does not respond to the sequence at all: the gradient
    of the raw output (standardised value or logit, as everywhere in this module) with respect
    to the one-hot input is at most ``tol`` at every base and position (:func:`max_gradient`).

    Such a window is one the network cannot see, e.g. every ReLU of a DeepSEA dense layer off:
    the output is one constant there, so every attribution by gradient is 0 and every small
    edit scores Δ = 0, whatever the sequence holds. The tolerance is absolute on the raw
    output, whose scale is about 1 (standardised targets, logits): a window the network reads
    has float32 gradients many orders of magnitude above ``1e-12``, a dead one has exactly 0,
    so ``tol`` only absorbs denormal noise. The test is local: an edit large enough can still
    wake such a window up (a variant that completes a motif), which is why
    :func:`cisgram.workflows.variants.unresponsive_windows` flags only variants whose Δ is 0.
    """
    return max_gradient(model, X, target=target, batch_size=batch_size, device=device,
                        both_strands=both_strands) <= tol
