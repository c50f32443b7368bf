"""Coverage of regions from signal tracks: bigWig files and 10x-style fragment files.

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
* :func:`fragment_counts` counts **Tn5 insertion sites**: each fragment ``(start, end)`` gives
  two insertions, at ``start`` and at ``end - 1`` (0-based). 10x Genomics (Cell Ranger ATAC /
  ARC) fragment files are already corrected for the Tn5 shift (+4 / -5), so no shift is
  applied here; shift your file first if it is not. Each fragment record counts once: the
  fifth column (how many read pairs were collapsed into it as PCR duplicates) is ignored.

How it stays fast and bounded in memory
---------------------------------------
* bigWig: regions are sorted by (chrom, start) and cut into chunks that span at most
  ``chunk_bp`` bases and break at gaps larger than ``max_gap``; each chunk's span is read once
  (``values(..., numpy=True)``) and every region in it is answered from a float64 cumulative
  sum. A region longer than ``chunk_bp`` is summed piece by piece. Memory is O(chunk_bp), never
  a whole chromosome. :func:`bigwig_coverage_naive` is the one-call-per-region reference.
* Fragments: the file is streamed with :func:`pandas.read_csv` in chunks of ``chunksize``
  records. Per chromosome, the sorted unique region boundaries ``B`` split the chromosome into
  bins; insertions are binned with ``searchsorted(B, pos, side="right")`` and accumulated per
  group. The count of a region is then ``C(end) - C(start)`` with ``C(x)`` the number of
  insertions at positions ``< x``, which is exact for overlapping and nested regions too.
  Memory is O(chunksize + number of regions x groups). The file need not be sorted and a tabix
  index is not needed (or used).

Pitfalls
--------
* Chromosome names must match exactly (``chr22`` is not ``22``); a mismatch raises
  :class:`~cisgram.errors.InputError` listing both sides and suggesting the ``chr`` fix.
* A fragment whose two insertions both fall in a region counts 2 there, as in ArchR / Signac
  insertion counting. Regions that overlap each count the insertions they contain.
* Fragments on chromosomes that no region uses are read (and counted in
  :attr:`FragmentCounts.n_fragments`) but land in no region.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import is_gzipped, open_text, require_file
from cisgram.genome import chromosome_hint

__all__ = [
    "FragmentCounts",
    "bigwig_chroms",
    "bigwig_coverage",
    "bigwig_coverage_naive",
    "fragment_counts",
]

log = logging.getLogger(__name__)

_STATS = ("sum", "mean")


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def _few(names: Iterable[str], k: int = 5) -> str:
    """``a, b, c, ... (N in all)`` for error messages."""
    names = sorted(set(map(str, names)))
    shown = ", ".join(names[:k])
    if len(names) > k:
        shown += f", ... ({len(names)} in all)"
    return shown or "(none)"


def _check_regions(regions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a regions table; return (chrom as object array of str, start int64, end int64)."""
    if not isinstance(regions, pd.DataFrame):
        raise InputError(
            f"regions must be a pandas DataFrame with columns chrom, start, end, not {type(regions).__name__}"
        )
    missing = [c for c in ("chrom", "start", "end") if c not in regions.columns]
    if missing:
        raise InputError(
            f"regions table lacks column(s) {', '.join(missing)} (has: {_few(regions.columns, 10)})",
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
            f"{len(missing)} region chromosome(s) are not in the bigWig header: {_few(missing)}; "
            f"the bigWig has: {_few(sizes)}",
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
    chrom, start, end = _check_regions(regions)
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
    chrom, start, end = _check_regions(regions)
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
# fragment files
# --------------------------------------------------------------------------------------------


@dataclass
class FragmentCounts:
    """Tn5 insertion counts per region and barcode group, from :func:`fragment_counts`.

    Attributes
    ----------
    counts
        int64, shape ``(n_regions, n_groups)``: insertions inside each region (input row order)
        per group.
    groups
        Group names, in the column order of ``counts``.
    n_fragments
        int64, shape ``(n_groups,)``: fragments read per group, inside any region or not (a
        library-size denominator, e.g. for CPM).
    n_unmatched_barcodes
        Distinct barcodes in the file that belong to no group (0 when ``groups`` is None).
    n_unmatched_fragments
        Fragments whose barcode belongs to no group (0 when ``groups`` is None).
    """

    counts: np.ndarray
    groups: list[str]
    n_fragments: np.ndarray
    n_unmatched_barcodes: int = 0
    n_unmatched_fragments: int = 0


_FRAG_HINT = "a fragment file is tab-separated: chrom, start, end, barcode, count (10x Genomics style)"


def _peek(path) -> tuple[int, int]:
    """Number of ``#`` header lines at the top, and tab-separated fields of the first record."""
    n = 0
    with open_text(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                return n, len(line.rstrip("\r\n").split("\t"))
            n += 1
    return n, 0


def _check_groups(path, groups: Mapping[str, Sequence[str]]) -> tuple[list[str], pd.Index, np.ndarray]:
    """Return (group names, barcode index, group number per barcode)."""
    if not isinstance(groups, Mapping) or len(groups) == 0:
        raise InputError("groups must be a non-empty mapping of group name -> list of barcodes", path=path)
    names, barcodes, owner = [], [], []
    seen: dict[str, str] = {}
    for g, (name, members) in enumerate(groups.items()):
        name = str(name)
        if isinstance(members, str) or not isinstance(members, Iterable):
            raise InputError(
                f"group {name!r} must list its barcodes (a list of strings), not {type(members).__name__}",
                path=path,
            )
        members = [str(b) for b in members]
        if not members:
            raise InputError(f"group {name!r} lists no barcodes", path=path)
        for b in members:
            if b in seen:
                if seen[b] == name:
                    continue
                raise InputError(
                    f"barcode {b} is listed in two groups, {seen[b]!r} and {name!r}",
                    path=path,
                    hint="each barcode may belong to one group only",
                )
            seen[b] = name
            barcodes.append(b)
            owner.append(g)
        names.append(name)
    return names, pd.Index(barcodes), np.asarray(owner, dtype=np.int64)


def _positions(col: pd.Series, what: str, path, first_line: int) -> np.ndarray:
    """Integer positions of a start/end column, or InputError at the first bad record."""
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64)
    numeric = pd.to_numeric(col, errors="coerce")
    arr = numeric.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(arr) | (arr % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = col.iloc[i]
        if pd.isna(raw):
            raise InputError(
                f"record has no {what} (fewer than 3 tab-separated columns, or an empty field)",
                path=path,
                line=first_line + i,
                hint=_FRAG_HINT,
            )
        raise InputError(
            f"{what} {raw!r} is not a non-negative integer",
            path=path,
            line=first_line + i,
            hint=_FRAG_HINT,
        )
    return arr.astype(np.int64)


def fragment_counts(
    path: str | os.PathLike,
    regions: pd.DataFrame,
    groups: Mapping[str, Sequence[str]] | None = None,
    *,
    chunksize: int = 2_000_000,
) -> FragmentCounts:
    """Count Tn5 insertions from a fragment file in each region, per group of barcodes.

    Parameters
    ----------
    path
        Fragment file (plain text, gzip or bgzip; ``#`` header lines allowed at the top): tab
        separated ``chrom, start, end, barcode, count`` (0-based, half-open). Only the first
        three columns are needed when ``groups`` is None.
    regions
        DataFrame with columns ``chrom``, ``start``, ``end``; any order, overlaps allowed.
    groups
        Maps a group name (a cell type, a sample) to its barcodes. ``None`` counts every
        fragment in one group called ``"all"``. Fragments whose barcode is in no group are
        skipped (and counted in ``n_unmatched_fragments``).
    chunksize
        Records read at once (memory is roughly 100 bytes x chunksize).

    Returns
    -------
    FragmentCounts
        ``counts`` is int64 ``(n_regions, n_groups)``. Each fragment gives two insertions, at
        ``start`` and ``end - 1``; no Tn5 shift is applied (10x files are already corrected)
        and the duplicate-count column is ignored.

    Raises
    ------
    InputError
        With the file and line for a record with too few columns, a non-integer start/end or
        start >= end; for a barcode listed in two groups or a group that matches no fragment;
        and when no fragment lies on any of the regions' chromosomes (naming mismatch).
    """
    p = require_file(path, "fragment file")
    chrom, start, end = _check_regions(regions)
    n_regions = len(start)
    if groups is None:
        names, bc_index, bc_owner = ["all"], None, None
    else:
        names, bc_index, bc_owner = _check_groups(p, groups)
    n_groups = len(names)
    need = 3 if groups is None else 4

    # per chromosome: sorted unique boundaries, and per-group counts of insertions per bin
    boundaries: dict[str, np.ndarray] = {}
    region_rows: dict[str, np.ndarray] = {}
    for name in pd.unique(chrom):
        rows = np.flatnonzero(chrom == name)
        region_rows[name] = rows
        boundaries[name] = np.unique(np.concatenate((start[rows], end[rows])))
    binned = {c: np.zeros((n_groups, len(b) + 1), dtype=np.int64) for c, b in boundaries.items()}

    n_fragments = np.zeros(n_groups, dtype=np.int64)
    n_unmatched_fragments = 0
    unmatched: set[str] = set()
    example_barcodes: list[str] = []
    file_chroms: set[str] = set()
    try:
        n_header, n_cols = _peek(p)
    except UnicodeDecodeError:
        raise InputError(
            "not a text fragment file (cannot decode it as text)", path=p, hint=_FRAG_HINT
        ) from None
    if n_cols == 0:
        raise InputError("fragment file has no records", path=p, hint=_FRAG_HINT)
    if n_cols < need:
        raise InputError(
            f"records have {n_cols} tab-separated column(s), need at least {need}"
            + (" (the barcode is column 4)" if need == 4 else ""),
            path=p,
            line=n_header + 1,
            hint=_FRAG_HINT,
        )
    if n_cols > 6:
        raise InputError(
            f"records have {n_cols} tab-separated columns, but a fragment file has 3 to 5 "
            "(chrom, start, end, barcode, count)" + (": this looks like a narrowPeak file" if n_cols == 10 else ""),
            path=p,
            line=n_header + 1,
            hint="give a bigWig or a fragment file as a track; peak files go to --peaks",
        )
    n_read = 0
    t0 = time.perf_counter()

    try:
        reader = pd.read_csv(
            p,
            sep="\t",
            header=None,
            skiprows=n_header,
            usecols=list(range(need)),
            dtype={0: "category", 3: "category"},
            compression="gzip" if is_gzipped(p) else None,
            chunksize=int(chunksize),
            na_filter=True,
            keep_default_na=False,
            na_values=[""],
        )
    except pd.errors.EmptyDataError:
        raise InputError("fragment file has no records", path=p, hint=_FRAG_HINT) from None
    try:
        for chunk in reader:
            first_line = n_header + n_read + 1
            n_read += len(chunk)
            missing = chunk.isna().to_numpy().any(axis=1)
            if missing.any():
                i = int(np.flatnonzero(missing)[0])
                raise InputError(
                    f"record has fewer than {need} tab-separated columns (or an empty field)",
                    path=p,
                    line=first_line + i,
                    hint=_FRAG_HINT,
                )
            s = _positions(chunk[1], "start", p, first_line)
            e = _positions(chunk[2], "end", p, first_line)
            bad = (s < 0) | (s >= e)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"fragment {chunk[0].iloc[i]}:{s[i]}-{e[i]} has start < 0 or start >= end",
                    path=p,
                    line=first_line + i,
                    hint="coordinates are 0-based, half-open: start < end",
                )
            if groups is None:
                g = np.zeros(len(chunk), dtype=np.int64)
                n_fragments[0] += len(chunk)
            else:
                bc = chunk[3]
                cats = bc.cat.categories
                if len(example_barcodes) < 5:
                    example_barcodes.extend(map(str, cats[: 5 - len(example_barcodes)]))
                pos = bc_index.get_indexer(cats)
                cat_group = np.where(pos >= 0, bc_owner[np.maximum(pos, 0)], -1)
                g = cat_group[bc.cat.codes.to_numpy()]
                unmatched.update(map(str, cats[pos < 0]))
                n_unmatched_fragments += int((g < 0).sum())
                n_fragments += np.bincount(g[g >= 0], minlength=n_groups)
            ch = chunk[0]
            file_chroms.update(map(str, ch.cat.categories))
            codes = ch.cat.codes.to_numpy()
            for k, name in enumerate(ch.cat.categories):
                name = str(name)
                if name not in boundaries:
                    continue
                sel = (codes == k) & (g >= 0)
                if not sel.any():
                    continue
                b = boundaries[name]
                nb = len(b) + 1
                gg = g[sel]
                flat = np.concatenate(
                    (
                        gg * nb + np.searchsorted(b, s[sel], side="right"),
                        gg * nb + np.searchsorted(b, e[sel] - 1, side="right"),
                    )
                )
                binned[name] += np.bincount(flat, minlength=n_groups * nb).reshape(n_groups, nb)
    except pd.errors.ParserError as exc:
        raise InputError(
            f"cannot parse the fragment file ({str(exc).strip()})", path=p, hint=_FRAG_HINT
        ) from None
    except UnicodeDecodeError:
        raise InputError(
            "not a text fragment file (cannot decode it as text)", path=p, hint=_FRAG_HINT
        ) from None
    finally:
        reader.close()

    if n_read == 0:
        raise InputError("fragment file has no records", path=p, hint=_FRAG_HINT)
    empty = [names[k] for k in range(n_groups) if n_fragments[k] == 0]
    if empty:
        raise InputError(
            f"barcode group(s) {', '.join(map(repr, empty))} match no fragment in the file; "
            f"barcodes that do occur include: {', '.join(example_barcodes)}",
            path=p,
            hint="check the barcodes (suffixes such as '-1' must match the file exactly)",
        )
    region_chroms = list(boundaries)
    on = [c for c in region_chroms if c in file_chroms]
    if region_chroms and not on:
        raise InputError(
            f"no fragment lies on any chromosome of the regions: regions use {_few(region_chroms)}; "
            f"the fragment file has {_few(file_chroms)}",
            path=p,
            hint=chromosome_hint(region_chroms, file_chroms, "fragment file")
            or "use regions and fragments from the same genome assembly",
        )
    absent = [c for c in region_chroms if c not in file_chroms]
    if absent:
        log.warning(
            "%s: no fragments on %d region chromosome(s) (%s); their regions count 0",
            p,
            len(absent),
            _few(absent),
        )

    counts = np.zeros((n_regions, n_groups), dtype=np.int64)
    for name, rows in region_rows.items():
        b = boundaries[name]
        # cum[:, k] = insertions at positions < b[k]
        cum = np.cumsum(binned[name], axis=1)
        ks = np.searchsorted(b, start[rows])
        ke = np.searchsorted(b, end[rows])
        counts[rows] = (cum[:, ke] - cum[:, ks]).T
    log.debug(
        "fragment_counts: %d fragments from %s, %d regions x %d groups, %.2f s",
        n_read,
        p,
        n_regions,
        n_groups,
        time.perf_counter() - t0,
    )
    return FragmentCounts(
        counts=counts,
        groups=names,
        n_fragments=n_fragments,
        n_unmatched_barcodes=len(unmatched),
        n_unmatched_fragments=n_unmatched_fragments,
    )
