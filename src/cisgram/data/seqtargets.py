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
    gpath = str(genome or info["inputs"]["genome"])
    if not os.path.exists(gpath):
        raise InputError(f"the dataset's genome {gpath} is not there", path=dataset, hint="pass --genome")
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
