"""``cisgram predict``: every target of a trained run on new regions, as a parquet table."""

from __future__ import annotations

import logging
import os

import pandas as pd

from cisgram.files import atomic_path
from cisgram.workflows.rundir import load

log = logging.getLogger(__name__)
PEAKS_ONLY = ("iq", "baseline")  # families fitted on a dataset's peaks unless the run says otherwise


def fitted_domain(config: dict) -> str | None:
    """The domain a run's model was fitted on: ``config.json``'s ``domain`` (``"peaks"`` or
    ``"peaks+background (ratio r, GC-matched)"``, written by ``cisgram train iq``), else
    ``"peaks"`` for the families that train on peaks only (IQ runs from before the key existed,
    baselines), else None (not recorded)."""
    return config.get("domain") or ("peaks" if config.get("family") in PEAKS_ONLY else None)


def predict_regions(run, regions, out: str | os.PathLike, *, genome=None) -> pd.DataFrame:
    """Predictions of the run at ``run`` (a directory, :func:`~cisgram.workflows.rundir.load`) for
    ``regions`` (a BED / narrowPeak path; each region recentred to the model's width on ``genome``,
    default the training genome), written to ``out`` as parquet (``region``, then one column per
    target) and returned."""
    opened = load(run)
    if fitted_domain(opened.config) == "peaks":
        log.warning("this %s model was fitted on peaks only; predictions on other sequence are outside its domain%s",
                    opened.family.upper(), " (`cisgram train iq --background` adds GC-matched background)"
                    if opened.family == "iq" else "")
    table = opened.predict(regions=regions, genome=genome).reset_index()
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    return table
