"""Regions and targets for sequence models: a dataset's peaks plus GC-matched background windows.

:func:`sequence_targets` turns a dataset from ``cisgram prepare`` into the table a sequence model
trains on, one row per region, in the dataset's split:

- ``task="classification"``: one target, ``peak``: 1 on the dataset's (union) peaks, 0 on
  GC-matched background windows drawn from the same split (:func:`~cisgram.data.windows.background_windows`);
- ``task="regression"``, ``signal="logcounts"``: ``log(1 + counts)`` of each condition over the
  region, on peaks and on background windows measured from the dataset's own tracks, so the
  model sees closed chromatin as well as the range of open chromatin (ChromBPNet's count head);
- ``task="regression"``, ``signal="access"``: the access probability (or, with ``vs``, the dAP
  target of :func:`~cisgram.data.dataset.dataset_target`) on peaks only, the same rows and
  numbers the biophysical model and the baselines learn, for a like-for-like comparison.

Rows of the split's ``gap`` are left out. Background rows are named ``bg:chrom:start-end``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError

SIGNALS = ("logcounts", "access")


@dataclass
class SequenceTargets:
    """``regions`` (region, chrom, start, end, kind = peak | background), ``Y`` ``(R, T)``
    (NaN where a target does not score a row), ``split`` ``(R,)``."""

    regions: pd.DataFrame
    Y: np.ndarray
    split: np.ndarray
    targets: list[str]
    target_params: list[dict]
    genome: str
    split_dict: dict


def dataset_genome(dataset, info: dict, genome=None) -> str:
    """The genome to read a dataset's sequences from: ``genome`` when given, else the one the
    dataset was prepared with (a relative path is tried from the working directory, then from the
    dataset's own directory); an :class:`InputError` when it is not there."""
    if genome is not None:
        candidates = [Path(genome)]
    else:
        stored = Path(info["inputs"]["genome"])
        candidates = [stored] if stored.is_absolute() else [stored, Path(dataset).parent / stored]
    for c in candidates:
        if c.exists():
            return str(c)
    raise InputError(f"the dataset's genome {candidates[0]} is not there", path=dataset, hint="pass --genome")


def sequence_targets(dataset: str | os.PathLike, *, task: str = "regression", signal: str = "logcounts",
                     targets: Sequence[str] = (), vs: str | None = None, background: float = 1.0,
                     genome: str | os.PathLike | None = None, seed: int = 0,
                     progress: Callable[[str], None] | None = None) -> SequenceTargets:
    """The rows and targets described in the module docstring. ``background`` is the number of
    background windows per peak (0 for none); ``targets`` default to every condition."""
    from cisgram.data.dataset import (
        dataset_info,
        dataset_split,
        dataset_target,
        measure_tracks,
        parse_track,
        read_dataset,
    )
    from cisgram.data.windows import background_windows
    from cisgram.genome import Genome

    say = progress or (lambda msg: None)
    if signal not in SIGNALS:
        raise InputError(f"unknown signal {signal!r}", hint=f"choose one of {', '.join(SIGNALS)}")
    if background < 0:
        raise InputError(f"--background must be 0 or more background windows per peak, got {background}")
    adata = read_dataset(dataset)
    info = dataset_info(adata)
    gpath = dataset_genome(dataset, info, genome)
    conditions = list(adata.obs_names)
    v = adata.var
    keep = v["split"].astype(str).to_numpy() != "gap"
    peaks = pd.DataFrame({"region": v.index.to_numpy()[keep], "chrom": v["chrom"].to_numpy()[keep],
                          "start": v["start"].to_numpy(np.int64)[keep], "end": v["end"].to_numpy(np.int64)[keep],
                          "split": v["split"].astype(str).to_numpy()[keep], "kind": "peak"})
    if task == "classification":
        if targets or vs:
            raise InputError("classification learns peak vs background: --target and --vs are for regression")
        names, params = ["peak"], [{"label": "peak vs GC-matched background"}]
        if background <= 0:
            raise InputError("classification needs background windows", hint="give --background above 0")
        y_peak = np.ones((len(peaks), 1))
    elif signal == "access":
        if background > 0:
            raise InputError("access probabilities exist on peaks only", hint="give --background 0 with --signal access")
        names, params, cols = [], [], []
        for t in targets or conditions:
            tg = dataset_target(adata, t, vs=vs)
            cols.append(np.where(tg.mask, tg.y, np.nan)[keep])
            names.append(tg.name)
            params.append(tg.params)
        y_peak = np.column_stack(cols)
    else:
        if vs:
            raise InputError("--vs makes a dAP target: use it with --signal access")
        names = list(targets or conditions)
        missing = [t for t in names if t not in conditions]
        if missing:
            raise InputError(f"no condition {', '.join(map(repr, missing))} in the dataset",
                             path=dataset, hint=f"conditions: {', '.join(conditions)}")
        idx = [conditions.index(t) for t in names]
        y_peak = np.log1p(np.asarray(adata.layers["counts"], dtype=np.float64).T[keep][:, idx])
        params = [{"condition": t, "signal": "log(1 + counts)"} for t in names]
    parts, ys = [peaks], [y_peak]
    if background > 0:
        g = Genome(gpath)
        bg = background_windows(g, peaks, dataset_split(adata), ratio=background, seed=seed)
        say(f"{len(bg):,} GC-matched background windows ({background:g} per peak)")
        if task == "classification":
            y_bg = np.zeros((len(bg), 1))
        else:
            tracks = info["inputs"].get("tracks") or []
            if not tracks:
                raise InputError("this dataset was built from a count table: background windows cannot be measured",
                                 path=dataset, hint="give --background 0")
            specs = {s.name: s for s in map(parse_track, tracks)}
            counts, _ = measure_tracks([specs[t] for t in names], bg, None)
            y_bg = np.log1p(counts)
            say(f"measured {len(names)} track(s) over the background windows")
        parts.append(pd.DataFrame({"region": bg["name"].to_numpy(), "chrom": bg["chrom"].to_numpy(),
                                   "start": bg["start"].to_numpy(np.int64), "end": bg["end"].to_numpy(np.int64),
                                   "split": bg["split"].astype(str).to_numpy(), "kind": "background"}))
        ys.append(y_bg)
    rows = pd.concat(parts, ignore_index=True)
    Y = np.vstack(ys).astype(np.float64)
    if not (rows["split"] == "train").any() or not (rows["split"] == "val").any():
        raise InputError("the split leaves no training or no validation regions", path=dataset)
    return SequenceTargets(rows[["region", "chrom", "start", "end", "kind"]], Y, rows["split"].to_numpy(),
                           names, params, gpath, info["split"])






@dataclass
class TrainingData:
    """A dataset's regions, sequences and targets: ``codes`` ``(R, L)``, ``Y`` ``(R, T)`` in
    [0, 1] (NaN where a target does not model the region), ``split`` ``(R,)`` labels."""

    regions: pd.DataFrame
    codes: np.ndarray
    Y: np.ndarray
    split: np.ndarray
    targets: list[str]
    target_params: list[dict]
    genome: str
    split_dict: dict


def training_data(dataset: str | os.PathLike, targets: Sequence[str], *, vs: str | None = None,
                  genome: str | os.PathLike | None = None, min_tss_distance: float = 5000.0,
                  background: float = 0.0, seed: int = 0) -> TrainingData:
    """Load a dataset from ``cisgram prepare`` with one column per target (``vs`` makes each
    target the dAP ``target − vs`` on distal regions) and the sequences of its regions.

    ``background`` > 0 adds that many GC-matched background windows per region (matched within
    each split, :func:`~cisgram.data.windows.background_windows`, seeded by ``seed``; they overlap
    no region of the dataset), with access probability 0 for every target: a window away from
    every peak of every condition is closed chromatin, the floor of the AP scale. ``regions``
    then has a ``kind`` column (``peak`` | ``background``) and background rows are named
    ``bg:chrom:start-end``. A dAP target (``vs``) refuses background: dAP is a difference
    between two conditions' accessibility, min-max scaled on training peaks; on a closed window
    it is not measured (0 − 0 would land mid-scale as "no difference", and thousands of such
    rows would swamp the differential signal IceQream fits).
    """
    from cisgram.data.dataset import dataset_info, dataset_split, dataset_target, read_dataset
    from cisgram.data.windows import background_windows
    from cisgram.genome import Genome

    if not targets:
        raise InputError("no target given", hint="pass --target CONDITION (one or more)")
    if len(set(targets)) != len(targets):
        raise InputError(f"a target is given twice: {', '.join(targets)}")
    adata = read_dataset(dataset)
    info = dataset_info(adata)
    gpath = dataset_genome(dataset, info, genome)
    cols, names, params = [], [], []
    split = adata.var["split"].astype(str).to_numpy()
    for t in targets:
        tg = dataset_target(adata, t, vs=vs, min_tss_distance=min_tss_distance)
        cols.append(np.where(tg.mask, tg.y, np.nan))
        names.append(tg.name)
        params.append(tg.params)
    v = adata.var
    g = Genome(gpath)
    widths = (v["end"] - v["start"]).unique()
    if len(widths) != 1:
        raise InputError("the dataset's regions have different widths", path=dataset)
    codes = g.fetch_codes_batch(v["chrom"].to_numpy(), v["start"].to_numpy(), v["end"].to_numpy())
    regions = v[["chrom", "start", "end"]].reset_index()
    Y = np.column_stack(cols)
    if background < 0:
        raise InputError(f"--background must be 0 or more background windows per region, got {background}")
    if background > 0:
        if vs is not None:
            raise InputError("a dAP target (--vs) is defined on peaks only: background windows have no "
                             "differential accessibility to learn", hint="give --background 0 with --vs")
        bg = background_windows(g, pd.DataFrame({"chrom": v["chrom"].to_numpy(), "start": v["start"].to_numpy(np.int64),
                                                 "end": v["end"].to_numpy(np.int64), "split": split}),
                                dataset_split(adata), ratio=background, seed=seed)
        bg_codes = g.fetch_codes_batch(bg["chrom"].to_numpy(), bg["start"].to_numpy(), bg["end"].to_numpy())
        regions = pd.concat([regions.rename(columns={regions.columns[0]: "region"}).assign(kind="peak"),
                             pd.DataFrame({"region": bg["name"].to_numpy(), "chrom": bg["chrom"].to_numpy(),
                                           "start": bg["start"].to_numpy(np.int64), "end": bg["end"].to_numpy(np.int64),
                                           "kind": "background"})], ignore_index=True)
        codes = np.concatenate([codes, bg_codes])
        Y = np.vstack([Y, np.zeros((len(bg), Y.shape[1]))])
        split = np.concatenate([split, bg["split"].astype(str).to_numpy()])
    return TrainingData(regions, codes, Y, split, names, params, gpath, info["split"])


def domain_label(background: float) -> str:
    """The domain a model fitted on :func:`training_data` covers, as its run records it
    (``config.json``'s ``domain``): ``"peaks"`` or ``"peaks+background (ratio r, GC-matched)"``."""
    return f"peaks+background (ratio {background:g}, GC-matched)" if background > 0 else "peaks"


def peak_rows(preds) -> dict[str, np.ndarray]:
    """``{"peaks": mask}`` over a predictions table of a run fitted with background windows (their
    regions are named ``bg:…``): the rows scored apart as ``subsets.peaks`` in metrics.json."""
    return {"peaks": ~preds["region"].astype(str).str.startswith("bg:").to_numpy()}


def track_covariates(tracks: dict[str, str], regions: pd.DataFrame) -> np.ndarray:
    """``(N, K)`` extra covariates of an IQ model: per track ``log(1 + mean signal)`` of a bigWig
    over each region (``chrom, start, end``; bases without data count as 0)."""
    from cisgram.tracks import bigwig_coverage

    cols = [np.log1p(np.clip(bigwig_coverage(path, regions, "mean"), 0, None)) for path in tracks.values()]
    return np.column_stack(cols) if cols else np.zeros((len(regions), 0))


def parse_tracks(tracks) -> dict[str, str]:
    """``NAME=FILE.bw`` strings (or a dict) -> ``{name: path}``, each file checked."""
    out: dict[str, str] = {}
    for item in (tracks.items() if isinstance(tracks, dict) else (str(t).split("=", 1) for t in tracks or ())):
        item = list(item)
        if len(item) != 2 or not item[0] or not item[1]:
            raise InputError(f"a track covariate is NAME=FILE.bw, got {'='.join(item)!r}")
        name, path = str(item[0]).strip(), str(item[1]).strip()
        if name in out:
            raise InputError(f"track covariate {name!r} is given twice")
        if not Path(path).is_file():
            raise InputError("track covariate file not found", path=path)
        out[f"track:{name}"] = path
    return out
