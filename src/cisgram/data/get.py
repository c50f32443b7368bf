"""GET's region-by-motif data: per-region motif features, accessibility and per-strand
transcription targets, and the windows of consecutive regions a :class:`RegionTransformer` reads
(Fu et al., *Nature* 637:965, 2025; ``specs/get.md`` §1).

:func:`region_motif_data` turns a dataset from :func:`cisgram.data.dataset.prepare` (its union
regions, split and log CPM) plus motifs, a TSS annotation and strand-specific
transcription-initiation bigWigs into a :class:`RegionMotifData`; :class:`RegionWindows` cuts it
into samples ``x (R, F)``, ``y (R, 2)`` for :class:`cisgram.models.get.RegionTransformer`
(``F = M + 1``: ``M`` motif columns then one accessibility column; ``y`` column 0 = ``+`` strand,
1 = ``-``), either sliding over one split (training, validation) or centred on each TSS region
(:func:`tss_windows`, inference and evaluation).

What is computed
----------------
- **Region order.** Regions are kept in genomic order: each chromosome one contiguous block (in
  the dataset's order of first appearance) and, inside it, sorted by start, then end. A
  dataset already in that order (``prepare`` writes one) is kept as it is; any other is sorted,
  and ``regions["dataset_row"]`` always gives each region's row in the dataset, so every array
  taken from the dataset is permuted by the same index (GET's PBMC tutorial once paired a count
  matrix with peaks sorted differently; ``specs/get.md`` §1.6).
- **Motif features.** ``hit_score_sum`` (:func:`cisgram.motifs.features.region_features`, GET's
  summed hit scores; p < ``threshold``) per motif, or per motif cluster with ``clusters``. The
  Vierstra archetype file holds one motif per cluster, so there one column = one archetype. The
  raw sums are stored (``motif_scores``, ``(N, M)``) and divided at read time by each column's
  maximum over the **training** regions (``motif_max``; a column without any training hit keeps
  a divisor of 1 and stays 0 there), GET's normalisation variant 1 (§1.5) without its clip at 1
  unless ``clip=True``: held-out regions may exceed 1, training regions never do.
- **Accessibility column** (per cell type): ``"logcpm"`` (default) the dataset's log CPM layer
  divided by its maximum over training regions (GET's max-normalised aCPM); ``"binary"`` 1 where
  the cell type's count in the region is above 0, else 0; ``"ones"`` 1 everywhere (GET's
  "binary ATAC" mode, in which the model sees motifs only).
- **TSS and targets.** A TSS at ``p`` (strand ``s``) belongs to region ``[start, end)`` when
  ``start - tss_window <= p < end + tss_window``; ``has_tss[i, s]`` says region ``i`` holds at
  least one TSS of strand ``s``. The target of cell type ``c`` is then ``log10(1 + signal)``,
  ``signal`` the initiation track of strand ``s`` (absolute values: the minus track holds negative
  values) summed over the union of ``[p - tss_window, p + tss_window + 1)`` of the region's TSSs
  of that strand (the union, so that transcripts sharing a TSS are not counted twice). Entries
  without a TSS have target 0 and ``has_tss`` False; weigh losses and metrics by ``has_tss``.

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
- ``hit_score_sum`` columns can be negative for motifs whose p-value threshold is a negative
  log-odds score (some zinc-finger archetypes with zero-probability entries): raw sums are
  clipped at 0 before anything else, and logged.
- Targets use the TSS annotation given: with gene-level TSSs a region holding only an
  unannotated transcript's TSS has no target.
- :meth:`RegionWindows.set_epoch` must be called before a data loader starts its workers (with
  ``persistent_workers=True`` they keep the epoch they started with).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cisgram import __version__
from cisgram.annotation import read_tss
from cisgram.data.windows import item_index
from cisgram.errors import InputError
from cisgram.files import atomic_path, require_file
from cisgram.genome import Genome
from cisgram.splits import GAP, SPLITS

log = logging.getLogger(__name__)

__all__ = ["RegionMotifData", "RegionWindow", "RegionWindows", "region_motif_data", "tss_windows"]

FORMAT = "cisgram.getdata/1"
STRANDS = ("+", "-")
ACCESSIBILITY = ("logcpm", "binary", "ones")
_REGION_COLUMNS = ("chrom", "start", "end", "name", "split", "dataset_row", "tss_plus", "tss_minus")


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------
@dataclass
class RegionMotifData:
    """Regions × (motif features, accessibility, per-strand targets) of several cell types.

    ``N`` regions, ``M`` motif columns, ``C`` cell types; ``F = M + 1`` features per region.

    Attributes
    ----------
    regions
        ``N`` rows in genomic order (see the module docstring): ``chrom``, ``start``, ``end``
        (0-based, half-open), ``name``, ``split`` (``train``/``val``/``test``/``gap``),
        ``dataset_row`` (row in the source dataset), ``tss_plus`` / ``tss_minus`` (comma-joined
        names of the region's TSSs on that strand, ``""`` for none).
    cell_types
        The ``C`` cell types (the dataset's ``obs`` order).
    motif_names
        The ``M`` motif (or motif-cluster) columns.
    motif_scores
        float32 ``(N, M)``: raw ``hit_score_sum``, clipped at 0.
    motif_max
        float64 ``(M,)``: divisor of each column, its maximum over training regions (1 where
        that is 0).
    accessibility
        float32 ``(C, N)``: the accessibility column of each cell type (mode in ``params``).
    targets
        float32 ``(C, N, 2)``: ``log10(1 + signal)`` where ``has_tss``, else 0.
    signal
        float32 ``(C, N, 2)``: the summed initiation signal (non-negative) where ``has_tss``, else 0.
    has_tss
        bool ``(N, 2)``: region holds a TSS of that strand (column 0 ``+``, 1 ``-``).
    has_targets
        bool ``(C,)``: the cell type has initiation tracks (its targets are all 0 otherwise).
    params
        How it was made: ``tss_window``, ``accessibility``, ``clip``, ``threshold``, inputs,
        the accessibility maxima, the version.
    """

    regions: pd.DataFrame
    cell_types: tuple[str, ...]
    motif_names: tuple[str, ...]
    motif_scores: np.ndarray
    motif_max: np.ndarray
    accessibility: np.ndarray
    targets: np.ndarray
    signal: np.ndarray
    has_tss: np.ndarray
    has_targets: np.ndarray
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        self._validate(None)

    # -- shape ---------------------------------------------------------------------------------
    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The ``F`` input columns: the motif columns, then ``"accessibility"``."""
        return (*self.motif_names, "accessibility")

    @property
    def n_features(self) -> int:
        return len(self.motif_names) + 1

    @property
    def split(self) -> np.ndarray:
        """``(N,)`` split label of each region."""
        return self.regions["split"].to_numpy(dtype=str)

    def cell_index(self, cell: str | int) -> int:
        """Index of a cell type given by name or index; InputError naming the known ones."""
        if isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
            if not 0 <= int(cell) < len(self.cell_types):
                raise InputError(f"cell type index {cell} out of range for {len(self.cell_types)} cell types")
            return int(cell)
        if cell not in self.cell_types:
            raise InputError(f"unknown cell type {cell!r}; this data has {', '.join(self.cell_types)}",
                             hint="choose cell types by their dataset (obs) names")
        return self.cell_types.index(cell)

    # -- features ------------------------------------------------------------------------------
    def motif_features(self, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Normalised motif features of ``rows`` (default all): float32 ``(n, M)``."""
        x = self.motif_scores if rows is None else self.motif_scores[rows]
        x = x / self.motif_max.astype(np.float32)
        if self.params.get("clip", False):
            np.minimum(x, 1.0, out=x)
        return x

    def features(self, cell: str | int, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Model inputs of one cell type: float32 ``(n, F)`` (motifs, then accessibility)."""
        c = self.cell_index(cell)
        m = self.motif_features(rows)
        a = self.accessibility[c] if rows is None else self.accessibility[c, rows]
        return np.concatenate([m, a[:, None].astype(np.float32)], axis=1)

    def chromosome_bounds(self) -> dict[str, tuple[int, int]]:
        """``{chrom: (first, stop)}``: the half-open row range of each chromosome."""
        chrom = self.regions["chrom"].to_numpy(dtype=str)
        cut = np.r_[0, np.flatnonzero(chrom[1:] != chrom[:-1]) + 1, chrom.size]
        return {str(chrom[a]): (int(a), int(b)) for a, b in zip(cut[:-1], cut[1:], strict=True)}

    def segments(self) -> pd.DataFrame:
        """Maximal runs of consecutive regions on one chromosome with one split label:
        ``chrom, first, stop, split, n`` (rows ``[first, stop)``)."""
        chrom = self.regions["chrom"].to_numpy(dtype=str)
        split = self.split
        change = (chrom[1:] != chrom[:-1]) | (split[1:] != split[:-1])
        cut = np.r_[0, np.flatnonzero(change) + 1, chrom.size]
        first, stop = cut[:-1], cut[1:]
        return pd.DataFrame({"chrom": chrom[first], "first": first, "stop": stop, "split": split[first],
                             "n": stop - first})

    def summary(self) -> dict:
        """Counts for logs and reports: regions per split, features, TSS regions per strand, and
        per cell type the TSS entries with a non-zero target."""
        nz = (self.signal > 0) & self.has_tss[None]
        return {
            "n_regions": self.n_regions,
            "n_features": self.n_features,
            "n_motifs": len(self.motif_names),
            "cell_types": list(self.cell_types),
            "split": {k: int(v) for k, v in self.regions["split"].value_counts().items()},
            "tss_regions": {"+": int(self.has_tss[:, 0].sum()), "-": int(self.has_tss[:, 1].sum()),
                            "any": int(self.has_tss.any(axis=1).sum())},
            "nonzero_targets": {c: {"+": int(nz[k, :, 0].sum()), "-": int(nz[k, :, 1].sum())}
                                for k, c in enumerate(self.cell_types)},
        }

    # -- checks --------------------------------------------------------------------------------
    def _validate(self, path) -> None:
        r = self.regions
        missing = [c for c in _REGION_COLUMNS if c not in r]
        if missing:
            raise InputError(f"region table lacks column(s) {', '.join(missing)}", path=path)
        n, m, c = len(r), len(self.motif_names), len(self.cell_types)
        want = {"motif_scores": (n, m), "motif_max": (m,), "accessibility": (c, n), "targets": (c, n, 2),
                "signal": (c, n, 2), "has_tss": (n, 2), "has_targets": (c,)}
        for name, shape in want.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise InputError(f"{name} has shape {got}, expected {shape} for {n} regions, {m} motifs and "
                                 f"{c} cell types", path=path, hint="the file is damaged or not from cisgram")
        if len(set(self.motif_names)) != m or "accessibility" in self.motif_names:
            raise InputError("motif names must be unique and not 'accessibility'", path=path)
        if len(set(self.cell_types)) != c:
            raise InputError("cell type names must be unique", path=path)
        bad = sorted(set(r["split"].astype(str)) - {*SPLITS, GAP})
        if bad:
            raise InputError(f"unknown split label(s) {', '.join(bad[:5])}", path=path)
        _check_order(r, path)

    # -- storage -------------------------------------------------------------------------------
    def write(self, path: str | os.PathLike) -> None:
        """Write everything to one ``.npz`` atomically (no pickled objects; strings as unicode
        arrays, ``params`` as JSON)."""
        p = Path(path)
        if not p.name.endswith(".npz"):
            raise InputError(f"region-motif data are written as .npz, got {p.name}", hint="name the file *.npz")
        r = self.regions
        arrays = {
            "format": np.array(FORMAT),
            "cell_types": np.array(self.cell_types, dtype=str),
            "motif_names": np.array(self.motif_names, dtype=str),
            "feature_names": np.array(self.feature_names, dtype=str),
            "motif_scores": self.motif_scores, "motif_max": self.motif_max,
            "accessibility": self.accessibility, "targets": self.targets, "signal": self.signal,
            "has_tss": self.has_tss, "has_targets": self.has_targets,
            "params": np.array(json.dumps(self.params)),
        }
        for col in _REGION_COLUMNS:
            v = r[col].to_numpy()
            arrays[f"regions/{col}"] = v.astype(np.int64) if col in ("start", "end", "dataset_row") else v.astype(str)
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def read(cls, path: str | os.PathLike, *, dataset=None, feature_names: Sequence[str] | None = None) -> RegionMotifData:
        """Read a file written by :meth:`write`, checking its region order and shapes; with
        ``dataset`` (a path or AnnData) also that its regions are that dataset's, and with
        ``feature_names`` (e.g. those a model was trained on) that the features are those."""
        p = require_file(path, "region-motif data file")
        try:
            z = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"not a readable .npz file ({e})", path=p) from None
        with z:
            if "format" not in z.files or str(z["format"]) != FORMAT:
                raise InputError(f"not a cisgram region-motif data file (format {FORMAT} expected)", path=p,
                                 hint="make one with cisgram.data.get.region_motif_data(...).write(path)")
            try:
                regions = pd.DataFrame({c: z[f"regions/{c}"] for c in _REGION_COLUMNS})
                motif_names = tuple(map(str, z["motif_names"]))
                stored_features = tuple(map(str, z["feature_names"]))
                data = cls.__new__(cls)
                data.regions = regions
                data.cell_types = tuple(map(str, z["cell_types"]))
                data.motif_names = motif_names
                for k in ("motif_scores", "motif_max", "accessibility", "targets", "signal", "has_tss", "has_targets"):
                    setattr(data, k, z[k])
                data.params = json.loads(str(z["params"]))
            except KeyError as e:
                raise InputError(f"region-motif data file lacks {e}", path=p) from None
        data._validate(p)
        if stored_features != data.feature_names:
            raise InputError("the stored feature names do not match the motif names", path=p)
        if feature_names is not None and tuple(feature_names) != data.feature_names:
            diff = next((i for i, (a, b) in enumerate(zip(feature_names, data.feature_names, strict=False)) if a != b),
                        min(len(feature_names), data.n_features))
            raise InputError(f"features differ from those expected: {data.n_features} stored vs {len(feature_names)} "
                             f"expected, first difference at column {diff}", path=p,
                             hint="build the data with the motifs the model was trained on")
        if dataset is not None:
            adata = _open_dataset(dataset)
            names = adata.var_names.to_numpy(dtype=str)
            rows = regions["dataset_row"].to_numpy()
            if len(names) != len(regions) or not np.array_equal(names[rows], regions["name"].to_numpy(dtype=str)):
                raise InputError("these region-motif data were not built from this dataset (regions differ)", path=p,
                                 hint="rebuild them with region_motif_data(dataset, ...)")
        return data


def _check_order(regions: pd.DataFrame, path=None) -> None:
    """Each chromosome one contiguous block, sorted by (start, end) inside it."""
    chrom = regions["chrom"].to_numpy(dtype=str)
    start = regions["start"].to_numpy(dtype=np.int64)
    end = regions["end"].to_numpy(dtype=np.int64)
    cut = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    blocks = chrom[np.r_[0, cut]] if chrom.size else chrom
    if len(set(blocks)) != len(blocks):
        raise InputError("regions are not in genomic order: a chromosome's regions are split into several blocks",
                         path=path)
    same = chrom[1:] == chrom[:-1]
    bad = same & ((start[1:] < start[:-1]) | ((start[1:] == start[:-1]) & (end[1:] < end[:-1])))
    if bad.any():
        i = int(np.flatnonzero(bad)[0]) + 1
        raise InputError(f"regions are not sorted by start within {chrom[i]} (row {i}: {start[i]} after "
                         f"{start[i - 1]})", path=path)


# --------------------------------------------------------------------------------------------
# Building it
# --------------------------------------------------------------------------------------------
def _open_dataset(dataset):
    from cisgram.data.dataset import read_dataset

    if isinstance(dataset, (str, os.PathLike)):
        return read_dataset(dataset)
    if not hasattr(dataset, "var") or "split" not in dataset.var or "chrom" not in dataset.var:
        raise InputError("not a cisgram dataset (an AnnData with var columns chrom, start, end, split expected)",
                         hint="make one with cisgram.data.dataset.prepare")
    return dataset


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
    adata = _open_dataset(dataset)
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

    The window of focus row ``i`` starts at ``i - R // 2`` moved inside ``[a, b - R]``, where
    ``[a, b)`` is the focus's chromosome (``within="chromosome"``) or its segment
    (``within="segment"``: no region of another split in the window). The item's ``focus`` is
    ``i - first`` (``R // 2`` unless clipped). Focus regions are those with a TSS (of ``strand``
    when given, ``"+"`` or ``"-"``) in ``split`` (any when None); those whose chromosome or
    segment holds fewer than ``R`` regions are left out (logged). No jitter.

    Raises
    ------
    InputError
        As :class:`RegionWindows`, a bad ``within`` / ``strand``, no TSS region at all.
    """
    if within not in ("chromosome", "segment"):
        raise InputError(f"within must be 'chromosome' or 'segment', got {within!r}")
    if strand is not None and strand not in STRANDS:
        raise InputError(f"strand must be '+', '-' or None, got {strand!r}")
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)} or None")
    self = RegionWindows.__new__(RegionWindows)
    self._setup(data, cell_types, n_regions, 0, require_targets)
    self.split, self.stride, self.jitter = split, 0, 0
    R = self.n_regions
    tss = data.has_tss[:, STRANDS.index(strand)] if strand else data.has_tss.any(axis=1)
    if split is not None:
        tss = tss & (data.split == split)
    focus = np.flatnonzero(tss)
    if focus.size == 0:
        raise InputError(f"no TSS region{' of strand ' + strand if strand else ''}"
                         f"{' in the ' + split + ' split' if split else ''}")
    if within == "chromosome":
        bounds = pd.DataFrame([(a, b) for a, b in data.chromosome_bounds().values()], columns=["first", "stop"])
    else:
        bounds = data.segments()[["first", "stop"]]
    k = np.searchsorted(bounds["first"].to_numpy(), focus, side="right") - 1
    a, b = bounds["first"].to_numpy()[k], bounds["stop"].to_numpy()[k]
    fits = (b - a) >= R
    if not fits.any():
        raise InputError(f"n_regions={R} is larger than every {within} holding a TSS region (the largest holds "
                         f"{int((b - a).max())})", hint=f"use n_regions <= {int((b - a).max())}")
    if not fits.all():
        log.info("%d TSS region(s) on a %s shorter than %d regions left out", int((~fits).sum()), within, R)
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
    """Windows of a :class:`~cisgram.data.get.RegionWindows` with a random region mask.

    Item ``i`` in epoch ``e`` masks exactly ``floor(ratio * R)`` regions drawn from a generator
    seeded by ``(seed, e, i)`` (:func:`~cisgram.data.get.random_region_mask`); with
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
