"""The windows of consecutive regions GET's transformer reads, cut from a
:class:`~cisgram.data.get.RegionMotifData`: :class:`RegionWindows` slides over one split (training,
validation), :func:`tss_windows` centres a window on each TSS region (inference, evaluation), and
:class:`MaskedWindows` adds the random region masks of masked-region pre-training.

The windows' leak-free rule
---------------------------
A sliding window lies wholly inside one **segment**: a maximal run of consecutive regions on one
chromosome with the same split label. So a training window holds no validation, test or ``gap``
region at all, not even as input context, and no window crosses a chromosome. Segments shorter
than ``R`` give no window (logged); with whole-chromosome hold-outs a segment is a chromosome.
:func:`tss_windows` centres a window on each TSS region and clips it to the chromosome (default;
its context may then hold regions of other splits, as *inputs* only — ``in_split`` marks the
regions of the focus region's split, and a metric should read the focus entry), or with
``within="segment"`` to the focus region's segment.

Pitfalls
--------
- With contiguous-block splits on one chromosome (chr22: 1 Mb blocks, 60-75 union regions per Mb) the
  held-out segments hold ~30-110 regions: a sliding window of GET's ``R = 200`` fits no
  validation or test segment. Use a smaller ``R`` (there is no positional encoding, so ``R`` may
  differ between training and inference) or evaluate with :func:`tss_windows`.
- :meth:`RegionWindows.set_epoch` must be called before a data loader starts its workers (with
  ``persistent_workers=True`` they keep the epoch they started with).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cisgram.data.get import STRANDS, RegionMotifData
from cisgram.data.windows import item_index
from cisgram.errors import InputError
from cisgram.splits import SPLITS

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------
class RegionWindow(NamedTuple):
    """One sample. A data loader stacks the tensors to ``(B, ...)`` (and ``cell_name`` to a list).

    x : float32 ``(R, F)``, model input (motif features, then accessibility)
    y : float32 ``(R, 2)``, targets (``+``, ``-``)
    has_tss : bool ``(R, 2)``, entries with a TSS (and targets for this cell type)
    in_split : bool ``(R,)``, regions of the window's split (all True for sliding windows; for
        TSS windows the regions of the focus region's split)
    positions : int64 ``(R,)``, region midpoints in bp (for a distance encoding)
    first : int64, row of the window's first region (its rows are ``first + arange(R)``)
    focus : int64, index of the focus region in the window (-1 for sliding windows)
    cell : int64, index of the cell type in ``data.cell_types``
    cell_name : str
    """

    x: torch.Tensor
    y: torch.Tensor
    has_tss: torch.Tensor
    in_split: torch.Tensor
    positions: torch.Tensor
    first: int
    focus: int
    cell: int
    cell_name: str


class RegionWindows(torch.utils.data.Dataset):
    """Windows of ``R`` consecutive regions of one cell type (GET's samples), sliding over one split.

    Parameters
    ----------
    data
        A :class:`RegionMotifData`.
    cell_types
        The cell types to draw windows of (names or indices; default all). Choosing them per
        Dataset is how a cell type is left out: train on some, evaluate on another.
    split
        ``"train"``, ``"val"``, ``"test"``, or ``None`` for every region (pre-training on all
        regions; then windows are cut per chromosome and may hold any split).
    n_regions
        ``R``, regions per window (GET: 200).
    stride
        Regions between window anchors (default ``R // 2``).
    jitter
        Each epoch, each window start moves by a random integer in ``[-jitter, jitter]``, clipped
        inside its segment; default ``stride // 2`` for ``split="train"`` and 0 otherwise.
    seed
        Window ``i`` in epoch ``e`` draws from ``np.random.default_rng([seed, e, i])``: the
        same whatever the workers or fetch order, and different across epochs.
    require_targets
        Refuse cell types without initiation tracks (their ``has_tss`` would be all False).

    Items are :class:`RegionWindow`; item ``i`` is window ``i % W`` of cell type ``i // W``
    (``W`` windows per cell type). Anchors of a segment ``[a, b)`` with ``b - a >= R`` are
    ``a, a + stride, ...`` while the window fits, plus ``b - R`` when the last one stops short,
    so every region of a long-enough segment is covered.

    Raises
    ------
    InputError
        Unknown cell types, a bad split or arguments, ``R`` larger than every chromosome (or
        every segment of the split), cell types without targets.
    """

    def __init__(
        self,
        data: RegionMotifData,
        cell_types: Sequence[str | int] | None = None,
        *,
        split: str | None = "train",
        n_regions: int = 200,
        stride: int | None = None,
        jitter: int | None = None,
        seed: int = 0,
        require_targets: bool = True,
    ):
        self._setup(data, cell_types, n_regions, seed, require_targets)
        if split is not None and split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)} or None")
        R = self.n_regions
        stride = R // 2 if stride is None else stride
        if int(stride) != stride or stride < 1:
            raise InputError(f"stride must be a positive integer, got {stride!r}")
        jitter = (int(stride) // 2 if split == "train" else 0) if jitter is None else jitter
        if int(jitter) != jitter or jitter < 0:
            raise InputError(f"jitter must be a non-negative integer, got {jitter!r}")
        self.split, self.stride, self.jitter = split, int(stride), int(jitter)
        if split is None:
            segs = pd.DataFrame([(c, a, b, b - a) for c, (a, b) in data.chromosome_bounds().items()],
                                columns=["chrom", "first", "stop", "n"])
        else:
            segs = data.segments()
            segs = segs[segs["split"] == split]
            if segs.empty:
                raise InputError(f"the data hold no {split!r} region")
        fits = segs["n"].to_numpy() >= R
        if not fits.any():
            raise InputError(
                f"n_regions={R} is larger than every {'chromosome' if split is None else split + ' segment'}: "
                f"the largest holds {int(segs['n'].max())} region(s)",
                hint=f"use n_regions <= {int(segs['n'].max())}"
                     + ("" if split is None else ", or hold out whole chromosomes / larger blocks"))
        if not fits.all():
            log.info("%d %s segment(s) shorter than %d regions give no window (%d regions unused)",
                     int((~fits).sum()), split or "chromosome", R, int(segs.loc[~fits, "n"].sum()))
        anchors, lo, hi = [], [], []
        for a, b in segs.loc[fits, ["first", "stop"]].itertuples(index=False):
            s = np.arange(a, b - R + 1, self.stride)
            if s[-1] != b - R:
                s = np.r_[s, b - R]
            anchors.append(s)
            lo.append(np.full(s.size, a))
            hi.append(np.full(s.size, b - R))
        self._anchor = np.concatenate(anchors).astype(np.int64)
        self._lo = np.concatenate(lo).astype(np.int64)
        self._hi = np.concatenate(hi).astype(np.int64)
        self._focus = np.full(self._anchor.size, -1, dtype=np.int64)

    def _setup(self, data, cell_types, n_regions, seed, require_targets) -> None:
        if not isinstance(data, RegionMotifData):
            raise InputError(f"RegionWindows needs RegionMotifData, got {type(data).__name__}")
        if int(n_regions) != n_regions or n_regions < 1:
            raise InputError(f"n_regions must be a positive integer, got {n_regions!r}")
        self.data, self.n_regions, self.seed, self.epoch = data, int(n_regions), int(seed), 0
        chosen = list(data.cell_types) if cell_types is None else list(cell_types)
        if isinstance(cell_types, str):
            chosen = [cell_types]
        if not chosen:
            raise InputError("no cell type chosen")
        self.cells = np.array([data.cell_index(c) for c in chosen], dtype=np.int64)
        if len(set(self.cells.tolist())) != self.cells.size:
            raise InputError("a cell type is chosen twice")
        lacking = [data.cell_types[c] for c in self.cells if not data.has_targets[c]]
        if lacking and require_targets:
            raise InputError(f"cell type(s) {', '.join(lacking)} have no initiation tracks, so no targets",
                             hint="give their tracks to region_motif_data, or pass require_targets=False")
        self._mid = ((data.regions["start"].to_numpy(np.int64) + data.regions["end"].to_numpy(np.int64)) // 2)
        self._split = data.split

    @property
    def cell_types(self) -> tuple[str, ...]:
        return tuple(self.data.cell_types[c] for c in self.cells)

    @property
    def n_windows(self) -> int:
        """Windows per cell type."""
        return int(self._anchor.size)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose jitter the items use (default 0)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_windows * int(self.cells.size)

    def _index(self, i) -> int:
        return item_index(i, len(self))

    def window(self, i: int) -> tuple[int, int, int]:
        """``(cell index, first row, focus)`` of item ``i`` in the current epoch."""
        i = self._index(i)
        w = i % self.n_windows
        first = int(self._anchor[w])
        if self.jitter:
            shift = int(np.random.default_rng([self.seed, self.epoch, i]).integers(-self.jitter, self.jitter + 1))
            first = min(max(first + shift, int(self._lo[w])), int(self._hi[w]))
        return int(self.cells[i // self.n_windows]), first, int(self._focus[w])  # TSS windows have no jitter

    def __getitem__(self, i) -> RegionWindow:
        c, first, focus = self.window(i)
        rows = slice(first, first + self.n_regions)
        d = self.data
        ref = self._split[first + focus] if focus >= 0 else (self.split or None)
        in_split = np.ones(self.n_regions, dtype=bool) if ref is None else self._split[rows] == ref
        return RegionWindow(
            x=torch.from_numpy(d.features(c, rows)),
            y=torch.from_numpy(np.ascontiguousarray(d.targets[c, rows])),
            has_tss=torch.from_numpy(d.has_tss[rows] & bool(d.has_targets[c])),
            in_split=torch.from_numpy(in_split),
            positions=torch.from_numpy(self._mid[rows].copy()),
            first=first, focus=focus, cell=c, cell_name=d.cell_types[c],
        )

    def __repr__(self) -> str:
        kind = "TSS windows" if (self._focus >= 0).any() else f"windows (split={self.split}, stride={self.stride}, jitter={self.jitter})"
        return (f"RegionWindows({len(self)} {kind} of {self.n_regions} regions, cell types "
                f"{', '.join(self.cell_types)}, seed={self.seed}, epoch={self.epoch})")


def tss_windows(
    data: RegionMotifData,
    cell_types: Sequence[str | int] | None = None,
    *,
    split: str | None = None,
    strand: str | None = None,
    n_regions: int = 200,
    within: str = "chromosome",
    require_targets: bool = True,
) -> RegionWindows:
    """One window centred on each TSS region, for inference and evaluation (GET's inference
    windows, but clipped at chromosome ends instead of dropped).

    Focus regions are those with a TSS (of ``strand`` when given, ``"+"`` or ``"-"``) in ``split``
    (any when None); the windows are :func:`centred_windows` on them.

    Raises
    ------
    InputError
        As :class:`RegionWindows`, a bad ``within`` / ``strand``, no TSS region at all.
    """
    if strand is not None and strand not in STRANDS:
        raise InputError(f"strand must be '+', '-' or None, got {strand!r}")
    tss = data.has_tss[:, STRANDS.index(strand)] if strand else data.has_tss.any(axis=1)
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)} or None")
    if split is not None:
        tss = tss & (data.split == split)
    if not tss.any():
        raise InputError(f"no TSS region{' of strand ' + strand if strand else ''}"
                         f"{' in the ' + split + ' split' if split else ''}")
    return centred_windows(data, cell_types, np.flatnonzero(tss), split=split, n_regions=n_regions, within=within,
                           require_targets=require_targets)


def region_windows(data: RegionMotifData, cell_types: Sequence[str | int] | None = None, *, split: str | None = None,
                   n_regions: int = 200, within: str = "chromosome", require_targets: bool = False) -> RegionWindows:
    """One window centred on every region of ``split`` (any when None), e.g. to read the
    accessibility head at every held-out region (:func:`centred_windows`)."""
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)} or None")
    rows = np.flatnonzero(data.split == split) if split is not None else np.arange(data.n_regions)
    if rows.size == 0:
        raise InputError(f"no region in the {split} split")
    return centred_windows(data, cell_types, rows, split=split, n_regions=n_regions, within=within,
                           require_targets=require_targets)


def centred_windows(data: RegionMotifData, cell_types: Sequence[str | int] | None, focus_rows: np.ndarray, *,
                    split: str | None = None, n_regions: int = 200, within: str = "chromosome",
                    require_targets: bool = True) -> RegionWindows:
    """One window of ``R`` regions per focus row, for inference and evaluation.

    The window of focus row ``i`` starts at ``i - R // 2`` moved inside ``[a, b - R]``, where
    ``[a, b)`` is the focus's chromosome (``within="chromosome"``) or its segment
    (``within="segment"``: no region of another split in the window). The item's ``focus`` is
    ``i - first`` (``R // 2`` unless clipped); ``in_split`` marks the regions of ``split``. Focus
    rows whose chromosome or segment holds fewer than ``R`` regions are left out (logged). No
    jitter.
    """
    if within not in ("chromosome", "segment"):
        raise InputError(f"within must be 'chromosome' or 'segment', got {within!r}")
    self = RegionWindows.__new__(RegionWindows)
    self._setup(data, cell_types, n_regions, 0, require_targets)
    self.split, self.stride, self.jitter = split, 0, 0
    R = self.n_regions
    focus = np.asarray(focus_rows, dtype=np.int64)
    if within == "chromosome":
        bounds = pd.DataFrame([(a, b) for a, b in data.chromosome_bounds().values()], columns=["first", "stop"])
    else:
        bounds = data.segments()[["first", "stop"]]
    k = np.searchsorted(bounds["first"].to_numpy(), focus, side="right") - 1
    a, b = bounds["first"].to_numpy()[k], bounds["stop"].to_numpy()[k]
    fits = (b - a) >= R
    if not fits.any():
        raise InputError(f"n_regions={R} is larger than every {within} holding a focus region (the largest holds "
                         f"{int((b - a).max())})", hint=f"use n_regions <= {int((b - a).max())}")
    if not fits.all():
        log.info("%d focus region(s) on a %s shorter than %d regions left out", int((~fits).sum()), within, R)
    focus, a, b = focus[fits], a[fits], b[fits]
    first = np.clip(focus - R // 2, a, b - R)
    self._anchor, self._lo, self._hi = first.astype(np.int64), first.astype(np.int64), first.astype(np.int64)
    self._focus = (focus - first).astype(np.int64)
    return self


def random_region_mask(batch: int, regions: int, ratio: float = 0.5, generator: torch.Generator | None = None,
                       *, exact: bool = True, device: str | torch.device = "cpu") -> torch.Tensor:
    """A ``(batch, regions)`` bool mask for masked-region pre-training.

    With ``exact`` (default) every window has exactly ``floor(ratio * regions)`` masked regions
    (GET's 2023 code); otherwise each region is masked independently with probability ``ratio``
    (the current GET code), so a window may have none. ``generator`` makes it reproducible.
    """
    if not 0.0 <= ratio <= 1.0:
        raise InputError(f"mask ratio must be in [0, 1], got {ratio!r}")
    u = torch.rand(batch, regions, generator=generator)
    if not exact:
        return (u < ratio).to(device)
    k = int(math.floor(ratio * regions))
    ranks = u.argsort(dim=1).argsort(dim=1)
    return (ranks < k).to(device)


MASK_RATIO = 0.5


# --------------------------------------------------------------------------------------------
# Losses and the pre-training dataset
# --------------------------------------------------------------------------------------------
class MaskedWindow(NamedTuple):
    """A pre-training sample: ``x (R, F)``, ``mask (R,)`` bool (regions to hide and score),
    ``in_split (R,)`` bool, ``positions (R,)`` int64."""

    x: torch.Tensor
    mask: torch.Tensor
    in_split: torch.Tensor
    positions: torch.Tensor


class MaskedWindows(Dataset):
    """Windows of a :class:`~cisgram.data.get_windows.RegionWindows` with a random region mask.

    Item ``i`` in epoch ``e`` masks exactly ``floor(ratio * R)`` regions drawn from a generator
    seeded by ``(seed, e, i)`` (:func:`~cisgram.data.get_windows.random_region_mask`); with
    ``fixed=True`` (validation) the epoch is ignored, so every epoch scores the same masks.
    :meth:`set_epoch` is passed on to the windows (their jitter).
    """

    def __init__(self, windows: RegionWindows, *, ratio: float = MASK_RATIO, seed: int = 0, fixed: bool = False):
        self.windows, self.ratio, self.seed, self.fixed, self.epoch = windows, float(ratio), int(seed), fixed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.windows.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i) -> MaskedWindow:
        w = self.windows[i]
        state = np.random.SeedSequence([self.seed, 0 if self.fixed else self.epoch, int(i)]).generate_state(1)[0]
        g = torch.Generator().manual_seed(int(state))
        mask = random_region_mask(1, w.x.shape[0], self.ratio, g)[0]
        return MaskedWindow(w.x, mask, w.in_split, w.positions)
