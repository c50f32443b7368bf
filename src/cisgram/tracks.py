"""Coverage of regions from bigWig signal tracks (fragment files: :mod:`cisgram.fragments`).

Conventions
-----------
* Regions are a :class:`pandas.DataFrame` with at least the columns ``chrom`` (str), ``start``
  and ``end`` (integers, 0-based, half-open, as in BED). They may come in any order and may
  overlap; every result comes back as an array in the input row order.
* :func:`bigwig_coverage` returns, per region, the **sum** of the track's values over
  ``[start, end)`` or their **mean over the region's full length** (``sum / (end - start)``).
  Bases without data count as 0. This is *not* pyBigWig's ``stats(type="mean")``, which
  averages over covered bases only and returns ``None`` for a region without data; use
  ``stat="sum"`` and divide yourself if you want something else.
* :func:`write_bigwig` writes 1-bp values (an insertion track, ``cisgram tracks insertions``)
  atomically: a failed write leaves no file and keeps an earlier one.

How it stays fast and bounded in memory
---------------------------------------
* bigWig: regions are sorted by (chrom, start) and cut into chunks that span at most
  ``chunk_bp`` bases and break at gaps larger than ``max_gap``; each chunk's span is read once
  (``values(..., numpy=True)``) and every region in it is answered from a float64 cumulative
  sum. A region longer than ``chunk_bp`` is summed piece by piece. Memory is O(chunk_bp), never
  a whole chromosome. :func:`bigwig_coverage_naive` is the one-call-per-region reference.

Pitfalls
--------
* Chromosome names must match exactly (``chr22`` is not ``22``); a mismatch raises
  :class:`~cisgram.errors.InputError` listing both sides and suggesting the ``chr`` fix.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from cisgram.errors import InputError, few
from cisgram.files import atomic_path, require_file
from cisgram.genome import chromosome_hint

__all__ = [
    "bigwig_chroms",
    "bigwig_coverage",
    "bigwig_coverage_naive",
    "write_bigwig",
]

log = logging.getLogger(__name__)

_STATS = ("sum", "mean")


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def check_regions(regions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a regions table; return (chrom as object array of str, start int64, end int64)."""
    if not isinstance(regions, pd.DataFrame):
        raise InputError(
            f"regions must be a pandas DataFrame with columns chrom, start, end, not {type(regions).__name__}"
        )
    missing = [c for c in ("chrom", "start", "end") if c not in regions.columns]
    if missing:
        raise InputError(
            f"regions table lacks column(s) {', '.join(missing)} (has: {few(regions.columns, 10)})",
            hint="regions need columns chrom, start, end (0-based, half-open, as in BED)",
        )
    chrom = regions["chrom"]
    if chrom.isna().any():
        i = int(np.flatnonzero(chrom.isna().to_numpy())[0])
        raise InputError(f"region at row {i} (index {regions.index[i]!r}) has no chromosome")
    chrom = chrom.astype(str).to_numpy(dtype=object)
    out = []
    for col in ("start", "end"):
        values = regions[col]
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna().to_numpy() | (numeric.to_numpy(dtype=float, na_value=np.nan) % 1 != 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"region at row {i} (index {regions.index[i]!r}) has a non-integer {col}: {values.iloc[i]!r}"
            )
        out.append(numeric.to_numpy().astype(np.int64))
    start, end = out
    bad = (start < 0) | (end <= start)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"region at row {i} (index {regions.index[i]!r}) is {chrom[i]}:{start[i]}-{end[i]}; "
            "regions need 0 <= start < end",
            hint="coordinates are 0-based, half-open (BED)",
        )
    return chrom, start, end


def _check_stat(stat: str) -> None:
    if stat not in _STATS:
        raise InputError(f"stat must be one of {', '.join(_STATS)}, not {stat!r}")


# --------------------------------------------------------------------------------------------
# bigWig
# --------------------------------------------------------------------------------------------


def open_bigwig(path: str | os.PathLike):
    """Open ``path`` with pyBigWig, raising InputError when it is not a readable bigWig."""
    import pyBigWig

    p = require_file(path, "bigWig file")
    try:
        bw = pyBigWig.open(os.fspath(p))
    except RuntimeError as exc:
        raise InputError(
            f"not a readable bigWig file ({exc})",
            path=p,
            hint="convert bedGraph with bedGraphToBigWig, or pass the right file",
        ) from None
    if bw is None:
        raise InputError("not a readable bigWig file", path=p)
    if not bw.isBigWig():
        bw.close()
        raise InputError("this is a bigBed file, not a bigWig", path=p, hint="pass a bigWig signal track")
    return bw


def bigwig_chroms(path: str | os.PathLike) -> dict[str, int]:
    """Chromosome names and lengths from a bigWig's header (every contig listed, data or not)."""
    bw = open_bigwig(path)
    try:
        return {str(k): int(v) for k, v in bw.chroms().items()}
    finally:
        bw.close()


def _check_against_header(
    path: str | os.PathLike, sizes: Mapping[str, int], chrom: np.ndarray, end: np.ndarray
) -> None:
    uniq = pd.unique(chrom)
    missing = [c for c in uniq if c not in sizes]
    if missing:
        raise InputError(
            f"{len(missing)} region chromosome(s) are not in the bigWig header: {few(missing)}; "
            f"the bigWig has: {few(sizes)}",
            path=path,
            hint=chromosome_hint(missing, sizes, "bigWig")
            or "use regions and a track from the same genome assembly",
        )
    lengths = pd.Series(sizes).reindex(chrom).to_numpy(dtype=np.int64)
    past = end > lengths
    if past.any():
        i = int(np.flatnonzero(past)[0])
        raise InputError(
            f"{int(past.sum())} region(s) end past their chromosome's length in the bigWig, "
            f"e.g. region at row {i} ends at {chrom[i]}:{end[i]} but {chrom[i]} is "
            f"{lengths[i]} bp long",
            path=path,
            hint="check that regions and track use the same genome assembly, or clip the regions",
        )


def _plan_chunks(s: np.ndarray, e: np.ndarray, chunk_bp: int, max_gap: int) -> list[tuple[int, int]]:
    """Cut regions sorted by start into [i, j) runs whose span is <= chunk_bp, breaking at gaps.

    All regions must be at most ``chunk_bp`` long. The span of a run is max(e[i:j]) - s[i]; it
    is bounded through the running maximum of ends, which is never smaller than the run's own
    maximum end, so the bound is safe (it may occasionally cut a run earlier than needed).
    """
    n = len(s)
    if n == 0:
        return []
    runmax = np.maximum.accumulate(e)
    # a run must break before j when region j starts more than max_gap after all earlier ends
    breaks = np.flatnonzero(s[1:] - runmax[:-1] > max_gap) + 1
    breaks = np.append(breaks, n)
    runs = []
    i = 0
    while i < n:
        seg_end = int(breaks[np.searchsorted(breaks, i, side="right")])
        j = int(np.searchsorted(runmax, s[i] + chunk_bp, side="right"))
        j = max(min(j, seg_end), i + 1)
        runs.append((i, j))
        i = j
    return runs


def _sum_long(bw, chrom: str, s: int, e: int, chunk_bp: int) -> float:
    """Sum of values over [s, e) read in pieces of at most chunk_bp bases."""
    total = 0.0
    for a in range(s, e, chunk_bp):
        v = bw.values(chrom, a, min(a + chunk_bp, e), numpy=True)
        total += float(np.nansum(v, dtype=np.float64))
    return total


def bigwig_coverage(
    path: str | os.PathLike,
    regions: pd.DataFrame,
    stat: str = "sum",
    *,
    chunk_bp: int = 4_000_000,
    max_gap: int = 100_000,
) -> np.ndarray:
    """Sum or mean of a bigWig's values over each region; bases without data count as 0.

    Parameters
    ----------
    path
        A bigWig file.
    regions
        DataFrame with columns ``chrom``, ``start``, ``end`` (0-based, half-open), any order,
        overlaps allowed.
    stat
        ``"sum"``: sum of values over ``[start, end)``. ``"mean"``: that sum divided by the
        region's length ``end - start`` (missing data counted as 0, unlike pyBigWig's mean).
    chunk_bp
        Largest span read at once (memory is about 12 bytes x chunk_bp). Regions longer than
        this are summed piece by piece.
    max_gap
        A chunk is cut where the next region starts more than this many bases after the
        previous ones end, so that empty stretches between sparse regions are not read.

    Returns
    -------
    np.ndarray
        float64, shape ``(n_regions,)``, in the input row order.

    Raises
    ------
    InputError
        When the file is not a bigWig, a region's chromosome is absent from its header (with a
        ``chr``-prefix hint when that is the fix), or a region ends past its chromosome.
    """
    _check_stat(stat)
    if int(chunk_bp) < 1 or int(max_gap) < 0:
        raise InputError(f"chunk_bp must be >= 1 and max_gap >= 0 (got {chunk_bp}, {max_gap})")
    chunk_bp, max_gap = int(chunk_bp), int(max_gap)
    chrom, start, end = check_regions(regions)
    n = len(start)
    bw = open_bigwig(path)
    t0 = time.perf_counter()
    try:
        _check_against_header(path, bw.chroms(), chrom, end)
        out = np.zeros(n, dtype=np.float64)
        if n == 0:
            return out
        codes, names = pd.factorize(chrom)
        order = np.lexsort((start, codes))
        c_sorted = codes[order]
        cut = np.flatnonzero(c_sorted[1:] != c_sorted[:-1]) + 1
        bounds = np.concatenate(([0], cut, [n]))
        n_reads = 0
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            name = str(names[c_sorted[a]])
            idx = order[a:b]
            s, e = start[idx], end[idx]
            long = (e - s) > chunk_bp
            for k in np.flatnonzero(long):
                out[idx[k]] = _sum_long(bw, name, int(s[k]), int(e[k]), chunk_bp)
                n_reads += 1
            if long.any():
                keep = ~long
                idx, s, e = idx[keep], s[keep], e[keep]
            for i, j in _plan_chunks(s, e, chunk_bp, max_gap):
                lo, hi = int(s[i]), int(e[i:j].max())
                cs = np.empty(hi - lo + 1, dtype=np.float64)
                cs[0] = 0.0
                vals = bw.values(name, lo, hi, numpy=True)  # float32 -> float64, NaN = no data
                # a chromosome without any data yields an empty array: all zeros
                cs[1:] = vals if vals.size == hi - lo else np.nan
                cs[np.isnan(cs)] = 0.0
                np.cumsum(cs, out=cs)
                out[idx[i:j]] = cs[e[i:j] - lo] - cs[s[i:j] - lo]
                n_reads += 1
    finally:
        bw.close()
    if stat == "mean":
        out /= end - start
    log.debug(
        "bigwig_coverage: %d regions from %s in %d reads, %.2f s",
        n,
        path,
        n_reads,
        time.perf_counter() - t0,
    )
    return out


def bigwig_coverage_naive(path: str | os.PathLike, regions: pd.DataFrame, stat: str = "sum") -> np.ndarray:
    """Reference for :func:`bigwig_coverage`: one ``bw.stats(..., exact=True)`` call per region.

    Uses pyBigWig's exact ``"sum"`` (``None`` -> 0) and derives the mean as sum / length, so the
    result means the same as :func:`bigwig_coverage`'s. Slow for many regions; for tests and
    benchmarks.
    """
    _check_stat(stat)
    chrom, start, end = check_regions(regions)
    bw = open_bigwig(path)
    try:
        _check_against_header(path, bw.chroms(), chrom, end)
        out = np.zeros(len(start), dtype=np.float64)
        for i, (c, s, e) in enumerate(zip(chrom, start.tolist(), end.tolist(), strict=True)):
            v = bw.stats(c, s, e, type="sum", exact=True)[0]
            out[i] = 0.0 if v is None else v
    finally:
        bw.close()
    if stat == "mean":
        out /= end - start
    return out


# --------------------------------------------------------------------------------------------
# writing a base-resolution bigWig
# --------------------------------------------------------------------------------------------


def write_bigwig(
    path: str | os.PathLike,
    chrom_sizes: Mapping[str, int],
    entries: Iterable[tuple[str, np.ndarray, np.ndarray]],
    *,
    batch: int = 1 << 20,
) -> int:
    """Write a bigWig of 1-bp values with pyBigWig, atomically (no file is left by a failure).

    Parameters
    ----------
    path
        bigWig to write; an existing one is replaced only when the write succeeds.
    chrom_sizes
        The header: every chromosome and its length, in this order.
    entries
        ``(chrom, positions, values)`` per chromosome, in the order of ``chrom_sizes``, each at
        most once: strictly increasing 0-based positions inside the chromosome and their values
        (stored as float32). Bases not given hold no data (pyBigWig's ``values`` reads NaN there,
        :func:`bigwig_coverage` 0).
    batch
        Entries handed to pyBigWig at once (memory of the int64 / float64 copies).

    Returns
    -------
    int
        Entries written.
    """
    import pyBigWig

    order = {str(c): i for i, c in enumerate(chrom_sizes)}
    n, last = 0, -1
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(os.fspath(tmp), "w")
        try:
            bw.addHeader([(str(c), int(size)) for c, size in chrom_sizes.items()])
            for chrom, pos, val in entries:
                if order.get(chrom, -1) <= last:
                    raise InputError(
                        f"bigWig entries on {chrom!r} are not in the header's order, once per chromosome "
                        f"(header: {few(chrom_sizes, sort=False)})", path=path,
                    )
                last = order[chrom]
                if len(pos) != len(val):
                    raise InputError(f"{len(pos)} positions but {len(val)} values on {chrom}", path=path)
                if len(pos) and (pos[0] < 0 or pos[-1] >= chrom_sizes[chrom] or (np.diff(pos) <= 0).any()):
                    raise InputError(f"positions on {chrom} are not strictly increasing inside 0..{chrom_sizes[chrom] - 1}",
                                     path=path)
                for a in range(0, len(pos), batch):
                    bw.addEntries(chrom, np.asarray(pos[a:a + batch], dtype=np.int64),
                                  values=np.asarray(val[a:a + batch], dtype=np.float64), span=1)
                n += len(pos)
        finally:
            bw.close()
    return n


# --------------------------------------------------------------------------------------------
# fragment files
# --------------------------------------------------------------------------------------------


