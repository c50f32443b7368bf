"""``cisgram predict``: every target of a trained run on new regions, as a parquet table."""

from __future__ import annotations

import os

import pandas as pd

from cisgram.files import atomic_path
from cisgram.workflows.rundir import load


def predict_regions(run, regions, out: str | os.PathLike, *, genome=None) -> pd.DataFrame:
    """Predictions of the run at ``run`` (a directory, :func:`~cisgram.workflows.rundir.load`) for
    ``regions`` (a BED / narrowPeak path; each region recentred to the model's width on ``genome``,
    default the training genome), written to ``out`` as parquet (``region``, then one column per
    target) and returned."""
    table = load(run).predict(regions=regions, genome=genome).reset_index()
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    return table
