"""``cisgram calibrate``: a ChromBPNet run's predicted log counts mapped onto a dataset's
access-probability (AP) or differential (dAP) target by a linear calibration fitted on the
dataset's **validation** regions only, written as a run directory that ``cisgram compare``
places beside the IQ, CNN and baseline runs of that dataset (:func:`calibrate_counts`).

Why a calibration: a ChromBPNet count head predicts ``log(1 + insertions)`` in its output window
of its own track, while the dataset's targets are access probabilities (the constitutive-peak
normalised signal of ``cisgram prepare``, in [0, 1]) or their differences. Pearson r is blind to
a linear map, but R², the ensembles of ``cisgram compare`` and any reading on the AP scale are
not; the map is fitted where choices may be made (validation), never on test.

The map
    AP target: ``AP ≈ a + b · log_count`` (least squares on validation).
    dAP target (``vs``, two runs: one for the target's cell type, one for ``vs``'s):
    ``dAP ≈ a + b₁ · log_count_target + b₂ · log_count_vs`` (least squares on validation). With
    ``b₁ = −b₂`` this would be the log fold change; the free fit lets the two depths differ.
What is predicted
    Each dataset region recentred to the run's input width (its output window centred on the
    region), the forward strand, with the full model (bias and accessibility: what was fitted to
    the observed counts) or, ``bias_free``, the accessibility model alone.
Leakage
    A ChromBPNet run trained with ``--dataset`` of the same dataset holds out exactly its
    validation and test regions. Any other run's split is applied to the dataset's regions, and
    a dataset validation or test region that the run trained on is an :class:`InputError`:
    calibrating on it, or scoring it, would reward memorisation.
Files (a prediction-only run directory, ``family`` ``"calibrated"``)
    ``config.json`` (the source runs, dataset, target, part, the fitted map), ``split.json`` (the
    dataset's), ``predictions.parquet`` (region, target, observed, predicted, split, plus
    ``log_count`` and ``log_count_vs``), ``calibration.json``, ``metrics.json`` last (with the
    sources' ``n_params`` and ``train_seconds`` summed, for ``cisgram compare``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cisgram.data.targets import training_data
from cisgram.errors import InputError
from cisgram.metrics import most_common_share, pearson
from cisgram.results import RunResult
from cisgram.splits import Split
from cisgram.workflows.rundir import (
    finish_run,
    load,
    metrics_table,
    path_entries,
    predictions_table,
    start_run,
)

log = logging.getLogger(__name__)

FAMILY = "calibrated"


def calibrate_counts(run, dataset, target: str, out, *, vs: str | None = None, vs_run=None,
                     bias_free: bool = False, genome=None, batch_size: int = 256, device: str = "cpu",
                     progress: Callable[[str], None] | None = None) -> RunResult:
    """Map the log counts of the ChromBPNet run ``run`` (and ``vs_run`` for a dAP target ``target``
    − ``vs``) onto ``dataset``'s target by least squares on its validation regions; write the run
    directory ``out`` (see the module docstring) and return its :class:`~cisgram.results.RunResult`.

    ``genome`` defaults to the dataset's; ``bias_free`` predicts with the accessibility model
    alone. A ``vs`` without ``vs_run`` (or the reverse), a source run that is not a ChromBPNet
    run, or a source whose training split holds the dataset's validation or test regions is an
    :class:`InputError`."""
    say = progress or (lambda msg: None)
    if (vs is None) != (vs_run is None):
        raise InputError("a dAP target needs two ChromBPNet runs: give --vs CONDITION with a second run "
                         "(the vs condition's), or neither", hint="cisgram calibrate RUN_A RUN_B -T A --vs B ...")
    data = training_data(dataset, [target], vs=vs, genome=genome)
    sources = [load(run, family="chrombpnet")] + ([load(vs_run, family="chrombpnet")] if vs_run is not None else [])
    for s in sources:
        _check_no_leak(s, data, dataset)
    g = sources[0].genome(data.genome)
    X = np.empty((len(data.regions), len(sources)))
    for k, s in enumerate(sources):
        say(f"predicting {len(data.regions):,} regions with {s.path.name} ({'bias-free' if bias_free else 'full'} model)")
        X[:, k] = s.predict(regions=data.regions[["chrom", "start", "end"]], genome=g, bias_free=bias_free,
                            batch_size=batch_size, device=device).to_numpy()[:, 0]
    y = data.Y[:, 0]
    val = (data.split == "val") & np.isfinite(y)
    if val.sum() < len(sources) + 2:
        raise InputError(f"only {int(val.sum())} validation region(s) with a finite {data.targets[0]} target: too few "
                         "to fit the calibration", path=dataset)
    A = np.column_stack([np.ones(int(val.sum())), X[val]])
    coef, *_ = np.linalg.lstsq(A, y[val], rcond=None)
    pred = (coef[0] + X @ coef[1:])[:, None]
    calibration = {"fitted_on": "val", "n_val": int(val.sum()), "intercept": float(coef[0]),
                   "slopes": [float(c) for c in coef[1:]], "inputs": ["log_count"] + (["log_count_vs"] if vs else []),
                   "val_pearson_log_count": [pearson(y[val], X[val, k]) for k in range(len(sources))],
                   "part": "bias_free" if bias_free else "full"}
    preds = predictions_table(data, pred)
    ok = np.isfinite(y)
    preds["log_count"] = X[ok, 0]
    if vs is not None:
        preds["log_count_vs"] = X[ok, 1]
    metrics = metrics_table(preds, FAMILY)
    for (split, name), grp in preds.groupby(["split", "target"], sort=False):  # the constant-output check of every family
        if name in metrics.get(split, {}):
            metrics[split][name]["most_common_share"] = most_common_share(grp["log_count"].to_numpy())
    src_metrics = [_read_metrics(s.path) for s in sources]
    metrics["n_params"] = int(sum(m.get("n_params") or 0 for m in src_metrics)) + len(coef)
    metrics["train_seconds"] = float(sum(m.get("train_seconds") or 0.0 for m in src_metrics))
    metrics["calibration"] = calibration
    conf = {"family": FAMILY, "source_family": "chrombpnet",
            **path_entries(run=run, vs_run=vs_run, dataset=dataset, genome=data.genome),
            "targets": [target], "vs": vs, "target_name": data.targets[0], "part": calibration["part"],
            "target_params": data.target_params, "calibration": calibration,
            "source_targets": [s.targets[0] for s in sources], "input_len": sources[0].length}
    d = start_run(out)
    finish_run(d, config=conf, split=data.split_dict, metrics=metrics, predictions=preds,
               extra={"calibration.json": calibration})
    return RunResult(d, FAMILY, conf, metrics, preds)


def _read_metrics(path: Path) -> dict:
    f = Path(path) / "metrics.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _check_no_leak(source, data, dataset: str | os.PathLike) -> None:
    """Refuse a source run whose training split holds a validation or test region of the dataset."""
    given = source.config.get("dataset")
    if given is not None and Path(given).resolve() == Path(dataset).resolve():
        return
    spec = source.config.get("split")
    if not isinstance(spec, dict):
        log.warning("run %s records no split; cannot check that it did not train on the dataset's held-out regions",
                    source.path)
        return
    theirs = Split.from_dict(spec).assign(data.regions[["chrom", "start", "end"]])
    bad = np.isin(data.split, ("val", "test")) & (theirs == "train")
    if bad.any():
        r = data.regions.iloc[int(np.flatnonzero(bad)[0])]
        raise InputError(f"run {source.path} trained on {int(bad.sum())} of the dataset's validation/test regions "
                         f"(e.g. {r['chrom']}:{r['start']}-{r['end']}, {data.split[bad][0]} in the dataset)",
                         path=source.path, hint="train the ChromBPNet run with --dataset DATASET so it holds out the "
                                                "dataset's regions")

