"""Gene annotation: TSS points from a BED file or a GTF (gene or transcript level, strand aware).

The result is a region set (see :mod:`cisgram.intervals`) of 1 bp intervals, one per TSS:
``chrom, start, end (= start + 1), name, gene_id, strand`` and, where known, ``gene_name``,
``transcript_id``, ``gene_type``. The TSS of a ``+`` feature is its first base, of a ``-``
feature its last base (BED ``end - 1``; GTF ``end`` in 1-based closed coordinates).
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import open_text, require_file
from cisgram.intervals import read_regions

log = logging.getLogger(__name__)

_ATTR = re.compile(r'(\S+)\s+"([^"]*)"')


def tss_from_bed(path: str | os.PathLike) -> pd.DataFrame:
    """TSS points from a BED6+ file: ``start`` for ``+``/``.`` records, ``end - 1`` for ``-``."""
    bed = read_regions(path, kind="bed")
    if "strand" not in bed:
        raise InputError(
            "a TSS BED file needs 6 columns (chrom, start, end, name, score, strand)",
            path=path,
            hint="the strand says which end of each interval is the TSS",
        )
    minus = bed["strand"].to_numpy() == "-"
    pos = np.where(minus, bed["end"].to_numpy() - 1, bed["start"].to_numpy())
    out = pd.DataFrame({"chrom": bed["chrom"], "start": pos, "end": pos + 1, "name": bed["name"], "strand": bed["strand"]})
    out["gene_id"] = out["name"].str.split("|").str[-1]
    if "col7" in bed:
        out["gene_type"] = bed["col7"]
    return out


def tss_from_gtf(path: str | os.PathLike, *, level: str = "gene") -> pd.DataFrame:
    """TSS points from a GTF (plain or gzip): one per ``gene`` or per ``transcript`` feature."""
    if level not in ("gene", "transcript"):
        raise ValueError("level must be 'gene' or 'transcript'")
    p = require_file(path, "GTF file")
    rows = []
    with open_text(p) as fh:
        for n, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != 9:
                raise InputError(f"a GTF record has 9 tab-separated columns, found {len(f)}", path=p, line=n)
            if f[2] != level:
                continue
            try:
                start, end = int(f[3]), int(f[4])
            except ValueError:
                raise InputError("GTF start and end (columns 4 and 5) must be integers", path=p, line=n) from None
            if f[6] not in ("+", "-"):
                raise InputError(f"strand must be '+' or '-', found {f[6]!r}", path=p, line=n)
            attrs = dict(_ATTR.findall(f[8]))
            tss = start - 1 if f[6] == "+" else end - 1
            rows.append(
                (f[0], tss, attrs.get("gene_id", ""), attrs.get("gene_name", ""), attrs.get("transcript_id", ""),
                 attrs.get("gene_type", attrs.get("gene_biotype", "")), f[6])
            )
    if not rows:
        raise InputError(f"no '{level}' features found", path=p, hint="is this a GTF? try level='transcript' or 'gene'")
    df = pd.DataFrame(rows, columns=["chrom", "start", "gene_id", "gene_name", "transcript_id", "gene_type", "strand"])
    df["end"] = df["start"] + 1
    df["name"] = df["gene_name"].where(df["gene_name"] != "", df["gene_id"])
    if level == "transcript":
        df["name"] = df["transcript_id"] + "|" + df["gene_id"]
    cols = ["chrom", "start", "end", "name", "strand", "gene_id", "gene_name", "gene_type"]
    if level == "transcript":
        cols.append("transcript_id")
    return df[cols]


def read_tss(path: str | os.PathLike, *, level: str = "gene") -> pd.DataFrame:
    """TSS points from a BED (``.bed[.gz]``) or GTF (``.gtf[.gz]``) file, chosen by extension."""
    name = os.fspath(path).lower()
    if re.search(r"\.gtf(\.gz)?$", name):
        return tss_from_gtf(path, level=level)
    return tss_from_bed(path)
