"""Region sets: read and write BED / narrowPeak, check them against a genome, recentre and
resize, merge, and measure the distance to the nearest TSS.

A region set is a :class:`pandas.DataFrame` with columns ``chrom`` (str), ``start``, ``end``
(int64, 0-based half-open) and, when the file has them, ``name``, ``score``, ``strand``; a
narrowPeak adds ``signal``, ``pvalue``, ``qvalue`` and ``summit`` (offset from ``start``, -1 when
unknown). Further BED columns are kept as ``col7``, ``col8``, … strings. Readers validate every
record and report the file and line of the first bad one.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_write, open_text, require_file

log = logging.getLogger(__name__)

BED6 = ["chrom", "start", "end", "name", "score", "strand"]
NARROWPEAK = [*BED6, "signal", "pvalue", "qvalue", "summit"]
_HEADER_PREFIXES = ("#", "track", "browser")
_INT = re.compile(r"-?\d+")


def _data_lines(path: Path) -> tuple[list[str], np.ndarray]:
    """Non-empty, non-header lines of ``path`` and their 1-based line numbers.

    ``track``/``browser``/``#`` lines are skipped anywhere; a first line whose 2nd and 3rd fields
    are not integers (a column header such as ``chrom start end``) is skipped too.
    """
    with open_text(path) as fh:
        try:
            raw = fh.read().splitlines()
        except UnicodeDecodeError:
            raise InputError("not a text BED/narrowPeak file (binary content)", path=path) from None
    lines, numbers = [], []
    for n, line in enumerate(raw, 1):
        if not line.strip() or line.startswith(_HEADER_PREFIXES):
            continue
        lines.append(line.rstrip("\r"))
        numbers.append(n)
    if lines:
        first = re.split(r"\t|\s+", lines[0].strip())
        if len(first) >= 3 and not _INT.fullmatch(first[1]) and not _INT.fullmatch(first[2]):
            if numbers[0] == 1 or all(not raw[i].strip() or raw[i].startswith(_HEADER_PREFIXES) for i in range(numbers[0] - 1)):
                lines, numbers = lines[1:], numbers[1:]
    return lines, np.asarray(numbers, dtype=np.int64)


def _to_int(values: pd.Series, column: str, path: Path, lines: np.ndarray) -> np.ndarray:
    ok = values.str.fullmatch(r"-?\d+").to_numpy(dtype=bool)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(
            f"column {column!r} must be an integer, found {values.iloc[i]!r}",
            path=path,
            line=int(lines[i]),
        )
    return values.to_numpy().astype(np.int64)


def _to_float(values: pd.Series, column: str, path: Path, lines: np.ndarray, allow_dot: bool = False) -> np.ndarray:
    v = values.replace(".", "nan") if allow_dot else values
    out = pd.to_numeric(v, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(out) & ~v.str.lower().isin(["nan"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"column {column!r} must be a number, found {values.iloc[i]!r}", path=path, line=int(lines[i]))
    return out


def read_regions(
    path: str | os.PathLike,
    *,
    kind: str = "auto",
    genome=None,
    chroms: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a BED (3 to 6+ columns) or narrowPeak file, gzip or plain, with or without header,
    ``track`` or ``browser`` lines.

    Parameters
    ----------
    kind
        ``"bed"``, ``"narrowpeak"`` or ``"auto"`` (narrowPeak when the name ends in
        ``.narrowPeak[.gz]``, else BED).
    genome
        A :class:`cisgram.genome.Genome` (or ``dict`` of chromosome sizes) to check chromosome
        names and bounds against; errors then name the offending line.
    chroms, exclude
        Keep only regions on ``chroms`` (when given) and drop those on ``exclude`` (e.g.
        ``["chrM"]``), before the genome check. Nothing left raises :class:`InputError`.

    Returns
    -------
    DataFrame with ``chrom, start, end`` and the optional columns described in the module
    docstring. ``df.attrs["path"]`` holds the source file.
    """
    p = require_file(path, "regions file")
    if kind == "auto":
        kind = "narrowpeak" if re.search(r"\.narrowpeak(\.gz)?$", p.name, re.I) else "bed"
    if kind not in ("bed", "narrowpeak"):
        raise ValueError(f"kind must be 'auto', 'bed' or 'narrowpeak', not {kind!r}")
    lines, numbers = _data_lines(p)
    if not lines:
        raise InputError("no regions: the file holds only header or blank lines", path=p)
    sep = "\t" if "\t" in lines[0] else None
    counts = np.fromiter(
        ((ln.count("\t") + 1) if sep else len(ln.split()) for ln in lines), dtype=np.int64, count=len(lines)
    )
    ncol = int(counts[0])
    if kind == "narrowpeak" and ncol != 10:
        raise InputError(
            f"a narrowPeak record has 10 columns, this one has {ncol}",
            path=p,
            line=int(numbers[0]),
            hint="use BED (read_regions(..., kind='bed')) or fix the file",
        )
    if ncol < 3:
        raise InputError(f"a BED record needs at least 3 columns (chrom, start, end), found {ncol}", path=p, line=int(numbers[0]))
    uneven = np.flatnonzero(counts != ncol)
    if uneven.size:
        i = int(uneven[0])
        raise InputError(
            f"expected {ncol} columns like the first record, found {int(counts[i])}",
            path=p,
            line=int(numbers[i]),
        )
    table = pd.read_csv(
        io.StringIO("\n".join(lines)),
        sep="\t" if sep else r"\s+",
        header=None,
        dtype=str,
        keep_default_na=False,
        engine="c" if sep else "python",
        quoting=3,
    )
    names = NARROWPEAK if kind == "narrowpeak" else BED6[: min(ncol, 6)] + [f"col{i + 1}" for i in range(6, ncol)]
    table.columns = names
    df = pd.DataFrame({"chrom": table["chrom"].astype(str)})
    df["start"] = _to_int(table["start"], "start", p, numbers)
    df["end"] = _to_int(table["end"], "end", p, numbers)
    if "name" in table:
        df["name"] = table["name"]
    if "score" in table:
        df["score"] = _to_float(table["score"], "score", p, numbers, allow_dot=True)
    if "strand" in table:
        strand = table["strand"]
        bad = ~strand.isin(["+", "-", "."]).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"strand must be '+', '-' or '.', found {strand.iloc[i]!r}", path=p, line=int(numbers[i]))
        df["strand"] = strand
    if kind == "narrowpeak":
        for c in ("signal", "pvalue", "qvalue"):
            df[c] = _to_float(table[c], c, p, numbers)
        df["summit"] = _to_int(table["summit"], "summit", p, numbers)
    for c in names[6:] if kind == "bed" else []:
        df[c] = table[c]

    bad = np.flatnonzero((df["start"].to_numpy() < 0) | (df["start"].to_numpy() >= df["end"].to_numpy()))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"start must be >= 0 and below end, found start={df['start'].iat[i]} end={df['end'].iat[i]}",
            path=p,
            line=int(numbers[i]),
            hint="coordinates are 0-based half-open (BED)",
        )
    if "summit" in df:
        s = df["summit"].to_numpy()
        length = df["end"].to_numpy() - df["start"].to_numpy()
        # ENCODE files contain summits at offset == length (one past the end): read as the last base
        at_end = s == length
        if at_end.any():
            log.info("%s: %d summit(s) one past the peak end read as its last base", p, int(at_end.sum()))
            df["summit"] = s = np.where(at_end, length - 1, s)
        bad = np.flatnonzero((s < -1) | (s >= length))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"summit offset {s[i]} lies outside the peak (length {df['end'].iat[i] - df['start'].iat[i]})",
                path=p,
                line=int(numbers[i]),
                hint="column 10 of a narrowPeak is the summit's offset from start, or -1",
            )
    if chroms is not None or exclude:
        keep = np.ones(len(df), dtype=bool) if chroms is None else df["chrom"].isin(list(chroms)).to_numpy()
        keep &= ~df["chrom"].isin(list(exclude)).to_numpy()
        if not keep.any():
            present = ", ".join(list(dict.fromkeys(df["chrom"]))[:8])
            raise InputError(
                f"no regions left after keeping chromosomes {list(chroms) if chroms is not None else 'all'}"
                f"{f' and dropping {list(exclude)}' if exclude else ''} (the file has: {present})",
                path=p,
                hint="check the chromosome names you asked for against the file's",
            )
        df, numbers = df[keep].reset_index(drop=True), numbers[keep]
    if genome is not None:
        check_regions(df, genome, path=p, lines=numbers)
    df.attrs["path"] = str(p)
    return df


def check_regions(df: pd.DataFrame, genome, *, path=None, lines: Sequence[int] | None = None) -> None:
    """Check chromosome names and bounds of ``df`` against a Genome or a ``{chrom: size}`` dict."""
    from cisgram.genome import Genome, check_chromosomes

    path = path if path is not None else df.attrs.get("path")
    if isinstance(genome, Genome):
        genome.check_intervals(df["chrom"].to_numpy(), df["start"].to_numpy(), df["end"].to_numpy(), path=path, lines=lines)
        return
    sizes = dict(genome)
    check_chromosomes(list(dict.fromkeys(df["chrom"])), sizes, path=path)
    lengths = df["chrom"].map(sizes).to_numpy(dtype=np.int64)
    past = np.flatnonzero(df["end"].to_numpy() > lengths)
    if past.size:
        i = int(past[0])
        raise InputError(
            f"interval {df['chrom'].iat[i]}:{df['start'].iat[i]}-{df['end'].iat[i]} ends past the chromosome end ({lengths[i]:,} bp)",
            path=path,
            line=None if lines is None else int(lines[i]),
            hint="check that the regions were made for this genome assembly",
        )


def write_regions(df: pd.DataFrame, path: str | os.PathLike, *, kind: str = "auto") -> None:
    """Write regions as BED (3 or 6 columns) or narrowPeak (10 columns), atomically.

    ``kind="auto"`` writes narrowPeak when ``df`` has a ``summit`` column, else BED6 when it has
    ``name``/``strand``, else BED3. Missing BED6 fields are written as ``.``/``0``.
    """
    if kind == "auto":
        kind = "narrowpeak" if "summit" in df else ("bed6" if {"name", "strand"} & set(df) else "bed3")
    cols = {"narrowpeak": NARROWPEAK, "bed6": BED6, "bed3": BED6[:3]}[kind]
    defaults = {"name": ".", "score": 0, "strand": ".", "signal": -1.0, "pvalue": -1.0, "qvalue": -1.0, "summit": -1}
    out = pd.DataFrame({c: df[c] if c in df else defaults[c] for c in cols})
    if "score" in out:
        out["score"] = pd.to_numeric(out["score"]).fillna(0)
        if np.all(np.mod(out["score"], 1) == 0):
            out["score"] = out["score"].astype(np.int64)
    with atomic_write(path) as fh:
        out.to_csv(fh, sep="\t", header=False, index=False)


def sort_regions(df: pd.DataFrame) -> pd.DataFrame:
    """Sort by chromosome (in order of first appearance) then start and end."""
    order = {c: i for i, c in enumerate(dict.fromkeys(df["chrom"]))}
    key = df["chrom"].map(order).to_numpy()
    idx = np.lexsort((df["end"].to_numpy(), df["start"].to_numpy(), key))
    return df.iloc[idx].reset_index(drop=True)


def resize(
    df: pd.DataFrame,
    width: int,
    *,
    on: str = "summit",
    sizes: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Recentre each region and give it a fixed ``width``.

    ``on="summit"`` centres on ``start + summit`` where a narrowPeak summit is known (>= 0) and
    on the midpoint otherwise; ``on="center"`` always uses the midpoint (``(start + end) // 2``).
    With chromosome ``sizes``, windows hanging over a chromosome end are shifted inside it (width
    kept); without, they raise :class:`InputError`. The ``summit`` column becomes the centre
    offset in the new window.
    """
    if width <= 0:
        raise InputError(f"width must be positive, got {width}")
    if on not in ("summit", "center"):
        raise ValueError("on must be 'summit' or 'center'")
    start = df["start"].to_numpy(dtype=np.int64)
    end = df["end"].to_numpy(dtype=np.int64)
    centre = (start + end) // 2
    if on == "summit" and "summit" in df:
        s = df["summit"].to_numpy(dtype=np.int64)
        centre = np.where(s >= 0, start + s, centre)
    new_start = centre - width // 2
    if sizes is not None:
        from cisgram.genome import check_chromosomes

        check_chromosomes(list(dict.fromkeys(df["chrom"])), sizes, path=df.attrs.get("path"))
        lengths = df["chrom"].map(sizes).to_numpy(dtype=np.int64)
        if np.any(lengths < width):
            raise InputError(f"width {width} exceeds a chromosome's length", path=df.attrs.get("path"))
        shifted = (new_start < 0) | (new_start + width > lengths)
        if shifted.any():
            log.info("%d window(s) shifted to stay inside their chromosome", int(shifted.sum()))
        new_start = np.clip(new_start, 0, lengths - width)
    elif np.any(new_start < 0):
        i = int(np.flatnonzero(new_start < 0)[0])
        raise InputError(
            f"a {width} bp window around {df['chrom'].iat[i]}:{centre[i]} starts before the chromosome",
            path=df.attrs.get("path"),
            hint="pass the genome's chromosome sizes (sizes=genome.sizes) to shift such windows inside",
        )
    out = df.copy()
    out["start"] = new_start
    out["end"] = new_start + width
    if "summit" in out or on == "summit":
        out["summit"] = centre - new_start
    return out


def merge(df: pd.DataFrame, *, gap: int = 0) -> pd.DataFrame:
    """Merge overlapping regions (and those within ``gap`` bp; ``gap=0`` also merges book-ended
    ones). Returns ``chrom, start, end, n`` (number of input regions merged), sorted."""
    if df.empty:
        return pd.DataFrame({"chrom": [], "start": [], "end": [], "n": []})
    s = sort_regions(df[["chrom", "start", "end"]])
    chrom = s["chrom"].to_numpy()
    start = s["start"].to_numpy(dtype=np.int64)
    end = s["end"].to_numpy(dtype=np.int64)
    group = cluster_ids(chrom, start, end, gap=gap)
    g = pd.DataFrame({"chrom": chrom, "start": start, "end": end, "g": group})
    out = g.groupby("g", sort=True).agg(chrom=("chrom", "first"), start=("start", "min"), end=("end", "max"), n=("start", "size"))
    return out.reset_index(drop=True)


def cluster_ids(chrom: np.ndarray, start: np.ndarray, end: np.ndarray, *, gap: int = 0) -> np.ndarray:
    """Cluster ids for regions **sorted by (chrom, start)**: a region joins the current cluster when
    it starts within ``gap`` bp of the running maximum end on the same chromosome."""
    n = start.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new_chrom = np.ones(n, dtype=bool)
    new_chrom[1:] = chrom[1:] != chrom[:-1]
    # running max of end within each chromosome: offset chromosomes so one accumulate suffices
    cid = np.cumsum(new_chrom) - 1
    big = np.int64(1) << 40
    run_end = np.maximum.accumulate(end + cid * big) - cid * big
    new = new_chrom.copy()
    new[1:] |= start[1:] > run_end[:-1] + gap
    return np.cumsum(new) - 1


def tss_distance(regions: pd.DataFrame, tss: pd.DataFrame) -> np.ndarray:
    """Distance in bp from each region to the nearest TSS on its chromosome: 0 when a TSS lies
    inside the region, else the gap to the nearer edge; ``inf`` where the chromosome has no TSS.

    ``tss`` has ``chrom`` and ``start`` (the TSS base, 0-based), e.g. from
    :func:`cisgram.annotation.read_tss`. Returns float64 ``(n_regions,)`` in input order.
    """
    out = np.full(len(regions), np.inf)
    starts = regions["start"].to_numpy(dtype=np.int64)
    ends = regions["end"].to_numpy(dtype=np.int64)
    rchrom = regions["chrom"].to_numpy()
    for chrom, pos in tss.groupby("chrom")["start"]:
        idx = np.flatnonzero(rchrom == chrom)
        if idx.size == 0:
            continue
        p = np.sort(pos.to_numpy(dtype=np.int64))
        s, e = starts[idx], ends[idx]
        # nearest TSS at or after start, and the last one before start
        j = np.searchsorted(p, s, side="left")
        after = np.where(j < p.size, p[np.minimum(j, p.size - 1)], np.iinfo(np.int64).max)
        before = np.where(j > 0, p[np.maximum(j - 1, 0)], np.iinfo(np.int64).min // 2)
        d_after = np.where(after < e, 0, after - (e - 1))
        d_before = s - before
        out[idx] = np.minimum(d_after, d_before).astype(np.float64)
    return out


def widths(df: pd.DataFrame) -> np.ndarray:
    return (df["end"] - df["start"]).to_numpy(dtype=np.int64)


def union_regions(sets: Sequence[pd.DataFrame], width: int, *, sizes: dict[str, int] | None = None) -> pd.DataFrame:
    """Union of several region sets as non-overlapping fixed-width regions.

    Regions of all sets are pooled and overlapping ones merged; each merged cluster becomes one
    ``width`` bp region centred on the mean of its members' centres (summits when they carry
    them, as after :func:`resize`). Clusters wider than ``width`` keep only their centre, as in
    fixed-width peak sets. Regions that still overlap after recentring are merged again until
    none do. Names are ``chrom:start-end``.
    """
    pooled = pd.concat([s[["chrom", "start", "end"]].assign(
        c=(s["start"] + s["summit"]).to_numpy() if "summit" in s else ((s["start"] + s["end"]) // 2).to_numpy()
    ) for s in sets], ignore_index=True)
    if pooled.empty:
        raise InputError("no regions to unite: every region set is empty")
    while True:
        srt = sort_regions(pooled)
        cid = cluster_ids(srt["chrom"].to_numpy(), srt["start"].to_numpy(), srt["end"].to_numpy(), gap=-1)
        g = srt.assign(g=cid).groupby("g", sort=True).agg(chrom=("chrom", "first"), c=("c", "mean"))
        centre = np.round(g["c"].to_numpy()).astype(np.int64)
        merged = pd.DataFrame({"chrom": g["chrom"].to_numpy(), "start": centre - width // 2, "c": centre})
        merged["end"] = merged["start"] + width
        if sizes is not None:
            lengths = merged["chrom"].map(sizes).to_numpy(dtype=np.int64)
            merged["start"] = np.clip(merged["start"].to_numpy(), 0, lengths - width)
            merged["end"] = merged["start"] + width
        if len(merged) == len(pooled):
            break
        pooled = merged
    out = merged[["chrom", "start", "end"]].reset_index(drop=True)
    out["name"] = out["chrom"] + ":" + out["start"].astype(str) + "-" + out["end"].astype(str)
    out["score"] = 0
    out["strand"] = "."
    return out





_REGION = re.compile(r"^\s*([^:\s]+):([\d,]+)-([\d,]+)\s*$")


def parse_region(region) -> tuple[str, int, int]:
    """``"chr22:1000-1500"`` (0-based, half-open as in BED; commas allowed) or a ``(chrom, start,
    end)`` tuple -> ``(chrom, start, end)``."""
    if isinstance(region, str):
        m = _REGION.match(region)
        if not m:
            raise InputError(f"region {region!r} is not CHROM:START-END", hint="e.g. chr22:1000-1500 (0-based, half-open)")
        chrom, start, end = m.group(1), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    else:
        try:
            chrom, start, end = region
            chrom, start, end = str(chrom), int(start), int(end)
        except (TypeError, ValueError):
            raise InputError(f"region {region!r} is not (chrom, start, end)") from None
    if not 0 <= start < end:
        raise InputError(f"region {chrom}:{start}-{end} is empty or negative", hint="START must be below END (0-based)")
    return chrom, start, end
