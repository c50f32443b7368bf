"""GET's region-by-motif data: per-region motif features, accessibility and per-strand
transcription targets, and the windows of consecutive regions a :class:`RegionTransformer` reads
(Fu et al., *Nature* 637:965, 2025; ``specs/get.md`` §1).

:func:`cisgram.data.get_data.region_motif_data` turns a dataset from
:func:`cisgram.data.dataset.prepare` (its union regions, split and log CPM) plus motifs, a TSS
annotation and strand-specific transcription-initiation bigWigs into the :class:`RegionMotifData`
this module holds (``.npz`` on disk); :class:`cisgram.data.get_windows.RegionWindows` cuts it into
samples ``x (R, F)``, ``y (R, 2)`` for :class:`cisgram.models.get.RegionTransformer`
(``F = M + 1``: ``M`` motif columns then one accessibility column; ``y`` column 0 = ``+`` strand,
1 = ``-``), either sliding over one split (training, validation) or centred on each TSS region
(:func:`cisgram.data.get_windows.tss_windows`, inference and evaluation).

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

Pitfalls
--------
- ``hit_score_sum`` columns can be negative for motifs whose p-value threshold is a negative
  log-odds score (some zinc-finger archetypes with zero-probability entries): raw sums are
  clipped at 0 before anything else, and logged.
- Targets use the TSS annotation given: with gene-level TSSs a region holding only an
  unannotated transcript's TSS has no target.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_path, require_file
from cisgram.splits import GAP, SPLITS

log = logging.getLogger(__name__)

__all__ = ["RegionMotifData"]

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
                                 hint="make one with cisgram.data.get_data.region_motif_data(...).write(path)")
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
            adata = open_dataset(dataset)
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
def open_dataset(dataset):
    from cisgram.data.dataset import read_dataset

    if isinstance(dataset, (str, os.PathLike)):
        return read_dataset(dataset)
    if not hasattr(dataset, "var") or "split" not in dataset.var or "chrom" not in dataset.var:
        raise InputError("not a cisgram dataset (an AnnData with var columns chrom, start, end, split expected)",
                         hint="make one with cisgram.data.dataset.prepare")
    return dataset
