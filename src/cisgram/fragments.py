"""Tn5 insertions from 10x-style fragment files, counted per region and barcode group.

:func:`fragment_counts` counts **Tn5 insertion sites**: each fragment ``(start, end)`` gives
two insertions, at ``start`` and at ``end - 1`` (0-based). 10x Genomics (Cell Ranger ATAC /
ARC) fragment files are already corrected for the Tn5 shift (+4 / -5), so no shift is
applied here; shift your file first if it is not. Each fragment record counts once: the
fifth column (how many read pairs were collapsed into it as PCR duplicates) is ignored.
Per-base insertion tracks (``cisgram tracks insertions``) are counted by
:mod:`cisgram.insertions` on this module's :func:`read_fragment_chunks` and :func:`barcode_index`.

How it stays bounded in memory
------------------------------
* The file is streamed with :func:`pandas.read_csv` in chunks of ``chunksize``
  records. Per chromosome, the sorted unique region boundaries ``B`` split the chromosome into
  bins; insertions are binned with ``searchsorted(B, pos, side="right")`` and accumulated per
  group. The count of a region is then ``C(end) - C(start)`` with ``C(x)`` the number of
  insertions at positions ``< x``, which is exact for overlapping and nested regions too.
  Memory is O(chunksize + number of regions x groups). The file need not be sorted and a tabix
  index is not needed (or used).

Pitfalls
--------
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

from cisgram.errors import InputError, few
from cisgram.files import compressed_errors, is_gzipped, open_text, require_file
from cisgram.genome import chromosome_hint
from cisgram.tracks import check_regions

log = logging.getLogger(__name__)

__all__ = ["FragmentCounts", "barcode_index", "fragment_counts", "read_fragment_chunks"]


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
    chrom, start, end = check_regions(regions)
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
    n_read = 0
    t0 = time.perf_counter()
    for _, chunk, s, e in read_fragment_chunks(p, need, chunksize):
        n_read += len(chunk)
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
            flat = np.concatenate((gg * nb + np.searchsorted(b, s[sel], side="right"),
                                   gg * nb + np.searchsorted(b, e[sel] - 1, side="right")))
            binned[name] += np.bincount(flat, minlength=n_groups * nb).reshape(n_groups, nb)

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
            f"no fragment lies on any chromosome of the regions: regions use {few(region_chroms)}; "
            f"the fragment file has {few(file_chroms)}",
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
            few(absent),
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


# --------------------------------------------------------------------------------------------
# streaming records and barcode lists (shared with :mod:`cisgram.insertions`)
# --------------------------------------------------------------------------------------------


def read_fragment_chunks(path, need: int = 3, chunksize: int = 2_000_000):
    """Yield ``(first_line, chunk, start, end)`` for every ``chunksize`` records of a fragment file.

    ``chunk`` holds the first ``need`` columns (0 chrom and 3 barcode as categories),
    ``start`` / ``end`` are int64 and ``first_line`` is the file line of the chunk's first
    record. Raises :class:`InputError` naming the file and line, as :func:`fragment_counts` does,
    for a missing field, a non-integer position, ``start >= end``, a file that is not text or has
    no records, or one with the column count of another format.
    """
    p = require_file(path, "fragment file")
    try:
        n_header, n_cols = _peek(p)
    except UnicodeDecodeError:
        raise InputError("not a text fragment file (cannot decode it as text)", path=p, hint=_FRAG_HINT) from None
    if n_cols == 0:
        raise InputError("fragment file has no records", path=p, hint=_FRAG_HINT)
    if n_cols < need:
        raise InputError(
            f"records have {n_cols} tab-separated column(s), need at least {need}"
            + (" (the barcode is column 4)" if need == 4 else ""),
            path=p, line=n_header + 1, hint=_FRAG_HINT,
        )
    if n_cols > 6:
        raise InputError(
            f"records have {n_cols} tab-separated columns, but a fragment file has 3 to 5 "
            "(chrom, start, end, barcode, count)" + (": this looks like a narrowPeak file" if n_cols == 10 else ""),
            path=p, line=n_header + 1,
            hint="give a bigWig or a fragment file as a track; peak files go to --peaks",
        )
    n_read = 0
    with compressed_errors(p):
        try:
            reader = pd.read_csv(
                p, sep="\t", header=None, skiprows=n_header, usecols=list(range(need)),
                dtype={0: "category", 3: "category"}, compression="gzip" if is_gzipped(p) else None,
                chunksize=int(chunksize), na_filter=True, keep_default_na=False, na_values=[""],
            )
        except pd.errors.EmptyDataError:
            raise InputError("fragment file has no records", path=p, hint=_FRAG_HINT) from None
        try:
            for chunk in reader:
                first_line = n_header + n_read + 1
                n_read += len(chunk)
                missing = chunk.isna().to_numpy().any(axis=1)
                if missing.any():
                    raise InputError(
                        f"record has fewer than {need} tab-separated columns (or an empty field)",
                        path=p, line=first_line + int(np.flatnonzero(missing)[0]), hint=_FRAG_HINT,
                    )
                s = _positions(chunk[1], "start", p, first_line)
                e = _positions(chunk[2], "end", p, first_line)
                bad = (s < 0) | (s >= e)
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise InputError(
                        f"fragment {chunk[0].iloc[i]}:{s[i]}-{e[i]} has start < 0 or start >= end",
                        path=p, line=first_line + i, hint="coordinates are 0-based, half-open: start < end",
                    )
                yield first_line, chunk, s, e
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot parse the fragment file ({str(exc).strip()})", path=p, hint=_FRAG_HINT) from None
        except UnicodeDecodeError:
            raise InputError("not a text fragment file (cannot decode it as text)", path=p, hint=_FRAG_HINT) from None
        finally:
            reader.close()
    if n_read == 0:
        raise InputError("fragment file has no records", path=p, hint=_FRAG_HINT)


def barcode_index(path, barcodes: Sequence[str]) -> pd.Index:
    """The barcodes of one pseudo-bulk, checked as :func:`fragment_counts` checks a group (a
    non-empty list of strings); ``path`` is named in the error."""
    return _check_groups(path, {"barcodes": barcodes})[1]
