"""``cisgram predict``: every target of a trained run on new regions, as a parquet table; for a
ChromBPNet run also the base-resolution predicted profile as a bigWig (:func:`predict_bigwig`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_path
from cisgram.results import PredictedTrack
from cisgram.tracks import write_bigwig
from cisgram.workflows.rundir import load

log = logging.getLogger(__name__)
PEAKS_ONLY = ("iq", "baseline")  # families fitted on a dataset's peaks unless the run says otherwise


def fitted_domain(config: dict) -> str | None:
    """The domain a run's model was fitted on: ``config.json``'s ``domain`` (``"peaks"`` or
    ``"peaks+background (ratio r, GC-matched)"``, written by ``cisgram train iq``), else
    ``"peaks"`` for the families that train on peaks only (IQ runs from before the key existed,
    baselines), else None (not recorded)."""
    return config.get("domain") or ("peaks" if config.get("family") in PEAKS_ONLY else None)


def predict_regions(run, regions, out: str | os.PathLike, *, genome=None, bias_free: bool = False) -> pd.DataFrame:
    """Predictions of the run at ``run`` (a directory, :func:`~cisgram.workflows.rundir.load`) for
    ``regions`` (a BED / narrowPeak path; each region recentred to the model's width on ``genome``,
    default the training genome), written to ``out`` as parquet (``region``, then one column per
    target) and returned. ``bias_free`` (ChromBPNet runs only) predicts with the accessibility
    model alone."""
    opened = load(run)
    if bias_free and opened.family != "chrombpnet":
        raise InputError(f"--bias-free applies to chrombpnet runs; this is a {opened.family} run", path=run)
    if fitted_domain(opened.config) == "peaks":
        log.warning("this %s model was fitted on peaks only; predictions on other sequence are outside its domain%s",
                    opened.family.upper(), " (`cisgram train iq --background` adds GC-matched background)"
                    if opened.family == "iq" else "")
    table = opened.predict(regions=regions, genome=genome, **({"bias_free": True} if bias_free else {})).reset_index()
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    return table


def first_cover(chroms: np.ndarray, starts: np.ndarray, width: int, order: dict[str, int]):
    """Which window writes each base when ``width``-bp windows ``[start, start + width)`` overlap:
    the one starting first (leftmost; the earlier given on a tie). Yields ``(chrom, window, lo)``
    in the order of ``order`` (chromosome -> rank, the bigWig header's) and by position: window
    ``window`` writes its bases from ``lo`` (absolute) to its end."""
    idx = np.lexsort((np.arange(len(starts)), starts, np.array([order[c] for c in chroms])))
    covered, last = -1, None
    for i in idx:
        if chroms[i] != last:
            covered, last = -1, chroms[i]
        lo = max(int(starts[i]), covered)
        if lo < starts[i] + width:
            yield str(chroms[i]), int(i), lo
            covered = int(starts[i]) + width


def predict_bigwig(run, regions, out: str | os.PathLike, *, genome=None, bias_free: bool = False,
                   batch_size: int = 256, device: str = "cpu") -> PredictedTrack:
    """A ChromBPNet run's predicted profile over each region's output window, as a bigWig.

    Each region (BED / narrowPeak; narrowPeak centred on its summit) is recentred to the model's
    input width on ``genome`` (default the training genome; windows at a chromosome end are
    shifted inside), and the expected counts per base, ``softmax(profile) × exp(log count)``
    (tracks summed), of its centred output window (``(length - output_len) // 2`` bases into the
    input) are written with :func:`cisgram.tracks.write_bigwig` (atomic; the header is the
    genome's chromosomes). Where windows overlap, each base is written once, from the window
    that starts first (:func:`first_cover`); bases outside every window hold no data.
    ``bias_free`` writes the accessibility model alone (chrombpnet's ``chrombpnet_nobias``)."""
    opened = load(run, family="chrombpnet")
    g = opened.genome(genome)
    windows = opened.windows(regions, g)
    prof = opened.profiles(regions=windows, genome=g, bias_free=bias_free, batch_size=batch_size,
                           device=device).sum(axis=1)
    width = prof.shape[1]
    starts = windows["start"].to_numpy(np.int64) + (opened.model.length - width) // 2
    chroms = windows["chrom"].astype(str).to_numpy()
    parts: dict[str, tuple[list, list]] = {}
    for chrom, i, lo in first_cover(chroms, starts, width, {c: k for k, c in enumerate(g.sizes)}):
        pos, val = parts.setdefault(chrom, ([], []))
        pos.append(np.arange(lo, starts[i] + width, dtype=np.int64))
        val.append(prof[i, lo - starts[i]:])
    entries = ((c, np.concatenate(p), np.concatenate(v)) for c, (p, v) in parts.items())
    n = write_bigwig(out, dict(g.sizes), entries)
    return PredictedTrack(Path(out), len(windows), n, bias_free)
