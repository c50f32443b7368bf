"""``cisgram train baseline``: one simple baseline per target (motif-lasso, 6-mer ridge, GC and
dinucleotides) on the dataset's split, into a run directory; returns a
:class:`~cisgram.results.BaselineResult` (drawn by :func:`cisgram.report.baseline.baseline_report`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cisgram.data.targets import domain_label, peak_rows, training_data
from cisgram.models.baselines import BaselineSet, fit_baseline
from cisgram.motifs.pwm import load_motifs
from cisgram.results import BaselineResult
from cisgram.workflows.rundir import path_entries, write_run


def train_baseline(dataset, targets: Sequence[str], out, *, kind: str, vs: str | None = None,
                   motifs: str = "jaspar:2024/CORE/vertebrates", genome=None, seed: int = 0,
                   background: float = 0.0) -> BaselineResult:
    """One baseline of ``kind`` per target on the same split (penalties chosen on validation
    rows), one run directory. ``background`` > 0 adds that many GC-matched background windows
    per peak at AP 0 (as ``cisgram train iq --background``; refused with ``vs``); the run's
    ``domain`` says what it was fitted on and metrics.json scores the peaks apart."""
    data = training_data(dataset, targets, vs=vs, genome=genome, background=background, seed=seed)
    db = load_motifs(motifs) if kind == "motif-lasso" else None
    models = [fit_baseline(kind, data.codes, data.Y[:, t], data.split == "train", data.split == "val", motifs=db,
                           seed=seed) for t in range(len(data.targets))]
    model = BaselineSet(models, data.targets, length=data.codes.shape[1])
    pred = model.predict(data.codes) if models else np.full(data.Y.shape, np.nan)
    conf = {**path_entries(dataset=dataset, genome=data.genome, motifs=motifs if kind == "motif-lasso" else None),
            "targets": list(targets), "vs": vs, "kind": kind, "seed": seed, "target_params": data.target_params,
            "background": background, "domain": domain_label(background)}
    metrics, preds = write_run(out, "baseline", conf, data, pred, model.save, subsets=peak_rows if background else None)
    return BaselineResult(out, "baseline", {"family": "baseline", **conf}, metrics, preds, kind=kind)
