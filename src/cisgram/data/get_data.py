"""``cisgram get-data``: GET's region-by-motif data from a dataset, motifs, a TSS annotation and
initiation tracks (:func:`region_motif_data`); what is computed is described in
:mod:`cisgram.data.get`, which holds the result."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram import __version__
from cisgram.annotation import read_tss
from cisgram.data.get import ACCESSIBILITY, STRANDS, RegionMotifData, open_dataset
from cisgram.errors import InputError
from cisgram.files import require_file
from cisgram.genome import Genome

log = logging.getLogger(__name__)


def _genomic_order(var: pd.DataFrame) -> np.ndarray:
    """Row order that groups chromosomes (first appearance) and sorts by start, end inside each."""
    chrom = var["chrom"].astype(str).to_numpy()
    rank = pd.Series(pd.factorize(chrom, sort=False)[0])
    return np.lexsort((var["end"].to_numpy(np.int64), var["start"].to_numpy(np.int64), rank.to_numpy()))


def _motif_matrix(regions, genome: Genome | None, motifs, adata, *, threshold, clusters, device, batch_size,
                  progress) -> tuple[np.ndarray, tuple[str, ...], dict]:
    """Raw ``hit_score_sum`` ``(N, M)`` in the regions' order, from a scan or from the dataset's
    stored ``varm["motif_hit_score_sum"]`` (``cisgram scan`` output) when ``motifs`` is None."""
    rows = regions["dataset_row"].to_numpy()
    if motifs is None:
        if "motif_hit_score_sum" not in adata.varm or "cisgram_motifs" not in adata.uns:
            raise InputError("no motifs given and the dataset holds no hit_score_sum features",
                             hint="pass motifs=<MEME file>, or run `cisgram scan --features hit_score_sum` on the dataset")
        info = json.loads(adata.uns["cisgram_motifs"])
        return (np.asarray(adata.varm["motif_hit_score_sum"], dtype=np.float64)[rows], tuple(info["hit_columns"]),
                {"motifs": "dataset varm['motif_hit_score_sum']", "threshold": info.get("threshold")})
    from cisgram.data.regionmotif import read_motif_clusters
    from cisgram.motifs.features import region_features
    from cisgram.motifs.pwm import load_motifs

    ms = load_motifs(motifs)
    cmap = clusters if isinstance(clusters, Mapping) or clusters is None else read_motif_clusters(clusters)
    codes = genome.fetch_codes_batch(regions["chrom"].to_numpy(dtype=str), regions["start"].to_numpy(np.int64),
                                     regions["end"].to_numpy(np.int64))
    res = region_features(codes, ms, ("hit_score_sum",), threshold=threshold, clusters=cmap, device=device,
                          batch_size=batch_size, progress=progress)
    return res.features["hit_score_sum"], tuple(res.hit_columns), {"motifs": str(motifs), "threshold": threshold}


def _tss_pairs(regions: pd.DataFrame, tss: pd.DataFrame, window: int) -> pd.DataFrame:
    """Every (region row, TSS) with ``start - window <= p < end + window``: columns ``row``,
    ``strand`` (0/1), ``pos``, ``name``, sorted by (row, strand, pos)."""
    parts = []
    rchrom = regions["chrom"].to_numpy(dtype=str)
    for (chrom, strand), grp in tss.groupby(["chrom", "strand"], sort=False):
        idx = np.flatnonzero(rchrom == chrom)
        if idx.size == 0:
            continue
        grp = grp.sort_values("start")
        p = grp["start"].to_numpy(np.int64)
        lo = np.searchsorted(p, regions["start"].to_numpy(np.int64)[idx] - window, side="left")
        hi = np.searchsorted(p, regions["end"].to_numpy(np.int64)[idx] + window, side="left")
        k = hi - lo
        if not k.sum():
            continue
        rows = np.repeat(idx, k)
        j = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True) if b > a])
        parts.append(pd.DataFrame({"row": rows, "strand": STRANDS.index(strand), "pos": p[j],
                                   "name": grp["name"].to_numpy(dtype=str)[j]}))
    cols = {"row": np.int64, "strand": np.int64, "pos": np.int64, "name": str}
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    return pd.concat(parts, ignore_index=True).sort_values(["row", "strand", "pos"], kind="stable").reset_index(drop=True)


def _tss_windows(pairs: pd.DataFrame, window: int, sizes: Mapping[str, int], chrom_of_row: np.ndarray) -> pd.DataFrame:
    """Merge each (row, strand)'s TSS intervals ``[p - w, p + w + 1)`` into disjoint pieces:
    ``row, strand, chrom, start, end``."""
    if pairs.empty:
        return pd.DataFrame({"row": [], "strand": [], "chrom": [], "start": [], "end": []})
    row, strand, pos = (pairs[c].to_numpy(np.int64) for c in ("row", "strand", "pos"))
    chrom = chrom_of_row[row]
    size = pd.Series(sizes).reindex(chrom).to_numpy(np.int64)
    s, e = np.maximum(pos - window, 0), np.minimum(pos + window + 1, size)
    # pairs are sorted by (row, strand, pos) and every interval has the same length, so ends are
    # sorted inside a group: a new piece starts at a new group or where the previous one ended
    new = np.r_[True, (row[1:] != row[:-1]) | (strand[1:] != strand[:-1]) | (s[1:] > e[:-1])]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], row.size] - 1
    return pd.DataFrame({"row": row[first], "strand": strand[first], "chrom": chrom[first], "start": s[first],
                         "end": e[last]})


def _strand_sign(path: Path, strand: str, cell: str) -> None:
    """A strand track must not mix signs (plus >= 0; minus <= 0 as stored, or >= 0)."""
    from cisgram.tracks import open_bigwig

    bw = open_bigwig(path)
    try:
        h = bw.header()
    finally:
        bw.close()
    lo, hi = h.get("minVal", 0), h.get("maxVal", 0)
    if lo < 0 < hi:
        raise InputError(f"the {strand} strand initiation track of {cell!r} holds both positive and negative "
                         f"values ({lo} to {hi})", path=path,
                         hint="give one track per strand (plus positive; minus negative or positive)")
    if strand == "+" and hi <= 0 < -lo:
        log.warning("the plus-strand track of %s holds only negative values (%s); were the strands swapped?", cell, path)


def _initiation_signal(regions, windows: pd.DataFrame, tracks: Mapping[str, tuple], cells: Sequence[str]) -> np.ndarray:
    """``(C, N, 2)`` summed |signal| over each (region, strand)'s merged TSS windows."""
    from cisgram.tracks import bigwig_coverage

    out = np.zeros((len(cells), len(regions), 2), dtype=np.float64)
    for c, cell in enumerate(cells):
        if cell not in tracks:
            continue
        for k, strand in enumerate(STRANDS):
            w = windows[windows["strand"] == k]
            path = tracks[cell][k]
            _strand_sign(path, strand, cell)
            if w.empty:
                continue
            sums = np.abs(bigwig_coverage(path, w[["chrom", "start", "end"]], stat="sum"))
            np.add.at(out[c, :, k], w["row"].to_numpy(np.int64), sums)
    return out


def _parse_initiation(initiation, cells: Sequence[str]) -> dict[str, tuple[Path, Path]]:
    if initiation is None:
        return {}
    if not isinstance(initiation, Mapping):
        raise InputError("initiation must map a cell type to (plus_bigwig, minus_bigwig)")
    out = {}
    for cell, pair in initiation.items():
        if cell not in cells:
            raise InputError(f"initiation tracks for unknown cell type {cell!r}; the dataset has {', '.join(cells)}",
                             hint="name the tracks by the dataset's cell types (obs names)")
        if isinstance(pair, (str, os.PathLike)) or len(pair) != 2:
            raise InputError(f"initiation tracks of {cell!r} must be a pair (plus_bigwig, minus_bigwig)")
        out[cell] = tuple(require_file(p, f"{s} strand initiation bigWig of {cell!r}") for p, s in zip(pair, ("plus", "minus"), strict=True))
    return out


def _accessibility(adata, rows: np.ndarray, train: np.ndarray, mode: str) -> tuple[np.ndarray, list | None]:
    cells = list(map(str, adata.obs_names))
    if mode == "ones":
        return np.ones((len(cells), rows.size), dtype=np.float32), None
    layer = "logcpm" if mode == "logcpm" else "counts"
    if layer not in adata.layers:
        raise InputError(f"the dataset has no {layer!r} layer", hint="make the dataset with cisgram.data.dataset.prepare")
    x = np.asarray(adata.layers[layer], dtype=np.float64)[:, rows]
    if mode == "binary":
        return (x > 0).astype(np.float32), None
    mx = x[:, train].max(axis=1)
    zero = [c for c, v in zip(cells, mx, strict=True) if not v > 0]
    if zero:
        raise InputError(f"cell type(s) {', '.join(zero)} have no accessibility in any training region",
                         hint="check the tracks, or use accessibility='ones'")
    return (x / mx[:, None]).astype(np.float32), mx.tolist()


def region_motif_data(
    dataset,
    genome: str | os.PathLike | Genome,
    motifs: str | os.PathLike | None,
    tss: str | os.PathLike | pd.DataFrame,
    initiation: Mapping[str, tuple[str | os.PathLike, str | os.PathLike]] | None,
    *,
    tss_window: int = 300,
    accessibility: str = "logcpm",
    clip: bool = False,
    threshold: float = 1e-4,
    clusters: str | os.PathLike | Mapping[str, str] | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> RegionMotifData:
    """Build GET's region-by-motif data from a dataset (see the module docstring).

    Parameters
    ----------
    dataset
        A dataset ``.h5ad`` path or AnnData from :func:`cisgram.data.dataset.prepare`: its
        regions (``var``), split, cell types (``obs``) and ``logcpm`` / ``counts`` layers.
    genome
        The genome (path or :class:`~cisgram.genome.Genome`): sequences to scan, chromosome sizes.
    motifs
        A motif file (MEME, JASPAR, ...; :func:`cisgram.motifs.pwm.load_motifs`), e.g. the
        Vierstra archetypes; ``None`` to take ``varm["motif_hit_score_sum"]`` stored in the
        dataset by ``cisgram scan``.
    tss
        TSS annotation: a BED6 / GTF path (:func:`cisgram.annotation.read_tss`) or a table with
        ``chrom, start, strand, name`` (``start`` = the TSS base). Records with strand ``.`` are
        ignored.
    initiation
        ``{cell type: (plus_bigwig, minus_bigwig)}`` transcription-initiation tracks (the minus
        track may hold negative values). Cell types left out have ``has_targets`` False; ``None``
        for none (data for masked pre-training only).
    tss_window
        A TSS belongs to a region within this many bp, and its signal is summed over ±this.
    accessibility
        ``"logcpm"``, ``"binary"`` or ``"ones"`` (see the module docstring).
    clip
        Clip normalised motif features at 1 (GET does); off by default.
    threshold, clusters, device, batch_size, progress
        Passed to :func:`cisgram.motifs.features.region_features` (hit p-value, motif -> cluster
        map or a two-column table path, scanning device, regions per batch, progress callback).

    Raises
    ------
    InputError
        Unknown cell types, missing or mixed-sign tracks, missing layers, no TSS on the regions'
        chromosomes, no training regions, bad arguments.
    """
    if accessibility not in ACCESSIBILITY:
        raise InputError(f"unknown accessibility mode {accessibility!r}; choose from {', '.join(ACCESSIBILITY)}")
    if int(tss_window) != tss_window or tss_window < 0:
        raise InputError(f"tss_window must be a non-negative integer, got {tss_window!r}")
    tss_window = int(tss_window)
    adata = open_dataset(dataset)
    cells = tuple(map(str, adata.obs_names))
    tracks = _parse_initiation(initiation, cells)
    g = genome if isinstance(genome, Genome) else Genome(genome)

    var = adata.var
    order = _genomic_order(var)
    if not np.array_equal(order, np.arange(len(var))):
        log.info("dataset regions are not in genomic order: sorted (dataset_row keeps the original rows)")
    regions = pd.DataFrame({
        "chrom": var["chrom"].astype(str).to_numpy()[order],
        "start": var["start"].to_numpy(np.int64)[order],
        "end": var["end"].to_numpy(np.int64)[order],
        "name": adata.var_names.to_numpy(dtype=str)[order],
        "split": var["split"].astype(str).to_numpy()[order],
        "dataset_row": order.astype(np.int64),
    })
    g.check_intervals(regions["chrom"].to_numpy(), regions["start"].to_numpy(), regions["end"].to_numpy())
    train = regions["split"].to_numpy() == "train"
    if not train.any():
        raise InputError("the dataset has no training regions, which the normalisation needs")

    # motif features, normalised by training maxima
    raw, names, motif_info = _motif_matrix(regions, g, motifs, adata, threshold=threshold, clusters=clusters,
                                           device=device, batch_size=batch_size, progress=progress)
    neg = raw < 0
    if neg.any():
        log.info("%d hit_score_sum value(s) in %d column(s) were negative (motifs with a negative score threshold); "
                 "clipped at 0", int(neg.sum()), int(neg.any(axis=0).sum()))
    scores = np.maximum(raw, 0).astype(np.float32)
    mx = scores[train].max(axis=0).astype(np.float64)
    if (mx == 0).any():
        log.info("%d of %d motif column(s) have no hit in any training region; they keep a divisor of 1",
                 int((mx == 0).sum()), mx.size)
    mx[mx == 0] = 1.0

    acc, acc_max = _accessibility(adata, order, train, accessibility)

    # TSSs and targets
    t = tss if isinstance(tss, pd.DataFrame) else read_tss(tss)
    lacking = [c for c in ("chrom", "start", "strand") if c not in t]
    if lacking:
        raise InputError(f"the TSS table lacks column(s) {', '.join(lacking)}")
    t = t.assign(chrom=t["chrom"].astype(str), name=(t["name"] if "name" in t else pd.Series(".", index=t.index)).astype(str))
    stranded = t["strand"].isin(STRANDS)
    if not stranded.all():
        log.warning("%d TSS record(s) without a strand ignored", int((~stranded).sum()))
        t = t[stranded]
    if not set(t["chrom"]) & set(regions["chrom"]):
        raise InputError(f"no TSS lies on the regions' chromosomes ({', '.join(pd.unique(regions['chrom'])[:5])})",
                         path=None if isinstance(tss, pd.DataFrame) else tss,
                         hint="use a TSS annotation of the same genome assembly and chromosome names")
    pairs = _tss_pairs(regions, t, tss_window)
    has_tss = np.zeros((len(regions), 2), dtype=bool)
    has_tss[pairs["row"].to_numpy(np.int64), pairs["strand"].to_numpy(np.int64)] = True
    for k, col in enumerate(("tss_plus", "tss_minus")):
        sel = pairs[pairs["strand"] == k]
        joined = sel.groupby("row")["name"].agg(lambda s: ",".join(dict.fromkeys(s)))
        regions[col] = pd.Series(joined).reindex(np.arange(len(regions))).fillna("").to_numpy(dtype=str)
    windows = _tss_windows(pairs, tss_window, g.sizes, regions["chrom"].to_numpy(dtype=str))
    signal = _initiation_signal(regions, windows, tracks, cells) * has_tss[None]
    targets = np.log10(1.0 + signal)
    has_targets = np.array([c in tracks for c in cells], dtype=bool)

    params = {
        "version": __version__, "tss_window": tss_window, "accessibility": accessibility, "clip": bool(clip),
        "feature": "hit_score_sum", **motif_info, "accessibility_max": acc_max,
        "inputs": {"tss": "<table>" if isinstance(tss, pd.DataFrame) else str(tss), "genome": str(g.path),
                   "initiation": {c: [str(p) for p in v] for c, v in tracks.items()}},
    }
    data = RegionMotifData(regions, cells, names, scores, mx, acc, targets.astype(np.float32),
                           signal.astype(np.float32), has_tss, has_targets, params)
    s = data.summary()
    log.info("region-motif data: %d regions x %d features, TSS regions + %d / - %d", s["n_regions"], s["n_features"],
             s["tss_regions"]["+"], s["tss_regions"]["-"])
    return data
