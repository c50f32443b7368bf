"""In-silico mutagenesis (ISM), and the plumbing every attribution method shares.

:func:`ism` scores every single-base substitution of every sequence: entry ``[n, b, l]`` of its
``(N, 4, L)`` answer is ``f(X[n] with base b at l) - f(X[n])``, where ``f`` is the network's raw
output ``target``. Following gReLU, a perturbation analysis is a set of perturbed sequences made
lazily, batch by batch (:class:`Substitutions`), and fed through one batched forward pass
(:func:`target_outputs`); batching and devices are written once.

:func:`ism_fast` gives the same numbers for the recognised convolutional networks
(:class:`~cisgram.models.cnn.DeepSEA`, :class:`~cisgram.models.cnn.DilatedCNN`) by computing the
network once per sequence and, for each substitution, recomputing only the activations its
receptive field reaches (the fastISM / Yuzu idea): the trunk is split into window operations
(convolution, max pool, residual block, each with the pointwise layers after it), and a mutation
at ``l`` changes a known interval of each operation's output. That interval is recomputed from
the previous operation's (reference + changed) values, then spliced into the cached reference
output of the last operation, and the tail of the network (DeepSEA's dense head; DilatedCNN's
pool and linear layer) runs on the result. The first convolution is the special case the window
rule reduces to: only the ``kernel`` outputs covering ``l`` are recomputed.

Conventions
-----------
- ``f`` is the raw output: the logit for a classifier (before the sigmoid), the standardised
  value for a :class:`~cisgram.models.cnn.CNNModel` regressor (before ``y_std``/``y_mean``).
- No strand averaging (unlike :func:`cisgram.inference.predict`): the forward strand is explained.
- The reference base is skipped, not recomputed: its entry is 0. At an ``N`` (all-zero column)
  all four bases are substitutions. Positions left out through ``positions`` are 0.
- The network runs in eval mode on ``device``; its mode and device are put back afterwards.

The shared plumbing (:func:`network`, :func:`onehot`, :func:`evaluating`, :func:`select`,
:func:`spans`) lives here because :mod:`cisgram.interpret.attribution` builds on this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cisgram.errors import InputError
from cisgram.inference import evaluating, net_dtype, network, onehot, select, spans, target_outputs
from cisgram.models.cnn import DeepSEA, DilatedCNN, Residual

# ---------------------------------------------------------------- plumbing shared by all methods


# ---------------------------------------------------------------- brute force


@dataclass(frozen=True)
class Substitutions:
    """Every single-base substitution of one-hot ``X`` at some positions, one per row: the
    sequence (``seq``), the new base (``base``, 0..3 = A C G T) and the position (``pos``).
    The observed base is not a substitution; at an ``N`` all four bases are."""

    seq: np.ndarray
    base: np.ndarray
    pos: np.ndarray

    @classmethod
    def of(cls, X: torch.Tensor, positions: np.ndarray) -> Substitutions:
        seq, base, k = np.nonzero(X[:, :, positions].numpy() == 0)
        return cls(seq, base, positions[k])

    def __len__(self) -> int:
        return len(self.seq)

    def batches(self, X: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        """The mutated sequences ``(B, 4, L)``, ``batch_size`` at a time, made as they are asked for."""
        for sl in spans(len(self), batch_size):
            seq, base, pos = (torch.from_numpy(a[sl]) for a in (self.seq, self.base, self.pos))
            xb = X[seq]
            rows = torch.arange(len(seq))
            xb[rows, :, pos] = 0
            xb[rows, base, pos] = 1
            yield xb


def _ism_brute(net: nn.Module, X: torch.Tensor, target: int, batch_size: int, dev: torch.device,
               positions: np.ndarray) -> np.ndarray:
    ref = target_outputs(net, (X[s] for s in spans(len(X), batch_size)), target, dev)
    subs = Substitutions.of(X, positions)
    mutant = target_outputs(net, subs.batches(X, batch_size), target, dev)
    out = np.zeros(X.shape, np.float32)
    out[subs.seq, subs.base, subs.pos] = (mutant - ref[subs.seq]).numpy()
    return out


# ---------------------------------------------------------------- fast path for convolutional trunks

POINTWISE = (nn.BatchNorm1d, nn.Dropout, nn.Identity, nn.ReLU, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU,
              nn.Softplus, nn.Sigmoid, nn.Tanh)


def _int(v) -> int:
    return int(v[0] if isinstance(v, tuple | list) else v)


def window_of(m: nn.Module) -> tuple[int, int, int] | None:
    """``(span, stride, pad)`` of a window operation: output ``j`` reads inputs
    ``[j*stride - pad, j*stride - pad + span)``; None when ``m`` is not one we can window."""
    inner = m.conv if isinstance(m, Residual) else m  # the skip adds x[j], inside the conv's window
    if isinstance(inner, nn.Conv1d) and inner.padding_mode == "zeros" and not isinstance(inner.padding, str):
        geom = inner.dilation[0] * (inner.kernel_size[0] - 1) + 1, inner.stride[0], inner.padding[0]
    elif isinstance(inner, nn.MaxPool1d) and _int(inner.dilation) == 1 and not inner.ceil_mode:
        geom = _int(inner.kernel_size), _int(inner.stride), _int(inner.padding)
    else:
        return None
    span, stride, pad = geom
    return geom if stride == 1 or pad == 0 else None  # a window must start on the stride grid


@dataclass(frozen=True)
class _Stage:
    """One window operation and the pointwise layers after it."""

    modules: tuple[nn.Module, ...]
    span: int
    stride: int
    pad: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.modules:
            x = m(x)
        return x

    @property
    def conv(self) -> nn.Conv1d | None:
        """The stage's convolution when the stage starts with one of stride 1: a change of its
        input then changes the convolution's output linearly (:func:`_toeplitz`)."""
        m = self.modules[0]
        return m if isinstance(m, nn.Conv1d) and m.stride[0] == 1 and m.groups == 1 else None

    def changed(self, a: int, b: int, n_out: int) -> tuple[int, int]:
        """The outputs whose window overlaps the changed inputs ``[a, b)``."""
        lo = max(0, (a + self.pad - self.span) // self.stride + 1)
        return lo, min(n_out, -(-(b + self.pad) // self.stride))

    def reads(self, lo: int, hi: int, n_in: int) -> tuple[int, int]:
        """The inputs that outputs ``[lo, hi)`` read (clipped to the sequence)."""
        return max(0, lo * self.stride - self.pad), min(n_in, (hi - 1) * self.stride - self.pad + self.span)


def _stages(modules: Iterable[nn.Module]) -> list[_Stage] | None:
    stages, group, geom = [], [], (1, 1, 0)
    for m in modules:
        if isinstance(m, POINTWISE):
            group.append(m)
            continue
        window = window_of(m)
        if window is None:
            return None
        if group:
            stages.append(_Stage(tuple(group), *geom))
        group, geom = [m], window
    if group:
        stages.append(_Stage(tuple(group), *geom))
    return stages


class _Tail:
    """The network after its last window stage, updated rather than recomputed. :meth:`prepare`
    takes the reference map ``h`` ``(N, C, L')`` of a span of sequences (and how far mutants'
    columns can reach past its ends, ``margin``); :meth:`outputs` turns the changed columns
    ``[lo_p, lo_p + k)`` of each mutant into the network's outputs."""

    def __init__(self, net: nn.Module):
        self.net = net

    def prepare(self, h: torch.Tensor, margin: int) -> None:
        raise NotImplementedError

    def outputs(self, vals: torch.Tensor, lo: list[int]) -> torch.Tensor:
        """``vals`` ``(P, N, B, C, k)``: the mutants' changed columns, ``B`` bases at each of ``P``
        positions for each of ``N`` sequences (columns past the ends zeroed); ``lo`` their first
        column at each position. Returns ``(P, N, B, T)``."""
        raise NotImplementedError


class _DenseTail(_Tail):
    """DeepSEA's head ``flatten → linear → rest``: the first linear layer is affine in the map,
    so a mutant's pre-activation is the reference's plus the weights of its changed columns
    times their change: one batched product per changed column, on views of the weights."""

    def prepare(self, h, margin):
        head = self.net.head
        self.linear, self.rest, self.margin = head[1], head[2:], margin
        self.z = self.linear(h.flatten(1))  # (N, H)
        w = self.linear.weight.view(self.linear.out_features, h.shape[1], h.shape[2])  # (H, C, L')
        self.g = F.pad(w.permute(2, 1, 0), (0, 0, 0, 0, margin, margin)).contiguous()  # (L' + 2m, C, H); 0 past the ends
        self.h = F.pad(h, (margin, margin))

    def outputs(self, vals, lo):
        P, N, B, C, k = vals.shape
        first = [c + self.margin for c in lo]
        d = vals - _columns(self.h, first, k)  # (P, N, B, C, k); past the ends both sides are 0
        step = _even_step(first)
        d = d.permute(4, 0, 1, 2, 3).reshape(k, P, N * B, C).contiguous()
        z = self.z[None, :, None].expand(P, N, B, -1).reshape(P, N * B, -1).clone()
        for j in range(k):
            g = (self.g[first[0] + j: first[-1] + j + 1: step] if step
                 else self.g.index_select(0, torch.tensor(first, device=vals.device) + j))  # (P, C, H)
            z.baddbmm_(d[j], g)
        return self.rest(z.view(P * N * B, -1)).view(P, N, B, -1)


class _PoolTail(_Tail):
    """DilatedCNN after its blocks: central crop, global max or mean pool, linear. A mutant's
    pool is the reference's with its changed columns swapped in: for the mean, plus their change
    over the width; for the max, the larger of the mutant's columns and the reference's maximum
    outside them (prefix and suffix maxima)."""

    def prepare(self, h, margin):
        net = self.net
        self.c0 = (h.shape[-1] - net.pool_width) // 2
        hc = h[..., self.c0: self.c0 + net.pool_width]
        self.h = h
        if net.pool == "max":
            ninf = hc.new_full(hc.shape[:2] + (1,), float("-inf"))
            self.pre = torch.cat([ninf, torch.cummax(hc, -1).values], -1)  # pre[..., j]: max of columns < j
            self.suf = torch.cat([torch.cummax(hc.flip(-1), -1).values.flip(-1), ninf], -1)  # suf[..., j]: >= j
        else:
            self.mean = hc.mean(-1)

    def outputs(self, vals, lo):
        net, h = self.net, self.h
        P, N, B, C, k = vals.shape
        lo = torch.tensor(lo, device=vals.device)
        cols = lo[:, None] + torch.arange(k, device=lo.device) - self.c0  # crop coordinates (P, k)
        inside = ((cols >= 0) & (cols < net.pool_width))[:, None, None, None]  # (P, 1, 1, 1, k)
        if net.pool == "max":
            a = (lo - self.c0).clamp(0, net.pool_width)
            b = (lo + k - self.c0).clamp(0, net.pool_width)
            rest = torch.maximum(self.pre[:, :, a], self.suf[:, :, b]).permute(2, 0, 1)[:, :, None]  # (P, N, 1, C)
            pooled = torch.maximum(rest, vals.masked_fill(~inside, float("-inf")).amax(-1))
        else:
            ref = h[:, :, (cols + self.c0).clamp(0, h.shape[-1] - 1)].permute(2, 0, 1, 3)[:, :, None]
            pooled = self.mean[None, :, None] + ((vals - ref) * inside).sum(-1) / net.pool_width
        return net.count(pooled.reshape(P * N * B, C)).view(P, N, B, -1)


def _split(net: nn.Module) -> tuple[list[_Stage], _Tail] | None:
    """A recognised network as window stages and the tail from the last stage to ``(B, T)``."""
    if isinstance(net, DeepSEA) and isinstance(net.head[0], nn.Flatten) and isinstance(net.head[1], nn.Linear):
        stages, tail = _stages(net.trunk), _DenseTail(net)
    elif isinstance(net, DilatedCNN):
        stages, tail = _stages([*net.stem, *net.blocks]), _PoolTail(net)
    else:
        return None
    return None if stages is None else (stages, tail)


@dataclass(frozen=True)
class _Plan:
    """How a substitution at one position travels through the stages: per stage the first
    input column of the window it reads (``in_lo``) and the first output column it changes
    (``out_lo``; the last one is where the tail takes over), and the windows' relative geometry
    (``shape``, the same for every position of a group). Windows are not clipped to the
    sequence: near the ends they reach into zero padding and produce columns that do not exist,
    which :func:`_run_group` zeroes."""

    in_lo: tuple[int, ...]
    out_lo: tuple[int, ...]
    shape: tuple


def _plan(stages: list[_Stage], lengths: list[int], pos: int) -> _Plan | None:
    """The :class:`_Plan` of a substitution at ``pos`` (``lengths``: the input's and each
    stage's output length); None when it reaches no output (e.g. a column a max pool drops)."""
    lo, hi = pos, pos + 1
    clo, chi = pos, pos + 1  # the same, clipped to the maps: does the change reach the end?
    in_los, out_los, shape = [], [], []
    for stage, n_out in zip(stages, lengths[1:], strict=True):
        out_lo = (lo + stage.pad - stage.span) // stage.stride + 1
        out_hi = -(-(hi + stage.pad) // stage.stride)
        in_lo = out_lo * stage.stride - stage.pad
        in_hi = (out_hi - 1) * stage.stride - stage.pad + stage.span
        first = in_lo // stage.stride  # the window's first output column, in the map's coordinates
        in_los.append(in_lo)
        out_los.append(out_lo)
        shape.append((in_hi - in_lo, lo - in_lo, hi - in_lo, out_lo - first, out_hi - first))
        clo, chi = stage.changed(clo, chi, n_out)
        if clo >= chi:
            return None
        lo, hi = out_lo, out_hi
    return _Plan(tuple(in_los), tuple(out_los), tuple(shape))


def _toeplitz(conv: nn.Conv1d, k_in: int) -> torch.Tensor:
    """``T`` ``(C_in * k_in, C_out * k_out)`` with ``conv(d) == d.flatten(1) @ T`` (bias left out)
    for a change ``d`` ``(M, C_in, k_in)`` confined to ``k_in`` columns: the ``k_out = k_in +
    dilation * (kernel - 1)`` output columns it reaches, as one matrix product instead of a
    convolution over a mostly unchanged window."""
    w = conv.weight  # (C_out, C_in, K)
    kernel, dil = conv.kernel_size[0], conv.dilation[0]
    k_out = k_in + dil * (kernel - 1)
    t = w.new_zeros(w.shape[1], k_in, w.shape[0], k_out)
    for i in range(k_in):
        for tap in range(kernel):
            t[:, i, :, i + dil * (kernel - 1 - tap)] = w[:, :, tap].T
    return t.reshape(w.shape[1] * k_in, w.shape[0] * k_out)


def _even_step(first: list[int]) -> int | None:
    """The common difference of increasing ``first`` (1 for a single value), else None."""
    step = first[1] - first[0] if len(first) > 1 else 1
    ok = step > 0 and all(b - a == step for a, b in zip(first[:-1], first[1:], strict=True))
    return step if ok else None


def _columns(maps: torch.Tensor, first: list[int], width: int) -> torch.Tensor:
    """``maps[:, :, first[p] + j]`` for ``j < width`` at every position ``p``: ``(P, N, 1, C,
    width)``. A group's interior positions step evenly through a map, so this is usually a
    strided view of its windows rather than a gather."""
    windows = maps.unfold(-1, width, 1)  # (N, C, L - width + 1, width), a view
    step = _even_step(first)
    if step:
        picked = windows[:, :, first[0]: first[-1] + 1: step]
    else:
        picked = windows.index_select(2, torch.tensor(first, device=maps.device))
    return picked.permute(2, 0, 1, 3)[:, :, None]


def _run_group(stages: list[_Stage], tail: _Tail, acts: list[torch.Tensor], pres: list, margins: list[int],
               lengths: list[int], plans: list[_Plan], bases: torch.Tensor, toeplitz: dict,
               target: int) -> torch.Tensor:
    """Outputs ``(P, N, B)`` of the substitutions ``bases`` ``(P, N, B)`` at the positions of
    ``plans`` (one group: the same relative geometry) in every sequence of the span.

    ``acts`` are the reference maps of the input and of every stage, ``pres`` the reference
    outputs of the stages' stride-1 convolutions (None for other stages), each zero-padded by
    ``margins`` columns on both sides. A stage with such a convolution takes the change of its
    input through :func:`_toeplitz` and adds it to the reference output; any other stage is run
    on its window with the changed columns written in."""
    dev = acts[0].device
    P, N, B = bases.shape
    vals = F.one_hot(bases, 4).to(acts[0].dtype)[..., None]  # (P, N, B, 4, 1): the new base
    for s, stage in enumerate(stages):
        width, a, b, o0, o1 = plans[0].shape[s]
        in_lo = [p.in_lo[s] + margins[s] for p in plans]
        out_lo = [p.out_lo[s] for p in plans]
        if stage.conv is not None:
            key = (s, b - a)
            if key not in toeplitz:
                toeplitz[key] = _toeplitz(stage.conv, b - a)
            delta = (vals - _columns(acts[s], [c + a for c in in_lo], b - a)).reshape(P * N * B, -1) @ toeplitz[key]
            x = delta.view(P, N, B, -1, o1 - o0).add_(_columns(pres[s], [c + margins[s + 1] for c in out_lo], o1 - o0))
            x = x.view(P * N * B, -1, o1 - o0)
            for m in stage.modules[1:]:
                x = m(x)
        else:
            ref = _columns(acts[s], in_lo, width)
            win = ref.new_empty((P, N, B, ref.shape[3], width)).copy_(ref)  # a fresh copy, never a view of acts
            win[..., a:b] = vals
            x = stage(win.view(P * N * B, -1, width))[:, :, o0:o1]
        vals = x.reshape(P, N, B, -1, o1 - o0)
        if out_lo[0] < 0 or out_lo[-1] + o1 - o0 > lengths[s + 1]:
            # columns past either end do not exist: zero them, as the padding the next window reads there
            cols = torch.tensor(out_lo, device=dev)[:, None] + torch.arange(o1 - o0, device=dev)
            vals = vals * ((cols >= 0) & (cols < lengths[s + 1])).to(vals.dtype)[:, None, None, None]
    return select(tail.outputs(vals, [p.out_lo[-1] for p in plans]).reshape(P * N * B, -1), target).view(P, N, B)


# the three substitutions of each base code (A C G T N = 0..4); an N's fourth, T, is run apart
_ALTERNATIVES = torch.tensor([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [0, 1, 2]])


def _ism_fast(stages: list[_Stage], tail: _Tail, X: torch.Tensor, target: int, batch_size: int, dev: torch.device,
              positions: np.ndarray) -> np.ndarray:
    out = torch.zeros(X.shape, dtype=torch.float32)
    codes = torch.where(X.sum(1) == 0, 4, X.argmax(1))  # (N, L)
    with torch.inference_mode():
        lengths = [X.shape[-1]]
        probe = X[:1].to(dev)
        for stage in stages:
            probe = stage(probe)
            lengths.append(probe.shape[-1])
        groups: dict[tuple, list[tuple[int, _Plan]]] = {}
        for p in positions:
            plan = _plan(stages, lengths, int(p))
            if plan is not None:  # otherwise no output changes: the entries stay 0
                groups.setdefault(plan.shape, []).append((int(p), plan))
        plans = [plan for members in groups.values() for _, plan in members]
        # zero columns each map needs on both sides so that no window is cut
        margins = [max([0] + [-p.in_lo[s] for p in plans]
                       + [p.in_lo[s] + p.shape[s][0] - lengths[s] for p in plans]) for s in range(len(stages))]
        margins.append(max([0] + [-p.out_lo[-1] for p in plans]
                           + [p.out_lo[-1] + p.shape[-1][4] - p.shape[-1][3] - lengths[-1] for p in plans]))
        n_seq = min(len(X), 64)
        per_step = max(1, (32 * batch_size) // (3 * n_seq))  # positions a step: ~32 x batch_size mutants
        toeplitz: dict = {}
        for sl in spans(len(X), n_seq):
            acts, pres = [X[sl].to(dev)], []
            for stage in stages:
                x = acts[-1]
                pres.append(stage.conv(x) if stage.conv is not None else None)
                if stage.conv is not None:
                    x = pres[-1]
                    for m in stage.modules[1:]:
                        x = m(x)
                else:
                    x = stage(x)
                acts.append(x)
            tail.prepare(acts[-1], margins[-1])
            ref = select(tail.net(acts[0]), target)  # (n,)
            acts = [F.pad(a, (m, m)) for a, m in zip(acts, margins, strict=True)]
            pres = [None if p is None else F.pad(p, (m, m)) for p, m in zip(pres, margins[1:], strict=True)]
            span_codes, block = codes[sl], out[sl]
            n = len(span_codes)
            for members in groups.values():
                for k in range(0, len(members), per_step):
                    chunk = members[k: k + per_step]
                    pos = torch.tensor([p for p, _ in chunk])
                    here = span_codes[:, pos]  # (n, P)
                    bases = _ALTERNATIVES[here].permute(1, 0, 2).contiguous()  # (P, n, 3)
                    y = _run_group(stages, tail, acts, pres, margins, lengths, [pl for _, pl in chunk], bases.to(dev),
                                   toeplitz, target)
                    seq = torch.arange(n)[None, :, None].expand_as(bases)
                    block[seq, bases, pos[:, None, None].expand_as(bases)] = (y - ref[None, :, None]).float().cpu()
                    with_n = (here == 4).any(0)
                    if with_n.any():  # an N's fourth substitution, T
                        sub = [c for c, w in zip(chunk, with_n.tolist(), strict=True) if w]
                        y = _run_group(stages, tail, acts, pres, margins, lengths, [pl for _, pl in sub],
                                       torch.full((len(sub), n, 1), 3, device=dev), toeplitz, target)
                        d = (y[..., 0] - ref[None, :]).float().cpu()  # (P', n)
                        pn = pos[with_n]
                        is_n = (span_codes[:, pn] == 4).T  # (P', n)
                        block[:, 3, pn] = torch.where(is_n, d, block[:, 3, pn].T).T
        out[X == 1] = 0  # the observed base is no substitution
    return out.numpy()


# ---------------------------------------------------------------- public


def _positions(positions, length: int) -> np.ndarray:
    if positions is None:
        return np.arange(length)
    p = np.unique(np.asarray(positions).ravel())
    if p.size and (not np.issubdtype(p.dtype, np.integer) or p[0] < 0 or p[-1] >= length):
        raise InputError(f"positions must be integers in 0..{length - 1}, got {p[0]}..{p[-1]} ({p.dtype})")
    return p.astype(np.int64)


def ism(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu", positions=None,
        fast: bool | None = None) -> np.ndarray:
    """In-silico mutagenesis: the effect of every single-base substitution.

    Parameters
    ----------
    model
        An ``nn.Module`` mapping ``(B, 4, L)`` to ``(B, T)``, or a ``CNNModel`` (its ``.net``).
    X
        ``(N, 4, L)`` one-hot or ``(N, L)`` uint8 codes.
    target
        The output column explained (its raw value: the logit for a classifier).
    batch_size
        Mutated sequences per forward pass.
    device
        ``"cpu"``, ``"cuda"``, ``"auto"``...
    positions
        Positions to mutate (default all); the others are 0 in the answer.
    fast
        Use :func:`ism_fast` (same numbers, recomputing only what a substitution reaches).
        None: when the network is a DeepSEA or DilatedCNN; True raises for other networks.

    Returns
    -------
    np.ndarray
        ``(N, 4, L)`` float32, ``[n, b, l] = f(X[n] with base b at l) - f(X[n])``, 0 at the
        observed base (not recomputed). :func:`~cisgram.interpret.attribution.position_scores`
        with ``method="ism"`` turns it into one importance per position.
    """
    net = network(model)
    X = onehot(X, net_dtype(net))
    positions = _positions(positions, X.shape[-1])
    split = _split(net)
    if fast and split is None:
        raise InputError(f"fast ISM does not know a {type(net).__name__}",
                         hint="it handles DeepSEA and DilatedCNN networks; use fast=False")
    with evaluating(net, device) as dev:
        if split is not None and fast is not False:
            return _ism_fast(*split, X, target, batch_size, dev, positions)
        return _ism_brute(net, X, target, batch_size, dev, positions)


def ism_fast(model, X, *, target: int = 0, batch_size: int = 128, device: str = "cpu",
             positions=None) -> np.ndarray:
    """:func:`ism` through the fast path (DeepSEA and DilatedCNN networks only; see the module
    docstring): the same ``(N, 4, L)`` answer, far fewer operations per substitution."""
    return ism(model, X, target=target, batch_size=batch_size, device=device, positions=positions, fast=True)
