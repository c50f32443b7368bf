"""The reference and alternative windows of variants (:func:`variant_windows`), each centred on the
variant, of the width a sequence model reads; see :mod:`cisgram.workflows.variants` for the rule
and its pitfalls (indels shift the flanks, windows past a chromosome end are padded with N); and
the windows a run's model read with their split (:func:`training_regions`,
:func:`prediction_windows`, :func:`model_windows`), for the split of each variant
(:func:`variant_splits`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.genome import open_genome


def _slice(codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``codes[lo:hi]`` with N (4) where the slice hangs over either end."""
    out = np.full(hi - lo, 4, np.uint8)
    a, b = max(lo, 0), min(hi, codes.size)
    if a < b:
        out[a - lo: b - lo] = codes[a:b]
    return out


@dataclass
class Windows:
    """The model inputs of a variant table: ``ref`` and ``alt`` ``(N, L)`` uint8 codes (A C G T N =
    0..4), ``padded`` ``(N,)`` True where either window hangs over a chromosome end (N-padded),
    and ``ref_start`` ``(N,)``: where the REF span starts inside the reference window."""

    ref: np.ndarray
    alt: np.ndarray
    padded: np.ndarray
    ref_start: np.ndarray


def variant_windows(table: pd.DataFrame, genome, length: int) -> Windows:
    """Reference and alternative windows of ``length`` bp centred on each variant (see the module
    docstring for the construction). ``table`` has ``chrom``, ``pos`` (1-based), ``ref``, ``alt``,
    as from :func:`read_vcf`; alleles longer than ``length`` raise :class:`InputError`."""
    from cisgram.genome import encode

    g = open_genome(genome)
    n, L = len(table), int(length)
    ref_w = np.empty((n, L), np.uint8)
    alt_w = np.empty((n, L), np.uint8)
    padded = np.zeros(n, bool)
    starts = np.zeros(n, np.int64)
    chroms = table["chrom"].to_numpy(dtype=object)
    pos = table["pos"].to_numpy(dtype=np.int64)
    refs = table["ref"].to_numpy(dtype=object)
    alts = table["alt"].to_numpy(dtype=object)
    for chrom in dict.fromkeys(chroms):
        codes = g.chromosome_codes(chrom)
        for i in np.flatnonzero(chroms == chrom):
            s = int(pos[i]) - 1
            r, a = len(refs[i]), len(alts[i])
            if r > L or a > L:
                raise InputError(f"variant {chrom}:{pos[i]} has an allele longer than the {L} bp window")
            e = s + r
            lf, rf = (L - r) // 2, L - r - (L - r) // 2
            ref_w[i] = _slice(codes, s - lf, e + rf)
            la, ra = (L - a) // 2, L - a - (L - a) // 2
            alt_w[i, :la] = _slice(codes, s - la, s)
            alt_w[i, la: la + a] = encode(alts[i])
            alt_w[i, la + a:] = _slice(codes, e, e + ra)
            padded[i] = min(s - lf, s - la) < 0 or max(e + rf, e + ra) > codes.size
            starts[i] = lf
    return Windows(ref_w, alt_w, padded, starts)


# ---------------------------------------------------------------- the split a variant falls in

SPLIT_ORDER = ("train", "val", "test", "gap")  # a variant in windows of several splits takes the first


def training_regions(dataset, predictions=None) -> pd.DataFrame:
    """``chrom, start, end, split`` of every region a model was fitted, validated or tested on:
    the regions of the cisgram ``dataset`` (``.h5ad``; only its ``var`` table is read, not the
    matrices) and, from a run's ``predictions`` (``predictions.parquet``), the GC-matched
    background windows it added (rows named ``bg:chrom:start-end``)."""
    import h5py

    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem
    try:
        with h5py.File(dataset, "r") as fh:
            var = read_elem(fh["var"])
    except (OSError, KeyError) as e:
        raise InputError(f"cannot read the regions of the dataset ({e})", path=dataset) from None
    missing = [c for c in ("chrom", "start", "end", "split") if c not in var]
    if missing:
        raise InputError(f"not a cisgram dataset: its regions have no {', '.join(missing)}", path=dataset)
    parts = [pd.DataFrame({"chrom": var["chrom"].astype(str).to_numpy(), "start": var["start"].to_numpy(np.int64),
                           "end": var["end"].to_numpy(np.int64), "split": var["split"].astype(str).to_numpy()})]
    if predictions is not None:
        rows = pd.read_parquet(predictions, columns=["region", "split"]).drop_duplicates("region")
        bg = rows["region"].astype(str).str.extract(r"^bg:(.+):(\d+)-(\d+)$").dropna()
        if len(bg):
            parts.append(pd.DataFrame({"chrom": bg[0].to_numpy(), "start": bg[1].astype(np.int64).to_numpy(),
                                       "end": bg[2].astype(np.int64).to_numpy(),
                                       "split": rows.loc[bg.index, "split"].astype(str).to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def prediction_windows(predictions) -> pd.DataFrame:
    """``chrom, start, end, split`` of every window of a run's ``predictions`` table
    (``predictions.parquet``) whose rows are named by the window itself, ``chrom:start-end``
    (a ChromBPNet run's centred input windows, peaks and background alike); other names are
    skipped. An unreadable table is an :class:`InputError` naming it."""
    try:
        rows = pd.read_parquet(predictions, columns=["region", "split"]).drop_duplicates("region")
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot read the run's windows ({e})", path=predictions) from None
    parts = rows["region"].astype(str).str.extract(r"^([^:]+):(\d+)-(\d+)$").dropna()
    return pd.DataFrame({"chrom": parts[0].to_numpy(dtype=str), "start": parts[1].astype(np.int64).to_numpy(),
                         "end": parts[2].astype(np.int64).to_numpy(),
                         "split": rows.loc[parts.index, "split"].astype(str).to_numpy()})


def model_windows(regions: pd.DataFrame, length: int, *, jitter: int = 0) -> pd.DataFrame:
    """The sequence a model read around each region: ``length`` bp centred on the midpoint
    ``(start + end) // 2`` (as :class:`~cisgram.data.windows.SequenceWindows` cuts them),
    widened by the training shifts ``±jitter``. Other columns are kept."""
    out = regions.copy()
    lo = (out["start"].to_numpy(np.int64) + out["end"].to_numpy(np.int64)) // 2 - int(length) // 2 - int(jitter)
    out["start"], out["end"] = lo, lo + int(length) + 2 * int(jitter)
    return out


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint union of half-open intervals."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], np.maximum.accumulate(ends[order])
    first = np.r_[True, s[1:] > e[:-1]] if s.size else np.zeros(0, bool)
    last = np.r_[first[1:], True] if s.size else np.zeros(0, bool)
    return s[first], e[last]


def variant_splits(table: pd.DataFrame, windows: pd.DataFrame | None) -> np.ndarray:
    """``(N,)`` for each variant (``chrom``, 1-based ``pos``, ``ref``) the split of the windows
    its REF span overlaps: ``"train"`` before ``"val"``, ``"test"`` and ``"gap"``
    (:data:`SPLIT_ORDER`: a variant any training window holds was seen in training), ``"none"``
    where no window holds it, ``"unknown"`` for every variant when ``windows`` is None."""
    n = len(table)
    if windows is None:
        return np.full(n, "unknown", dtype=object)
    out = np.full(n, "none", dtype=object)
    chroms = table["chrom"].to_numpy(dtype=str)
    s = table["pos"].to_numpy(np.int64) - 1
    e = s + np.maximum(table["ref"].str.len().to_numpy(np.int64), 1)
    w_chrom, w_split = windows["chrom"].to_numpy(dtype=str), windows["split"].to_numpy(dtype=str)
    for label in SPLIT_ORDER[::-1]:  # the first of SPLIT_ORDER is written last
        for chrom in np.unique(chroms):
            sel = (w_chrom == chrom) & (w_split == label)
            if not sel.any():
                continue
            ws, we = _merged(windows["start"].to_numpy(np.int64)[sel], windows["end"].to_numpy(np.int64)[sel])
            rows = np.flatnonzero(chroms == chrom)
            k = np.searchsorted(ws, e[rows], side="left") - 1  # the last window starting before the span ends
            hit = (k >= 0) & (we[np.maximum(k, 0)] > s[rows])
            out[rows[hit]] = label
    return out
