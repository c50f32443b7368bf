"""TODO docstring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cisgram.data.targets import training_data
from cisgram.files import write_json
from cisgram.workflows.rundir import write_run


def train_baseline(dataset, targets: Sequence[str], out, *, kind: str, vs: str | None = None,
                   motifs: str = "jaspar:2024/CORE/vertebrates", genome=None, seed: int = 0) -> dict:
    """``cisgram train baseline``: one baseline per target on the same split, one run directory."""
    from cisgram.models.baselines import fit_baseline
    from cisgram.motifs.pwm import load_motifs
    from cisgram.report.baseline import baseline_report

    data = training_data(dataset, targets, vs=vs, genome=genome)
    db = load_motifs(motifs) if kind == "motif-lasso" else None
    models, pred = [], np.full(data.Y.shape, np.nan)
    for t in range(len(data.targets)):
        m = fit_baseline(kind, data.codes, data.Y[:, t], data.split == "train", data.split == "val", motifs=db, seed=seed)
        models.append(m)
        pred[:, t] = m.predict(data.codes)

    def save(d: Path) -> None:
        for name, m in zip(data.targets, models, strict=True):
            m.save(d / "targets" / name)
        write_json(d / "model.json", {"family": "baseline", "kind": kind, "targets": data.targets})

    conf = {"dataset": str(dataset), "targets": list(targets), "vs": vs, "kind": kind, "seed": seed, "genome": data.genome,
            "motifs": motifs if kind == "motif-lasso" else None, "target_params": data.target_params}
    return write_run(out, "baseline", conf, data, pred, save,
                     lambda path, preds, metrics: baseline_report(path, kind, preds, metrics))
