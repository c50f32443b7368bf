"""Base-resolution training data of BPNet / ChromBPNet: sequence and per-base counts around summits.

:func:`profile_windows` cuts, around every peak summit (and background window), the sequence a
profile model reads and the per-base counts it predicts, ``max_jitter`` bases wider on both sides
so that shifted crops need no second read. :class:`ProfileDataset` serves one split's windows as
``(one-hot (4, input_len), counts (T, output_len))`` with ChromBPNet's augmentation;
:func:`bias_background` keeps the background a bias model trains on; :func:`drop_outliers`
removes count outliers; :func:`total_count_stats` gives the totals behind the count-loss weight
(:func:`cisgram.models.bpnet.count_loss_weight`). ``docs/profiles.md`` has the details.

Followed from kundajelab/chrombpnet: windows centred on ``start + summit`` (input 2114, output
1000, flank 500; the output window is the middle of the input; bigWig NaN reads 0); per epoch a
uniform shift in ``[-max_jitter, max_jitter]`` of sequence and counts together, on peaks only
(chrombpnet PR #37), and a reverse complement with probability 1/2; background resampled each
epoch at ``background_ratio`` per peak (chrombpnet's ``negative_sampling_ratio``); validation
and test centred and unflipped; the bias model's background below 0.5 × the 1 % quantile of the
train/validation peaks' totals, then outliers (0.01 % tails) removed, test left alone.

Departures: background is stored with the same flank as peaks (one array; the flank is used
only with ``jitter_background=True``) and GC-matched over the stored window within each split
(:func:`cisgram.data.windows.background_windows`); a window whose flank leaves its chromosome is
dropped in every split (chrombpnet keeps test peaks that fit unjittered); item ``i`` of epoch
``e`` draws from ``numpy.random.default_rng([seed, e, i])``, so an epoch is the same with any
number of workers; two stranded tracks are swapped by a reverse complement (bpnet-lite's rule).

Memory per window: ``input_len + 2·max_jitter`` bytes of codes and ``4·T·(output_len +
2·max_jitter)`` of counts, 11,114 bytes with the defaults and one track (1.1 GB per 100,000
windows). bigWigs are read in spans of at most ``chunk_bp`` bases.

Pitfalls: counts must be >= 0 (a minus strand stored negative needs ``absolute=True``); with an
odd ``input_len - output_len`` the extra input base is on the right, as the network crops, and
on the left after a reverse complement; call :meth:`ProfileDataset.set_epoch` each epoch
(:func:`cisgram.training.fit` does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from cisgram.data.dataset import DEFAULT_EXCLUDE
from cisgram.data.windows import background_windows, item_index
from cisgram.errors import InputError, few
from cisgram.genome import Genome, check_chromosomes, codes_to_onehot
from cisgram.intervals import read_regions
from cisgram.splits import SPLITS, Split, make_split
from cisgram.tracks import bigwig_chroms, open_bigwig

log = logging.getLogger(__name__)

__all__ = ["CountSummary", "ProfileData", "ProfileDataset", "ProfileWindow", "TotalCountStats",
           "bias_background", "drop_outliers", "profile_windows", "total_count_stats"]

KINDS = ("peak", "background")
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A<->T, C<->G, N stays N
_MAX_GAP = 100_000  # a bigWig span is cut where windows are further apart than this


@dataclass
class ProfileData:
    """Windows of sequence and per-base counts, from :func:`profile_windows`.

    ``regions``: one row per window, ``name, chrom, centre, start, end, kind, split`` (``centre``
    the summit, 0-based; ``[start, end)`` the stored sequence window; ``kind`` peak | background;
    ``split`` train | val | test). ``codes``: ``(N, input_len + 2·max_jitter)`` uint8 base codes
    (A=0, C=1, G=2, T=3, N=4) of ``[start, end)``. ``counts``: ``(N, T, output_len +
    2·max_jitter)`` float32 per-base counts from ``start + (input_len - output_len) // 2``.
    ``tracks``: the bigWig of each track; ``stranded``: the two tracks are the + and - strands;
    ``split``: the hold-out (``split.save`` writes ``split.json``); ``params``: the options used
    (JSON-safe, for a run's ``config.json``).
    """

    regions: pd.DataFrame
    codes: np.ndarray
    counts: np.ndarray
    input_len: int
    output_len: int
    max_jitter: int
    tracks: tuple[str, ...]
    stranded: bool
    genome: str
    split: Split
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.regions)

    @property
    def n_tracks(self) -> int:
        return int(self.counts.shape[1])

    @property
    def bytes_per_window(self) -> int:
        return int(self.codes.shape[1] * self.codes.itemsize + self.counts[0].nbytes)

    def rows(self, split: str | Sequence[str] | None = None, kind: str | None = None) -> np.ndarray:
        """Indices of the windows in ``split`` (one name, several, or None for all) of ``kind``."""
        keep = np.ones(len(self), dtype=bool)
        if split is not None:
            keep &= self.regions["split"].isin([split] if isinstance(split, str) else list(split)).to_numpy()
        if kind is not None:
            keep &= (self.regions["kind"] == kind).to_numpy()
        return np.flatnonzero(keep)

    def select(self, rows: np.ndarray) -> ProfileData:
        """The windows ``rows`` (indices or a boolean mask) as a new ProfileData."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.int64)
        return replace(self, regions=self.regions.iloc[rows].reset_index(drop=True),
                       codes=self.codes[rows], counts=self.counts[rows], params=dict(self.params))

    def total_counts(self) -> np.ndarray:
        """``(N,)`` float64 total count of each window's centred output window, all tracks."""
        j = self.max_jitter
        return self.counts[:, :, j: j + self.output_len].sum(axis=(1, 2), dtype=np.float64)


def _read(source, what: str, exclude: Sequence[str]) -> pd.DataFrame:
    """Regions from a BED / narrowPeak path or a DataFrame, chromosomes in ``exclude`` dropped."""
    if isinstance(source, pd.DataFrame):
        missing = [c for c in ("chrom", "start", "end") if c not in source]
        if missing:
            raise InputError(f"{what} lack column(s) {', '.join(missing)}", path=source.attrs.get("path"))
        df = source[~source["chrom"].isin(list(exclude))].reset_index(drop=True)
        df.attrs["path"] = source.attrs.get("path")
    else:
        df = read_regions(source, exclude=exclude)
    if df.empty:
        raise InputError(f"no {what} to cut windows around", path=df.attrs.get("path"))
    return df


def _centres(df: pd.DataFrame) -> np.ndarray:
    """``start + summit`` where a narrowPeak summit is known (>= 0), else the midpoint (as
    :func:`cisgram.intervals.resize`)."""
    start, end = df["start"].to_numpy(np.int64), df["end"].to_numpy(np.int64)
    centre = (start + end) // 2
    if "summit" in df:
        s = df["summit"].to_numpy(np.int64)
        centre = np.where(s >= 0, start + s, centre)
    return centre


def _check_chroms(chroms, path, g: Genome, bw_sizes: dict) -> None:
    """Chromosome names against the genome (error names ``path``) and each bigWig (names the bigWig)."""
    check_chromosomes(chroms, g.sizes, path=path, against=f"the genome {g.path.name}")
    for bw, sizes in bw_sizes.items():
        check_chromosomes(chroms, sizes, path=bw, against=f"the bigWig {Path(bw).name} (header)")
        diff = [c for c in chroms if sizes[c] != g.sizes[c]]
        if diff:
            c = diff[0]
            raise InputError(f"{c} is {sizes[c]:,} bp in this bigWig but {g.sizes[c]:,} bp in the genome "
                             f"{g.path.name}", path=bw, hint="use a track and a genome of the same assembly")


def _windows(df: pd.DataFrame, kind: str, g: Genome, width: int, before: int) -> pd.DataFrame:
    """Stored windows ``[centre - before, centre - before + width)``; those leaving their
    chromosome are dropped (logged), none left is an error naming the file."""
    centre = _centres(df)
    start = centre - before
    size = df["chrom"].map(g.sizes).to_numpy(np.int64)
    inside = (start >= 0) & (start + width <= size)
    path = df.attrs.get("path")
    if not inside.all():
        log.warning("%s: %d of %d %s window(s) of %d bp run past a chromosome end and are dropped",
                    path or kind, int((~inside).sum()), len(df), kind, width)
    if not inside.any():
        raise InputError(f"no {kind} window left: all {len(df)} windows of {width:,} bp run past a chromosome end",
                         path=path, hint="use shorter windows (input_len, max_jitter) or regions away from the ends")
    name = df["name"].astype(str) if "name" in df else df["chrom"] + ":" + df["start"].astype(str) + "-" + df["end"].astype(str)
    out = pd.DataFrame({"name": name.to_numpy(), "chrom": df["chrom"].astype(str).to_numpy(), "centre": centre,
                        "start": start, "end": start + width, "kind": kind})
    return out[inside].reset_index(drop=True)


def _resolve_split(split, windows: pd.DataFrame, sizes: dict, seed: int) -> Split:
    """A :class:`Split`, its ``to_dict()`` form, a ``split.json`` path, or a spec for :func:`make_split`."""
    if isinstance(split, Split):
        return split
    if isinstance(split, dict):
        return Split.from_dict(split)
    if isinstance(split, os.PathLike) or str(split).endswith(".json"):
        return Split.load(split)
    return make_split(windows, sizes, str(split), seed=seed)


def _assign(split: Split, windows: pd.DataFrame) -> pd.DataFrame:
    windows = windows.assign(split=split.assign(windows))
    gap = windows["split"] == "gap"
    if gap.any():
        log.info("%d window(s) straddling a hold-out block boundary ('gap') left out", int(gap.sum()))
    return windows[~gap].reset_index(drop=True)


def _read_track(bw, path, chrom: str, starts: np.ndarray, width: int, chunk_bp: int, absolute: bool) -> np.ndarray:
    """``(len(starts), width)`` float32 values of ``[s, s + width)`` (NaN -> 0), reading spans of
    at most ``max(chunk_bp, width)`` bases, cut where windows lie more than 100 kb apart."""
    out = np.empty((starts.size, width), dtype=np.float32)
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    breaks = np.append(np.flatnonzero(np.diff(s) > width + _MAX_GAP) + 1, s.size)
    i = 0
    while i < s.size:
        seg = int(breaks[np.searchsorted(breaks, i, side="right")])
        j = max(min(int(np.searchsorted(s, s[i] + chunk_bp - width, side="right")), seg), i + 1)
        lo, hi = int(s[i]), int(s[j - 1]) + width
        v = bw.values(chrom, lo, hi, numpy=True)  # NaN = no data; empty on a chromosome without data
        v = np.nan_to_num(v.astype(np.float32), nan=0.0) if v.size == hi - lo else np.zeros(hi - lo, np.float32)
        out[order[i:j]] = np.lib.stride_tricks.sliding_window_view(v, width)[s[i:j] - lo]
        i = j
    if out.size and out.min() < 0:
        if not absolute:
            raise InputError(f"negative values in the bigWig on {chrom} (down to {out.min():g}); counts must be >= 0",
                             path=path, hint="a minus-strand track stored as negative values: pass absolute=True")
        np.abs(out, out=out)
    return out


def profile_windows(genome: str | os.PathLike | Genome, bigwig: str | os.PathLike | Sequence[str | os.PathLike],
                    peaks: str | os.PathLike | pd.DataFrame, *, input_len: int = 2114, output_len: int = 1000,
                    max_jitter: int = 500, background: float | str | os.PathLike | pd.DataFrame | None = None,
                    split: Split | dict | str | os.PathLike = "auto", stranded: bool | None = None,
                    absolute: bool = False, exclude_chroms: Sequence[str] = DEFAULT_EXCLUDE, seed: int = 0,
                    chunk_bp: int = 4_000_000) -> ProfileData:
    """Sequence and per-base counts around every peak summit (and background window).

    Parameters
    ----------
    genome
        FASTA (plain or bgzip), 2bit, or an open :class:`~cisgram.genome.Genome`.
    bigwig
        One bigWig (``T = 1``: a Tn5 insertion track from ``cisgram tracks insertions``) or a list,
        one track each (``[plus, minus]`` of an initiation track: ``T = 2``).
    peaks
        narrowPeak (centred on ``start + summit``), BED (on the midpoint), or a region table.
    input_len, output_len, max_jitter
        Sequence read, counts predicted, and the flank stored on both sides for shifts.
    background
        None; a number of GC-matched windows per peak (matched within each split, overlapping
        no peak: :func:`cisgram.data.windows.background_windows`); or a BED / narrowPeak / table
        of non-peak regions, centred as peaks are.
    split
        A :class:`~cisgram.splits.Split`, its ``to_dict()`` or ``split.json`` (a dataset's:
        the same chromosomes held out), or a :func:`cisgram.splits.make_split` spec made on the
        peaks (``auto``, ``chroms:chrI/chrII``, ``blocks:1Mb``). ``gap`` windows are left out.
    stranded
        Two tracks are the + and - strands (a reverse complement swaps them); None: True
        exactly when two bigWigs are given.
    absolute
        Read every value's absolute value (minus strands stored negative).
    exclude_chroms
        Chromosomes left out (chrM, as ``cisgram prepare``).
    seed
        Seed of a drawn split and of the background windows.
    chunk_bp
        Largest bigWig span read at once (4 bytes a base).

    Returns
    -------
    ProfileData
        Peaks (file order), then background: ``codes`` ``(N, input_len + 2·max_jitter)`` uint8,
        ``counts`` ``(N, T, output_len + 2·max_jitter)`` float32; 11,114 bytes a window with
        the defaults and one track.

    Raises
    ------
    InputError
        ``output_len`` above ``input_len``; a chromosome absent from the genome (naming the
        peak file) or a bigWig (naming it) or of another length there; negative counts without
        ``absolute``; no window left once those past a chromosome end are dropped (naming the file).
    """
    input_len, output_len, max_jitter = int(input_len), int(output_len), int(max_jitter)
    if not 0 < output_len <= input_len or max_jitter < 0:
        raise InputError(f"need 0 < output_len <= input_len and max_jitter >= 0 (got output_len={output_len}, "
                         f"input_len={input_len}, max_jitter={max_jitter})",
                         hint="the output window is the middle of the input window: it cannot be wider")
    g = genome if isinstance(genome, Genome) else Genome(genome)
    paths = [bigwig] if isinstance(bigwig, (str, os.PathLike)) else list(bigwig)
    if not paths:
        raise InputError("no bigWig given")
    stranded = len(paths) == 2 if stranded is None else bool(stranded)
    if stranded and len(paths) != 2:
        raise InputError(f"stranded tracks are two bigWigs (+ and -), got {len(paths)}")
    bw_sizes = {str(p): bigwig_chroms(p) for p in paths}
    width, out_width, before = input_len + 2 * max_jitter, output_len + 2 * max_jitter, input_len // 2 + max_jitter

    table = _read(peaks, "peaks", exclude_chroms)
    _check_chroms(list(dict.fromkeys(table["chrom"].astype(str))), table.attrs.get("path"), g, bw_sizes)
    windows = _windows(table, "peak", g, width, before)
    spl = _resolve_split(split, windows, g.sizes, seed)
    parts = [_assign(spl, windows)]
    if isinstance(background, bool):
        raise InputError("background is a number of windows per peak, a region file or None, not a bool")
    if isinstance(background, (int, float, np.integer, np.floating)):
        if not background >= 0:
            raise InputError(f"background must be 0 or more windows per peak, got {background}")
        if background > 0:
            bg = background_windows(g, parts[0][["chrom", "start", "end", "split"]], spl, ratio=float(background),
                                    exclude=table[["chrom", "start", "end"]], seed=seed)
            bg["summit"] = width // 2
            parts.append(_assign(spl, _windows(bg, "background", g, width, before)))
            log.info("%d GC-matched background windows (%g per peak)", len(parts[-1]), background)
    elif background is not None:
        bg = _read(background, "background regions", exclude_chroms)
        _check_chroms(list(dict.fromkeys(bg["chrom"].astype(str))), bg.attrs.get("path"), g, bw_sizes)
        parts.append(_assign(spl, _windows(bg, "background", g, width, before)))
    regions = pd.concat(parts, ignore_index=True)
    if regions.empty:
        raise InputError("no window left in any split", path=table.attrs.get("path"), hint="choose another split")

    n, chrom, start = len(regions), regions["chrom"].to_numpy(), regions["start"].to_numpy(np.int64)
    codes = np.empty((n, width), dtype=np.uint8)
    counts = np.empty((n, len(paths), out_width), dtype=np.float32)
    by_chrom = {c: np.flatnonzero(chrom == c) for c in dict.fromkeys(chrom)}
    for c, idx in by_chrom.items():
        codes[idx] = np.lib.stride_tricks.sliding_window_view(g.chromosome_codes(c), width)[start[idx]]
    offset = (input_len - output_len) // 2
    for t, p in enumerate(paths):
        bw = open_bigwig(p)
        try:
            for c, idx in by_chrom.items():
                counts[idx, t] = _read_track(bw, p, c, start[idx] + offset, out_width, int(chunk_bp), absolute)
        finally:
            bw.close()
    params = {"input_len": input_len, "output_len": output_len, "max_jitter": max_jitter, "stranded": stranded,
              "absolute": absolute, "exclude_chroms": list(exclude_chroms), "seed": seed,
              "peaks": str(table.attrs.get("path")), "background": background if background is None else
              float(background) if isinstance(background, (int, float, np.integer, np.floating)) else
              str(background.attrs.get("path") if isinstance(background, pd.DataFrame) else background)}
    log.info("%d windows (%s) of %d bp sequence and %d x %d counts, %.1f MB", n,
             ", ".join(f"{k} {v}" for k, v in regions["kind"].value_counts().items()), width, len(paths), out_width,
             (codes.nbytes + counts.nbytes) / 1e6)
    if not isinstance(genome, Genome):
        g.close()  # frees the decoded chromosomes
    return ProfileData(regions, codes, counts, input_len, output_len, max_jitter, tuple(map(str, paths)), stranded,
                       str(g.path), spl, params)


class ProfileWindow(NamedTuple):
    """Where item ``i`` of a :class:`ProfileDataset` reads in the current epoch: its row of the
    data, the input ``[start, end)`` and output ``[out_start, out_end)`` windows on ``chrom``, the
    shift from the centred window and whether it is reverse complemented."""

    row: int
    chrom: str
    start: int
    end: int
    out_start: int
    out_end: int
    shift: int
    reverse: bool


class ProfileDataset(torch.utils.data.Dataset):
    """One split's windows of a :class:`ProfileData`, with ChromBPNet's augmentation.

    Parameters
    ----------
    data, split, kinds
        The windows of ``kinds`` (peak, background) in ``split`` (a name, several, or None: all).
    augment
        Shift and reverse-complement items; None: only for ``split="train"``. Without it every
        item is its centred, forward window (evaluation).
    jitter, rc, jitter_background
        Largest shift (default ``data.max_jitter``); reverse complement with probability 1/2
        (default True); shift background too (chrombpnet shifts peaks only).
    background_ratio
        Background windows per peak, drawn afresh each epoch (chrombpnet's
        ``negative_sampling_ratio``, 0.1 there); None: all, every epoch.
    seed
        Item ``i`` of epoch ``e`` draws its shift, then its flip, from
        ``numpy.random.default_rng([seed, e, i])``; an epoch's background sample has its own stream.

    Items are ``(x, y)``: ``x`` float32 ``(4, input_len)`` one-hot (A, C, G, T; N all zeros),
    ``y`` float32 ``(T, output_len)`` counts; a data loader stacks them to ``(B, 4, L)`` and
    ``(B, T, output_len)``. A reverse complement flips both axes of ``x`` and the position axis
    of ``y``, and the track axis too when the data are stranded.
    """

    def __init__(self, data: ProfileData, split: str | Sequence[str] | None = "train", *,
                 kinds: Sequence[str] = KINDS, augment: bool | None = None, jitter: int | None = None,
                 rc: bool | None = None, jitter_background: bool = False, background_ratio: float | None = None,
                 seed: int = 0):
        unknown = [k for k in kinds if k not in KINDS] + [s for s in ([split] if isinstance(split, str) else split or ())
                                                          if s not in SPLITS]
        if unknown:
            raise InputError(f"unknown kind or split {few(unknown)} (kinds: peak, background; splits: train, val, test)")
        self.data, self.seed, self.epoch = data, int(seed), 0
        self.augment = split == "train" if augment is None else bool(augment)
        if not self.augment and (jitter or rc or jitter_background):
            raise InputError("jitter, rc and jitter_background act only when augmenting", hint="pass augment=True")
        self.jitter = (data.max_jitter if jitter is None else int(jitter)) if self.augment else 0
        if not 0 <= self.jitter <= data.max_jitter:
            raise InputError(f"jitter must be in 0..{data.max_jitter} (the flank stored), got {self.jitter}")
        self.rc = self.augment and (True if rc is None else bool(rc))
        self.jitter_background = bool(jitter_background)
        empty = np.zeros(0, dtype=np.int64)
        self.peak_rows = data.rows(split, "peak") if "peak" in kinds else empty
        self.background_rows = data.rows(split, "background") if "background" in kinds else empty
        self.n_background = self.background_rows.size
        if background_ratio is not None:
            if background_ratio < 0:
                raise InputError(f"background_ratio must be >= 0, got {background_ratio}")
            want = int(background_ratio * self.peak_rows.size)
            if want > self.n_background:
                log.warning("background_ratio %g asks for %d background windows, %d exist: using all",
                            background_ratio, want, self.n_background)
            self.n_background = min(want, self.n_background)
        self._start = data.regions["start"].to_numpy(np.int64)
        self._chrom = data.regions["chrom"].to_numpy()
        self._background = (data.regions["kind"] == "background").to_numpy()
        self.set_epoch(0)
        if len(self) == 0:
            raise InputError(f"no {' or '.join(kinds)} window in split {split!r}")

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shifts, flips and background sample the items use (default 0)."""
        self.epoch = int(epoch)
        bg = self.background_rows
        if self.n_background < bg.size:
            ss = np.random.SeedSequence([self.seed, self.epoch if self.augment else 0], spawn_key=(1,))
            bg = np.sort(np.random.default_rng(ss).choice(bg, self.n_background, replace=False))
        self.rows = np.concatenate([self.peak_rows, bg])

    def __len__(self) -> int:
        return int(self.rows.size)

    def window(self, i: int) -> ProfileWindow:
        """Where item ``i`` reads in the current epoch."""
        i = item_index(i, len(self))
        r = int(self.rows[i])
        shift, flip = 0, False
        if self.jitter or self.rc:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            shift = int(rng.integers(-self.jitter, self.jitter + 1)) if self.jitter else 0
            flip = bool(self.rc and rng.random() < 0.5)
        if self._background[r] and not self.jitter_background:
            shift = 0
        d = self.data
        start = int(self._start[r]) + d.max_jitter + shift
        out = start + (d.input_len - d.output_len) // 2
        return ProfileWindow(r, str(self._chrom[r]), start, start + d.input_len, out, out + d.output_len, shift, flip)

    def __getitem__(self, i) -> tuple[torch.Tensor, torch.Tensor]:
        w, d = self.window(i), self.data
        off = d.max_jitter + w.shift
        codes = d.codes[w.row, off: off + d.input_len]
        y = d.counts[w.row, :, off: off + d.output_len]
        if w.reverse:
            codes = _COMPLEMENT[codes[::-1]]
            y = y[::-1, ::-1] if d.stranded else y[:, ::-1]
        return torch.from_numpy(codes_to_onehot(codes)), torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))

    def __repr__(self) -> str:
        return (f"ProfileDataset({len(self)} windows: {self.peak_rows.size} peaks, {self.n_background} background; "
                f"augment={self.augment}, jitter={self.jitter}, rc={self.rc}, seed={self.seed}, epoch={self.epoch})")


class CountSummary(NamedTuple):
    """Total counts of one kind of window: ``n``, ``mean``, ``median`` and ``quantiles``
    (``{q: value}``); NaN when ``n`` is 0."""

    n: int
    mean: float
    median: float
    quantiles: dict


@dataclass(frozen=True)
class TotalCountStats:
    """Total counts in the centred output windows of some splits, from :func:`total_count_stats`:
    ``peak_totals`` and ``background_totals`` (float64, data order) and their summaries."""

    splits: tuple[str, ...]
    peak_totals: np.ndarray
    background_totals: np.ndarray
    peak: CountSummary
    background: CountSummary


def _summary(t: np.ndarray, quantiles: Sequence[float]) -> CountSummary:
    if t.size == 0:
        return CountSummary(0, float("nan"), float("nan"), {float(q): float("nan") for q in quantiles})
    return CountSummary(int(t.size), float(t.mean()), float(np.median(t)),
                        {float(q): float(v) for q, v in zip(quantiles, np.quantile(t, quantiles), strict=True)})


def total_count_stats(data: ProfileData, split: str | Sequence[str] = "train", *,
                      quantiles: Sequence[float] = (0.01, 0.25, 0.5, 0.75, 0.99)) -> TotalCountStats:
    """Total count per window (centred output window, all tracks) of peaks and background in
    ``split``. chrombpnet's count-loss weight is the median total of the training (and
    validation) peaks / 10: pass ``peak_totals`` to :func:`cisgram.models.bpnet.count_loss_weight`."""
    splits = (split,) if isinstance(split, str) else tuple(split)
    tot = data.total_counts()
    peak, bg = tot[data.rows(splits, "peak")], tot[data.rows(splits, "background")]
    return TotalCountStats(splits, peak, bg, _summary(peak, quantiles), _summary(bg, quantiles))


def drop_outliers(data: ProfileData, *, outlier_threshold: float = 0.9999,
                  splits: Sequence[str] = ("train", "val")) -> ProfileData:
    """Drop the windows of ``splits`` whose total count is not strictly inside the
    ``1 - outlier_threshold`` and ``outlier_threshold`` quantiles of those windows' totals
    (chrombpnet's step before training; it leaves the test split alone, as here)."""
    tot, ref = data.total_counts(), data.regions["split"].isin(list(splits)).to_numpy()
    if not ref.any():
        return data
    lo, hi = np.quantile(tot[ref], [1 - outlier_threshold, outlier_threshold])
    keep = ~ref | ((tot > lo) & (tot < hi))
    log.info("dropped %d count outlier window(s) (total <= %g or >= %g)", int((~keep).sum()), lo, hi)
    out = data.select(keep)
    out.params["outliers"] = {"outlier_threshold": outlier_threshold, "lower": float(lo), "upper": float(hi),
                              "dropped": int((~keep).sum())}
    return out


def bias_background(data: ProfileData, *, bias_threshold_factor: float = 0.5, peak_quantile: float = 0.01,
                    outlier_threshold: float | None = 0.9999,
                    splits: Sequence[str] = ("train", "val")) -> ProfileData:
    """The background windows a Tn5 (or DNase-I) bias model trains on, as chrombpnet selects them.

    In ``splits`` (train and validation), background windows whose total count is below
    ``bias_threshold_factor × quantile(peak totals of splits, peak_quantile)`` (chrombpnet:
    0.5 × the 1 % quantile; 0.8 is its suggestion for DNase-I) are kept, then only those strictly
    inside the ``1 - outlier_threshold`` / ``outlier_threshold`` quantiles of what is left (None
    skips this; note that a lower quantile of 0 drops every window without counts, as in
    chrombpnet). Background of other splits (test) is kept as it is. Returns the background
    windows only; ``params["bias_background"]`` records the threshold and the numbers.
    """
    tot, reg = data.total_counts(), data.regions
    ref = reg["split"].isin(list(splits)).to_numpy()
    bg = (reg["kind"] == "background").to_numpy()
    peaks = tot[ref & ~bg]
    if peaks.size == 0:
        raise InputError(f"no peak window in split(s) {', '.join(splits)} to set the bias threshold from")
    threshold = float(np.quantile(peaks, peak_quantile)) * float(bias_threshold_factor)
    if threshold <= 0:
        raise InputError(f"the bias threshold is 0: the {peak_quantile:.0%} quantile of the peaks' total counts is 0",
                         path=data.tracks[0], hint="check the track covers the peaks, or raise peak_quantile")
    below = ref & bg & (tot < threshold)
    if not below.any():
        raise InputError(f"no background window in {', '.join(splits)} has a total count below {threshold:g}",
                         path=data.tracks[0], hint="add background windows or raise bias_threshold_factor")
    lo = hi = None
    keep = below
    if outlier_threshold is not None:
        lo, hi = (float(v) for v in np.quantile(tot[below], [1 - outlier_threshold, outlier_threshold]))
        keep = below & (tot > lo) & (tot < hi)
        if not keep.any():
            raise InputError(f"no background window left strictly between the outlier bounds {lo:g} and {hi:g}",
                             path=data.tracks[0], hint="pass outlier_threshold=None (shallow data: many windows at 0)")
    keep |= bg & ~ref
    log.info("bias background: %d of %d background windows (threshold %g in %s)", int(keep.sum()), int(bg.sum()),
             threshold, "/".join(splits))
    out = data.select(keep)
    out.params["bias_background"] = {
        "bias_threshold_factor": float(bias_threshold_factor), "peak_quantile": float(peak_quantile),
        "threshold": threshold, "outlier_threshold": outlier_threshold, "lower": lo, "upper": hi,
        "splits": list(splits), "kept": int(keep.sum()), "background": int(bg.sum())}
    return out
