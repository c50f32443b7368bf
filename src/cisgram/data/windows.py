"""Sequence windows: GC-matched background windows, and one-hot windows cut on the fly for training.

Two tools for sequence models that learn from the genome itself rather than from a fixed matrix:

:func:`background_windows`
    Negatives for a region set, as in DeepSEA and ChromBPNet: windows of the regions' width that
    overlap no region (nor anything in ``exclude``, e.g. every peak of every cell type) and whose
    GC content matches the regions', **per split**, so that a classifier cannot separate regions
    from background by GC alone and held-out chromosomes or blocks stay held out.
:class:`SequenceWindows`
    A :class:`torch.utils.data.Dataset` of one-hot windows ``(4, length)`` centred on given
    positions, optionally oriented per item (``strand``: minus-strand items are reverse
    complemented, e.g. windows centred on motif sites read on the motif's strand), with optional
    random shifts (``jitter``) and reverse complements (``rc``). Windows are sliced from the
    genome's cached chromosome codes when asked for, so any window length costs the same memory. The randomness of item ``i`` depends only on ``(seed, epoch, i)``: the
    same epoch gives the same batches with 0 or 8 data-loader workers.

Conventions: coordinates are 0-based, half-open (BED); one-hot is ``float32`` in the order
A, C, G, T with ``N`` all zeros; the reverse complement flips both the base and the position axes.

How background windows are drawn
--------------------------------
Each chromosome of the regions is cut into a lattice of non-overlapping tiles of width ``W`` at
a random offset (from ``seed``). Tiles that overlap a region or an ``exclude`` interval, or hold
more than ``max_n`` N bases, are dropped; a random subset of the rest (about 30 times the number
of windows asked for, or every tile when the chromosomes are small) are the candidates. Each
candidate gets its split from ``split.assign`` and its GC bin (``bins`` equal-width bins over
[0, 1], GC among non-N bases), and for every split and bin ``round(ratio * n_regions)``
candidates of that split and bin are drawn without replacement. When a bin runs short the
remaining tiles are added once; whatever is still missing is logged in one warning. Because the
candidates come from one lattice they never overlap each other, so no pairwise check is needed.

Pitfalls
--------
- GC is matched within bins of width ``1 / bins``: inside a bin the background leans towards the
  bin's more common (usually lower-GC) edge. 20 bins keep the mean GC within ~0.005.
- Background windows come only from the regions' chromosomes: give regions on every chromosome
  you want negatives from.
- ``set_epoch`` must be called before a data loader starts its workers; with
  ``persistent_workers=True`` the workers keep the epoch they started with.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from cisgram.errors import InputError
from cisgram.genome import Genome, check_chromosomes
from cisgram.splits import SPLITS, Split

log = logging.getLogger(__name__)

__all__ = ["SequenceWindows", "Window", "background_windows", "gc_content"]

_OVERSAMPLE = 30  # candidates drawn per window asked for, in the first round
_CHUNK = 1 << 16  # windows gathered at once when counting bases (bounds memory to ~chunk * W bytes)
# one-hot rows by code: A, C, G, T, then N as zeros
_ONEHOT = np.concatenate([np.eye(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)])
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A<->T, C<->G, N stays N


# --------------------------------------------------------------------------------------------
# GC content
# --------------------------------------------------------------------------------------------
def item_index(i, n: int) -> int:
    """Item ``i`` of a dataset of ``n`` windows as a non-negative index (negative ``i`` counts
    from the end, as for a list); ``IndexError`` outside ``-n <= i < n``."""
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"index {i} out of range for {n} windows")
    return i + n if i < 0 else i


def gc_content(codes: np.ndarray) -> np.ndarray:
    """Fraction of G and C among the non-N bases of each row.

    Parameters
    ----------
    codes
        ``uint8`` codes shaped ``(N, L)`` (A=0, C=1, G=2, T=3, N=4), e.g. from
        :meth:`cisgram.genome.Genome.fetch_codes_batch`. A single ``(L,)`` row is accepted too.

    Returns
    -------
    ``float64`` ``(N,)`` (a scalar array for one row); NaN where a row is all N.
    """
    codes = np.asarray(codes)
    gc = np.count_nonzero((codes == 1) | (codes == 2), axis=-1)
    known = np.count_nonzero(codes < 4, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known > 0, gc / np.maximum(known, 1), np.nan)


def window_fractions(codes: np.ndarray, starts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """GC fraction (among non-N) and N fraction of windows ``[s, s + width)`` of one chromosome's
    codes; gathered in chunks through a strided view, so no Python loop runs over bases."""
    n = starts.size
    gc = np.empty(n, dtype=np.float64)
    nfrac = np.empty(n, dtype=np.float64)
    if n == 0:
        return gc, nfrac
    view = np.lib.stride_tricks.sliding_window_view(codes, width)
    for lo in range(0, n, _CHUNK):
        x = view[starts[lo : lo + _CHUNK]]
        n_n = np.count_nonzero(x == 4, axis=1)
        gc[lo : lo + _CHUNK] = gc_content(x)
        nfrac[lo : lo + _CHUNK] = n_n / width
    return gc, nfrac


def gc_bin(gc: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bin index over [0, 1] (1.0 goes to the last bin); -1 for NaN."""
    b = np.floor(np.nan_to_num(gc, nan=-1.0) * bins).astype(np.int64)
    return np.where(np.isnan(gc), -1, np.clip(b, 0, bins - 1))


# --------------------------------------------------------------------------------------------
# Background windows
# --------------------------------------------------------------------------------------------
def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df]
    if missing:
        raise InputError(
            f"{what} lack column(s) {', '.join(missing)} (have: {', '.join(map(str, df.columns))})",
            path=df.attrs.get("path"),
        )


def _forbidden(regions: pd.DataFrame, exclude: pd.DataFrame | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per chromosome: sorted starts and sorted ends of every interval a window may not touch."""
    parts = [regions[["chrom", "start", "end"]]]
    if exclude is not None:
        parts.append(exclude[["chrom", "start", "end"]])
    allb = pd.concat(parts, ignore_index=True)
    out = {}
    for chrom, grp in allb.groupby("chrom", sort=False):
        out[chrom] = (np.sort(grp["start"].to_numpy(dtype=np.int64)), np.sort(grp["end"].to_numpy(dtype=np.int64)))
    return out


def _overlaps(starts: np.ndarray, width: int, forbidden: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Whether each window ``[s, s + width)`` overlaps any forbidden interval.

    The number of intervals ``[a, b)`` overlapping ``[s, e)`` is ``#{a < e} - #{b <= s}``
    (every interval ending at or before ``s`` also starts before ``e``)."""
    if forbidden is None:
        return np.zeros(starts.size, dtype=bool)
    a, b = forbidden
    return (np.searchsorted(a, starts + width, side="left") - np.searchsorted(b, starts, side="right")) > 0


class _Candidates:
    """Lattice tiles of the regions' chromosomes, measured lazily in up to two rounds."""

    def __init__(self, genome, chroms, width, forbidden, max_n, rng, want):
        self.genome, self.width, self.max_n = genome, width, max_n
        lattice = {}
        for c in chroms:
            off = int(rng.integers(width))
            k = (genome.sizes[c] - off) // width
            t = off + width * np.arange(max(k, 0), dtype=np.int64)
            lattice[c] = t[~_overlaps(t, width, forbidden.get(c))]
        total = sum(t.size for t in lattice.values())
        p = 1.0 if total == 0 else min(1.0, _OVERSAMPLE * want / total)
        self.rounds: list[dict[str, np.ndarray]] = [{}, {}]
        for c, t in lattice.items():
            first = rng.random(t.size) < p
            self.rounds[0][c], self.rounds[1][c] = t[first], t[~first]
        self.chroms = list(chroms)
        self.tables: list[pd.DataFrame] = []

    @property
    def exhausted(self) -> bool:
        return len(self.tables) == len(self.rounds) or not any(t.size for t in self.rounds[len(self.tables)].values())

    def measure_next(self) -> pd.DataFrame:
        """Measure the next round's tiles; return every candidate measured so far (N filtered)."""
        tiles = self.rounds[len(self.tables)]
        rows = []
        for c in self.chroms:
            t = tiles.get(c)
            if t is None or t.size == 0:
                continue
            gc, nfrac = window_fractions(self.genome.chromosome_codes(c), t, self.width)
            ok = (nfrac <= self.max_n) & ~np.isnan(gc)
            rows.append(pd.DataFrame({"chrom": c, "start": t[ok], "gc": gc[ok]}))
        self.tables.append(pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"chrom": [], "start": [], "gc": []}))
        out = pd.concat(self.tables, ignore_index=True)
        out["start"] = out["start"].astype(np.int64)
        out["end"] = out["start"] + self.width
        return out


def _assign_alone(split: Split, cands: pd.DataFrame, width: int) -> np.ndarray:
    """The split each lattice tile gets on its own, without neighbours.

    A block split keeps touching regions together, so assigning a run of adjacent tiles at once
    would drag a whole run across a block boundary. Tiles are assigned in interleaved passes whose
    members lie more than ``split.gap`` apart, so each is a cluster of one."""
    out = np.empty(len(cands), dtype=object)
    if len(cands) == 0:
        return out
    if split.kind == "chroms":
        return split.assign(cands)
    step = int(split.gap) // width + 2
    residue = (cands["start"].to_numpy() // width) % step
    for r in range(step):
        idx = np.flatnonzero(residue == r)
        if idx.size:
            out[idx] = split.assign(cands.iloc[idx])
    return out


def _select(cands: pd.DataFrame, cand_split: np.ndarray, cand_bin: np.ndarray, need: dict, rng) -> tuple[np.ndarray, dict]:
    """Draw ``need[(split, bin)]`` candidates of each split and bin without replacement.
    Returns the chosen candidate indices and the shortfall per (split, bin)."""
    chosen, short = [], {}
    key = pd.Series(np.arange(len(cands))).groupby([cand_split, cand_bin]).indices if len(cands) else {}
    for (sp, b), k in need.items():
        pool = key.get((sp, b), np.zeros(0, dtype=np.int64))
        if pool.size < k:
            short[(sp, b)] = k - pool.size
            chosen.append(pool)
        else:
            chosen.append(rng.choice(pool, size=k, replace=False))
    return (np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)), short


def background_windows(
    genome: Genome,
    regions: pd.DataFrame,
    split: Split,
    *,
    ratio: float = 1.0,
    exclude: pd.DataFrame | None = None,
    max_n: float = 0.01,
    bins: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """GC-matched background windows for a region set, matched within each split.

    Parameters
    ----------
    genome
        The regions' genome.
    regions
        ``chrom, start, end, split`` with one width ``W`` for all rows; ``split`` is ``"train"``,
        ``"val"``, ``"test"`` or ``"gap"`` (gap rows are avoided but not matched).
    split
        The hold-out design the regions were split with; it labels the background windows.
    ratio
        Background windows per region, in every split and GC bin (``round(ratio * count)``).
    exclude
        More intervals (``chrom, start, end``) no window may overlap, e.g. all peaks of all cell
        types. Chromosomes the regions do not use are ignored.
    max_n
        Largest fraction of N bases in a window.
    bins
        Number of equal-width GC bins over [0, 1].
    seed
        Seed of the lattice offsets and of every draw.

    Returns
    -------
    DataFrame ``chrom, start, end, name, split, gc`` (``name`` like ``bg:chr22:100-600``, ``gc``
    the GC fraction among non-N bases), sorted by chromosome (in the regions' order) and start.
    Its windows have width ``W``, lie inside their chromosome, overlap no region, no ``exclude``
    interval and no other window, and ``split.assign`` of the table returns its ``split`` column.

    Raises
    ------
    InputError
        Missing columns, mixed widths, unknown chromosomes or split labels, bad arguments, or
        no background window at all.
    """
    _require_columns(regions, ["chrom", "start", "end", "split"], "regions")
    path = regions.attrs.get("path")
    if not ratio > 0 or not 0 <= max_n <= 1 or int(bins) != bins or bins < 1:
        raise InputError(f"need ratio > 0, 0 <= max_n <= 1 and bins >= 1 (got ratio={ratio}, max_n={max_n}, bins={bins})")
    bins = int(bins)
    if len(regions) == 0:
        raise InputError("no regions to match background windows to", path=path)
    start = regions["start"].to_numpy(dtype=np.int64)
    width_all = regions["end"].to_numpy(dtype=np.int64) - start
    width = int(width_all[0])
    if np.any(width_all != width) or width <= 0:
        raise InputError(
            f"background windows need regions of one positive width (found {int(width_all.min())} to {int(width_all.max())} bp)",
            path=path,
            hint="resize the regions to a fixed width first (cisgram.intervals.resize)",
        )
    labels = regions["split"].astype(str).to_numpy()
    unknown = sorted(set(labels) - {*SPLITS, "gap"})
    if unknown:
        raise InputError(f"unknown split label(s) {', '.join(unknown[:5])} (expected train, val, test or gap)", path=path)
    genome.check_intervals(regions["chrom"].to_numpy(), start, start + width, path=path)
    if exclude is not None:
        _require_columns(exclude, ["chrom", "start", "end"], "exclude intervals")
    chroms = list(dict.fromkeys(regions["chrom"]))

    # the regions' GC bins per split
    gc = np.empty(len(regions), dtype=np.float64)
    rchrom = regions["chrom"].to_numpy()
    for c in chroms:
        idx = np.flatnonzero(rchrom == c)
        gc[idx], _ = window_fractions(genome.chromosome_codes(c), start[idx], width)
    if np.isnan(gc).any():
        log.info("%d all-N region(s) left out of the GC matching", int(np.isnan(gc).sum()))
    used = np.isin(labels, SPLITS) & ~np.isnan(gc)
    if not used.any():
        raise InputError("no region to match: every region is in the 'gap' split or all N", path=path)
    rbin = gc_bin(gc, bins)
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([labels[used], rbin[used]])).groupby(level=[0, 1]).sum()
    order = {s: i for i, s in enumerate(SPLITS)}
    need = {
        (sp, int(b)): round(ratio * int(n))
        for (sp, b), n in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
        if round(ratio * int(n)) > 0
    }
    want = sum(need.values())

    rng = np.random.default_rng(seed)
    pool = _Candidates(genome, chroms, width, _forbidden(regions, exclude), max_n, rng, want)
    while True:
        cands = pool.measure_next()
        cand_split = _assign_alone(split, cands, width)
        cand_bin = gc_bin(cands["gc"].to_numpy(), bins)
        draw_rng = np.random.default_rng([seed, len(pool.tables)])
        chosen, short = _select(cands, cand_split, cand_bin, need, draw_rng)
        if not short or pool.exhausted:
            break
    out = cands.iloc[chosen].copy()
    out["split"] = cand_split[chosen]
    # two chosen windows touching across a block boundary form one cluster, which a block split
    # gives to one side: drop the (few) windows whose label changes with their neighbours
    if len(out):
        keep = split.assign(out) == out["split"].to_numpy()
        if not keep.all():
            log.debug("dropped %d background window(s) whose split changes without their neighbours", int((~keep).sum()))
            out = out[keep]
    if short:
        missing = sum(short.values())
        worst = sorted(short.items(), key=lambda kv: -kv[1])[:4]
        shown = ", ".join(f"{sp} GC {b / bins:.2f}-{(b + 1) / bins:.2f}: {n}" for (sp, b), n in worst)
        log.warning(
            "background windows: %d of %d short in %d GC bin(s) with too few candidates (%s)",
            missing, want, len(short), shown,
        )
    if out.empty:
        raise InputError(
            f"no background window found: every {width} bp window on {', '.join(chroms[:5])} overlaps a region "
            f"or an excluded interval, or has more than {max_n:.0%} N, or falls in no GC bin of the regions",
            path=path,
            hint="exclude fewer intervals, raise max_n, or give regions on more chromosomes",
        )
    rank = {c: i for i, c in enumerate(chroms)}
    out = out.iloc[np.lexsort((out["start"].to_numpy(), out["chrom"].map(rank).to_numpy()))]
    out = out.reset_index(drop=True)
    out["name"] = "bg:" + out["chrom"] + ":" + out["start"].astype(str) + "-" + out["end"].astype(str)
    return out[["chrom", "start", "end", "name", "split", "gc"]]


# --------------------------------------------------------------------------------------------
# One-hot windows for training
# --------------------------------------------------------------------------------------------
def _parse_strand(strand, n: int) -> np.ndarray:
    """``(n,)`` bool, True where an item is on the minus strand; from ``None`` (all plus),
    ``+1``/``-1`` or ``"+"``/``"-"``."""
    if strand is None:
        return np.zeros(n, dtype=bool)
    s = np.asarray(strand).reshape(-1)
    if s.size != n:
        raise InputError(f"{s.size} strands for {n} windows")
    if s.dtype.kind in "iuf":
        ok = np.isin(s, (1, -1))
        minus = s == -1
    else:
        s = s.astype(str)
        ok = np.isin(s, ("+", "-"))
        minus = s == "-"
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(f"strand must be +1/-1 or '+'/'-', found {s[i]!r} at item {i}")
    return minus


class Window(NamedTuple):
    """Where item ``i`` of a :class:`SequenceWindows` comes from in an epoch; ``reverse``: the item
    is the reverse complement of ``[start, end)`` (its strand and the ``rc`` flip combined)."""

    chrom: str
    start: int
    end: int
    reverse: bool


class SequenceWindows(torch.utils.data.Dataset):
    """One-hot windows cut on the fly from a genome, with seeded shifts and reverse complements.

    Parameters
    ----------
    genome
        A :class:`~cisgram.genome.Genome` or the path of one (opened once, here).
    chrom, centre
        Chromosome and centre (0-based) of each window, ``(N,)``.
    length
        Window length ``L`` in bp; the unshifted window is ``[centre - L // 2, centre - L // 2 + L)``.
    targets
        ``(N, T)`` (or ``(N,)``, read as ``T = 1``) values returned with each window; ``None`` for
        none.
    jitter
        Each item is shifted by a random integer in ``[-jitter, jitter]``; windows that would
        leave the chromosome are clipped inside it.
    rc
        Reverse-complement each item with probability 1/2.
    strand
        Optional orientation of each item, ``(N,)``: ``+1``/``-1`` or ``"+"``/``"-"``. Items on
        ``-1`` are read as the reverse complement of the genome window (e.g. a motif site on the
        minus strand then reads 5'->3' left to right), before any augmentation; with ``rc=True``
        the augmentation flips them back half the time. ``None`` (default): all ``+1``.
    seed
        Seed of the shifts and flips. Item ``i`` in epoch ``e`` uses
        ``np.random.default_rng([seed, e, i])``, so it is the same whatever the number of
        data-loader workers and the order of fetching.

    Items are ``(x, y)``: ``x`` float32 ``(4, L)`` (A, C, G, T; N all zeros), ``y`` float32
    ``(T,)`` (``(0,)`` without targets). A data loader stacks them to ``(B, 4, L)`` and ``(B, T)``.

    Raises
    ------
    InputError
        A chromosome not in the genome, one shorter than ``length``, a centre outside its
        chromosome, mismatched lengths or bad arguments.

    Notes
    -----
    Each process decodes a chromosome once into the genome's LRU cache (1 byte per base) on its
    first window there; pickling the dataset (data-loader workers) reopens the genome file. Call
    :meth:`set_epoch` before iterating each epoch (workers copy the dataset when they start).
    """

    def __init__(
        self,
        genome: str | os.PathLike | Genome,
        chrom: Sequence[str],
        centre: np.ndarray,
        length: int,
        targets: np.ndarray | None = None,
        *,
        jitter: int = 0,
        rc: bool = False,
        seed: int = 0,
        strand: Sequence | np.ndarray | None = None,
    ):
        self.genome = genome if isinstance(genome, Genome) else Genome(genome)
        gpath = self.genome.path
        if int(length) != length or length <= 0 or int(jitter) != jitter or jitter < 0:
            raise InputError(f"length must be a positive integer and jitter >= 0 (got length={length}, jitter={jitter})")
        self.length, self.jitter, self.rc, self.seed = int(length), int(jitter), bool(rc), int(seed)
        self.epoch = 0
        chrom = np.asarray(chrom, dtype=object).reshape(-1)
        self.centre = np.asarray(centre).astype(np.int64).reshape(-1)
        if chrom.size != self.centre.size:
            raise InputError(f"{chrom.size} chromosome names but {self.centre.size} centres")
        codes, names = pd.factorize(pd.Series(chrom, dtype=object), sort=False)
        self._chrom_idx, self._names = codes.astype(np.int64), [str(c) for c in names]
        check_chromosomes(self._names, self.genome.sizes, path=gpath, against=f"the genome {gpath.name}")
        self._sizes = np.array([self.genome.sizes[c] for c in self._names], dtype=np.int64)
        short = [f"{c} ({n:,} bp)" for c, n in zip(self._names, self._sizes, strict=True) if n < self.length]
        if short:
            raise InputError(
                f"{len(short)} chromosome(s) shorter than the window length {self.length:,} bp: {', '.join(short[:5])}",
                path=gpath,
                hint="use a shorter window or leave out regions on these sequences",
            )
        size = self._sizes[self._chrom_idx]
        outside = np.flatnonzero((self.centre < 0) | (self.centre >= size))
        if outside.size:
            i = int(outside[0])
            raise InputError(
                f"{outside.size} centre(s) outside their chromosome, first {chrom[i]}:{self.centre[i]} "
                f"({chrom[i]} has {size[i]:,} bp)",
                path=gpath,
                hint="check that the regions were made for this genome assembly",
            )
        self._chrom_idx = self._chrom_idx.astype(np.int32)
        self.reverse = _parse_strand(strand, self.centre.size)
        if targets is None:
            self.targets = np.zeros((self.centre.size, 0), dtype=np.float32)
        else:
            t = np.asarray(targets, dtype=np.float32)
            self.targets = np.ascontiguousarray(t.reshape(-1, 1) if t.ndim == 1 else t)
            if self.targets.ndim != 2 or self.targets.shape[0] != self.centre.size:
                raise InputError(f"targets shaped {t.shape} do not match {self.centre.size} windows (expected (N, T))")

    @classmethod
    def from_regions(
        cls,
        genome: str | os.PathLike | Genome,
        regions: pd.DataFrame,
        length: int,
        targets: np.ndarray | None = None,
        **kw,
    ) -> SequenceWindows:
        """Windows centred on the regions' midpoints ``(start + end) // 2``; ``kw`` as in the
        constructor (``jitter``, ``rc``, ``seed``)."""
        _require_columns(regions, ["chrom", "start", "end"], "regions")
        mid = (regions["start"].to_numpy(dtype=np.int64) + regions["end"].to_numpy(dtype=np.int64)) // 2
        return cls(genome, regions["chrom"].to_numpy(), mid, length, targets, **kw)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shifts and flips the items use (default 0)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.centre.size)

    def _draw(self, i: int) -> tuple[int, bool]:
        if not (self.jitter or self.rc):
            return 0, False
        rng = np.random.default_rng([self.seed, self.epoch, i])
        shift = int(rng.integers(-self.jitter, self.jitter + 1)) if self.jitter else 0
        return shift, bool(self.rc and rng.random() < 0.5)

    def window(self, i: int) -> Window:
        """The interval item ``i`` reads in the current epoch, and whether it is reversed."""
        return self._window(self._index(i))

    def _window(self, i: int) -> Window:
        k = self._chrom_idx[i]
        shift, flip = self._draw(i)
        start = min(max(int(self.centre[i]) - self.length // 2 + shift, 0), int(self._sizes[k]) - self.length)
        return Window(self._names[k], start, start + self.length, flip != bool(self.reverse[i]))

    def _index(self, i) -> int:
        return item_index(i, len(self))

    def __getitem__(self, i) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._index(i)
        w = self._window(i)
        codes = self.genome.chromosome_codes(w.chrom)[w.start : w.end]
        if w.reverse:  # complement of the reversed codes = both one-hot axes flipped
            codes = _COMPLEMENT[codes[::-1]]
        x = np.ascontiguousarray(_ONEHOT[codes].T)
        return torch.from_numpy(x), torch.from_numpy(self.targets[i])

    def __repr__(self) -> str:
        return (
            f"SequenceWindows({len(self)} windows of {self.length} bp on {self.genome.path.name}, "
            f"jitter={self.jitter}, rc={self.rc}, seed={self.seed}, epoch={self.epoch})"
        )
